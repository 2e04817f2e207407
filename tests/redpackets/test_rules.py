"""Shop red packets (SPEC §1): R1–R8 at their boundaries, through the services and sweeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from xiaodian import scheduler
from xiaodian.errors import Conflict, InsufficientFunds, NotFound, ValidationFailed
from xiaodian.ledger.models import Account
from xiaodian.notify.models import BuyerMessage, Event
from xiaodian.orders import service as orders
from xiaodian.redpackets import service
from xiaodian.redpackets import sweeps as rules
from xiaodian.redpackets.models import PacketStatus, RedPacketSpend

from ..conftest import START
from .conftest import World

DAY = 86_400
SWEEPS = rules.SWEEPS


def tick(world: World) -> dict[str, dict[str, int]]:
    return scheduler.run_tick(world.rt, sweeps=SWEEPS).counts


def events(world: World, type_: str) -> list[Event]:
    with world.rt.unit() as ctx:
        return list(
            ctx.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id))
        )


def inbox(world: World, buyer_id: int, kind: str | None = None) -> list[BuyerMessage]:
    with world.rt.unit() as ctx:
        query = select(BuyerMessage).where(BuyerMessage.buyer_id == buyer_id)
        if kind:
            query = query.where(BuyerMessage.kind == kind)
        return list(ctx.session.scalars(query.order_by(BuyerMessage.id)))


# ----- R1 / R2 issuance --------------------------------------------------------------------


def test_R1_issue_debits_balance_and_defaults_to_3_days(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 30_00)
    packet = world.packet(pid)
    assert packet.buyer_id == buyer_id
    assert packet.remaining_fen == 30_00
    assert packet.expires_at == START + timedelta(days=3)
    assert packet.validity_seconds == 3 * DAY
    b = world.balances()
    assert b[Account.BALANCE] == 70_00 and b[Account.REDPACKET_FLOAT] == 30_00
    assert [e.rule for e in events(world, "redpacket.issued")] == ["R1"]
    assert "店铺红包" in inbox(world, buyer_id)[0].title
    assert world.audit() == []


def test_R2_validity_chosen_at_issuance(world: World) -> None:
    world.fund(100_00)
    _, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00, validity_seconds=3600)
    assert world.packet(pid).expires_at == START + timedelta(hours=1)
    with pytest.raises(ValidationFailed) as exc, world.rt.unit() as ctx:
        service.issue(
            ctx, world.shop_id, buyer_douyin_ids=[dy], amount_fen=100, validity_seconds=31 * DAY
        )
    assert exc.value.errors[0]["field"] == "validity_seconds"


def test_R1_batch_per_row_results_unknown_and_duplicate_rows_not_issued(world: World) -> None:
    world.fund(100_00)
    _, a, _ = world.buyer()
    _, b, _ = world.buyer()
    with world.rt.unit() as ctx:
        result = service.issue(
            ctx, world.shop_id, buyer_douyin_ids=[a, "nobody", b, a], amount_fen=10_00
        )
        rows = [(r.row, r.ok, r.code) for r in result.rows]
    assert rows == [
        (1, True, ""),
        (2, False, "unknown_buyer"),
        (3, True, ""),
        (4, False, "duplicate_buyer"),
    ]
    assert world.balances()[Account.BALANCE] == 80_00


def test_R1_insufficient_balance_refuses_whole_batch_stating_numbers(world: World) -> None:
    world.fund(25_00)
    ids = [world.buyer()[1] for _ in range(3)]
    with pytest.raises(InsufficientFunds) as exc, world.rt.unit() as ctx:
        service.issue(ctx, world.shop_id, buyer_douyin_ids=ids, amount_fen=10_00)
    assert exc.value.code == "insufficient_balance"
    assert "¥30.00" in exc.value.message_zh and "¥25.00" in exc.value.message_zh
    assert "3 个红包" in exc.value.message_zh
    assert world.balances()[Account.BALANCE] == 25_00
    assert world.balances()[Account.REDPACKET_FLOAT] == 0


def test_R1_all_rows_unknown_is_refused(world: World) -> None:
    world.fund(25_00)
    with pytest.raises(ValidationFailed) as exc, world.rt.unit() as ctx:
        service.issue(ctx, world.shop_id, buyer_douyin_ids=["x1", "x2"], amount_fen=100)
    assert exc.value.code == "no_valid_buyers" and len(exc.value.errors) == 2


def test_R1_request_id_replay_issues_once(world: World) -> None:
    world.fund(100_00)
    _, dy, _ = world.buyer()
    first = world.issue([dy], 10_00, request_id="erp-1")
    second = world.issue([dy], 10_00, request_id="erp-1")
    assert first == second
    assert world.balances()[Account.BALANCE] == 90_00


def test_R1_csv_upload_parsing() -> None:
    content = "抖音号\r\ndy_a\r\n\r\ndy_b,extra\r\n".encode("utf-8-sig")
    assert service.parse_buyer_file(content) == ["dy_a", "dy_b"]
    assert service.parse_buyer_file("dy_中文".encode("gbk")) == ["dy_中文"]
    assert service.split_ids("a, b\nc,d") == ["a", "b", "c", "d"]


# ----- R3 spending -------------------------------------------------------------------------


def test_R3_spend_at_last_second_of_validity_vs_first_second_after(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=1_00)
    end = START + timedelta(days=3)
    world.rt.clock.set(end - timedelta(seconds=1))  # type: ignore[attr-defined]
    world.checkout(buyer_id, product, pid, 1_00)
    assert world.packet(pid).remaining_fen == 9_00
    world.rt.clock.set(end)  # type: ignore[attr-defined]
    with pytest.raises(Conflict) as exc:
        world.checkout(buyer_id, product, pid, 1_00)
    assert exc.value.code == "redpacket_expired" and exc.value.rule == "R4"
    assert world.packet(pid).remaining_fen == 9_00


def test_R3_partial_spend_escrow_holds_whole_order_and_never_below_zero(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=59_00)
    order_id = world.checkout(buyer_id, product, pid, 6_00)
    with world.rt.unit() as ctx:
        order = orders.get_order(ctx.session, world.shop_id, order_id)
        assert (order.goods_fen, order.discount_fen, order.paid_fen) == (59_00, 6_00, 53_00)
    b = world.balances()
    assert b[Account.ORDER_ESCROW] == 59_00
    assert b[Account.REDPACKET_FLOAT] == 4_00
    with pytest.raises(Conflict) as exc:
        world.checkout(buyer_id, product, pid, 4_01)
    assert exc.value.code == "redpacket_insufficient"
    # Default amount: all that remains.
    world.checkout(buyer_id, product, pid)
    packet = world.packet(pid)
    assert (packet.remaining_fen, packet.spent_fen) == (0, 10_00)
    with pytest.raises(Conflict):
        world.checkout(buyer_id, product, pid, 1)
    assert world.audit() == []


def test_R3_discount_never_above_goods(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=3_00)
    with pytest.raises(ValidationFailed):
        world.checkout(buyer_id, product, pid, 5_00)
    world.checkout(buyer_id, product, pid)  # default: min(remaining, goods)
    assert world.packet(pid).remaining_fen == 7_00


def test_R3_not_another_buyers_nor_another_shops_packet(world: World, make_shop: object) -> None:
    world.fund(100_00)
    _, dy, _ = world.buyer()
    thief_id, _, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=5_00)
    with pytest.raises(NotFound):
        world.checkout(thief_id, product, pid, 1_00)
    other = World(world.rt, make_shop("别的店").shop_id)  # type: ignore[operator]
    other_product = other.product(price_fen=5_00)
    owner_id = world.packet(pid).buyer_id
    with pytest.raises(NotFound):
        other.checkout(owner_id, other_product, pid, 1_00)
    assert world.packet(pid).remaining_fen == 10_00


def test_R3_refund_gives_back_proportionally_to_packet_while_valid(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=59_00)
    order_id = world.checkout(buyer_id, product, pid, 10_00)  # pays 49.00
    with world.rt.unit() as ctx:
        orders.refund(ctx, world.shop_id, order_id, 16_33, "部分退款", "A6")
    # floor(1000 * 1633 / 4900) = 333
    assert world.packet(pid).remaining_fen == 3_33
    with world.rt.unit() as ctx:
        orders.refund(ctx, world.shop_id, order_id, 49_00 - 16_33, "余款", "A6")
    packet = world.packet(pid)
    assert (packet.remaining_fen, packet.spent_fen) == (10_00, 0)
    assert [e.payload["returned_to"] for e in events(world, "redpacket.returned")] == [
        "packet",
        "packet",
    ]
    assert world.balances()[Account.ORDER_ESCROW] == 0
    assert world.audit() == []


def test_R3_refund_after_expiry_goes_to_merchant_balance(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=20_00)
    order_id = world.checkout(buyer_id, product, pid, 4_00)
    world.rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    tick(world)
    with world.rt.unit() as ctx:
        orders.refund(ctx, world.shop_id, order_id, 16_00, "全额退款", "A6")
    packet = world.packet(pid)
    assert packet.status == PacketStatus.EXPIRED
    assert (packet.remaining_fen, packet.spent_fen, packet.returned_to_balance_fen) == (
        6_00,
        0,
        4_00,
    )
    assert world.balances()[Account.BALANCE] == 90_00 + 4_00
    assert world.audit() == []


def test_R3_order_closed_unpaid_gives_packet_amount_back(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00, validity_seconds=30 * DAY)
    product = world.product(price_fen=20_00)
    world.checkout(buyer_id, product, pid, 5_00, pay=False)
    # O5 closes the unpaid order after 150 days; by then the packet has ended → balance.
    world.rt.clock.advance(150 * DAY)  # type: ignore[attr-defined]
    from xiaodian.orders import sweeps as order_rules

    scheduler.run_tick(world.rt, sweeps=[*order_rules.SWEEPS, *SWEEPS])
    packet = world.packet(pid)
    assert packet.spent_fen == 0 and packet.returned_to_balance_fen == 5_00
    assert world.balances()[Account.ORDER_ESCROW] == 0
    assert world.audit() == []


def test_R3_order_closed_within_validity_gives_back_to_packet(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=8_00)
    order_id = world.checkout(buyer_id, product, pid, 8_00, pay=False)
    with world.rt.unit() as ctx:
        service.on_order_closed(ctx, world.shop_id, {"order_id": order_id})
    assert world.packet(pid).remaining_fen == 10_00
    assert world.audit() == []


def test_R3_completed_order_keeps_packet_part_as_merchant_revenue_in_escrow(
    world: World,
) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=30_00)
    order_id = world.checkout(buyer_id, product, pid, 10_00)
    with world.rt.unit() as ctx:
        orders.ship_order(
            ctx, world.shop_id, order_id, carrier="顺丰", tracking_no="SF1234567890123"
        )
    with world.rt.unit() as ctx:
        orders.confirm_receipt(ctx, buyer_id, order_id)
    with world.rt.unit() as ctx:
        spend = ctx.session.scalars(select(RedPacketSpend)).one()
        assert spend.completed_at is not None
    assert world.balances()[Account.ORDER_ESCROW] == 30_00
    assert [e.rule for e in events(world, "redpacket.order_completed")] == ["R3"]


# ----- R4 expiry ---------------------------------------------------------------------------


def test_R4_expires_by_sweep_at_the_end_instant(world: World) -> None:
    world.fund(100_00)
    _, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    end = START + timedelta(days=3)
    with world.rt.unit() as ctx:
        assert rules.next_expiry_due(ctx.session, ctx.now) == end
    world.rt.clock.set(end - timedelta(seconds=1))  # type: ignore[attr-defined]
    assert tick(world)["redpackets.expire"] == {"expired": 0}
    world.rt.clock.set(end)  # type: ignore[attr-defined]
    assert tick(world)["redpackets.expire"] == {"expired": 1}
    assert tick(world)["redpackets.expire"] == {"expired": 0}
    packet = world.packet(pid)
    assert packet.status == PacketStatus.EXPIRED and packet.expired_at == end
    assert [e.rule for e in events(world, "redpacket.expired")] == ["R4"]
    with world.rt.unit() as ctx:
        assert rules.next_expiry_due(ctx.session, ctx.now) is None


def test_R4_simulated_advance_steps_to_the_expiry(world: World) -> None:
    world.fund(100_00)
    _, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00, validity_seconds=5_000)
    scheduler.advance(world.rt, 10 * DAY, sweeps=SWEEPS)
    assert world.packet(pid).expired_at == START + timedelta(seconds=5_000)


# ----- R5 reclaim --------------------------------------------------------------------------


def test_R5_reclaim_twice_credits_once(world: World) -> None:
    world.fund(100_00)
    _, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    with pytest.raises(Conflict) as exc, world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, pid)
    assert exc.value.code == "not_expired"
    world.rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    tick(world)
    with world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, pid)
    assert world.balances()[Account.BALANCE] == 100_00
    with pytest.raises(Conflict) as exc, world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, pid)
    assert exc.value.code == "already_reclaimed"
    assert world.balances()[Account.BALANCE] == 100_00
    assert world.packet(pid).status == PacketStatus.RECLAIMED
    assert [e.rule for e in events(world, "redpacket.reclaimed")] == ["R5"]
    assert world.audit() == []


def test_R5_reclaim_past_end_before_the_sweep_ran(world: World) -> None:
    world.fund(100_00)
    _, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    world.rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    with world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, pid)
    assert world.packet(pid).reclaimed_fen == 10_00
    assert tick(world)["redpackets.expire"] == {"expired": 0}


def test_R5_bulk_reclaim_per_item_results(world: World) -> None:
    world.fund(100_00)
    ids = world.issue([world.buyer()[1] for _ in range(2)], 10_00)
    world.rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    with world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, ids[0])
    with world.rt.unit() as ctx:
        results = service.reclaim_many(ctx, world.shop_id, [*ids, 999_999])
    assert [(r.redpacket_id, r.code) for r in results] == [
        (ids[0], "already_reclaimed"),
        (ids[1], "ok"),
        (999_999, "not_found"),
    ]
    assert world.balances()[Account.BALANCE] == 100_00
    assert world.audit() == []


# ----- R6 extension ------------------------------------------------------------------------


def test_R6_extension_of_exactly_the_original_length_vs_one_second_more(world: World) -> None:
    world.fund(100_00)
    ids = world.issue([world.buyer()[1] for _ in range(2)], 10_00)
    with pytest.raises(ValidationFailed) as exc, world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, ids[0], 3 * DAY + 1)
    assert exc.value.code == "extension_too_long" and "3天" in exc.value.message_zh
    world.rt.clock.advance(2 * DAY)  # type: ignore[attr-defined]  # 24 h left: 即将过期
    with world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, ids[1], 2 * DAY)  # 24 h + 2 d = the original 3 d
    # About to expire: the new end is the old end + the extension.
    assert world.packet(ids[1]).expires_at == START + timedelta(days=5)


def test_R6_remaining_exactly_10_percent_vs_one_fen_less(world: World) -> None:
    world.fund(300_00)
    buyer_a, dy_a, _ = world.buyer()
    buyer_b, dy_b, _ = world.buyer()
    [pa] = world.issue([dy_a], 100_00)
    [pb] = world.issue([dy_b], 100_00)
    product = world.product(price_fen=100_00)
    world.checkout(buyer_a, product, pa, 90_00)  # 10.00 left: exactly 10%
    world.checkout(buyer_b, product, pb, 90_01)  # 9.99 left
    world.rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    tick(world)
    with world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, pa, DAY)
    with pytest.raises(Conflict) as exc, world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, pb, DAY)
    assert exc.value.code == "remaining_too_low"
    assert exc.value.message_zh == "剩余金额 ¥9.99 低于原金额 ¥100.00 的 10%（¥10.00），不能延长"


def test_R6_expired_packet_becomes_valid_from_now_once_and_buyer_is_notified(
    world: World,
) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    world.rt.clock.advance(5 * DAY)  # type: ignore[attr-defined]
    tick(world)
    assert world.packet(pid).status == PacketStatus.EXPIRED
    with world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, pid, DAY)
    packet = world.packet(pid)
    assert packet.status == PacketStatus.ACTIVE
    assert packet.expires_at == START + timedelta(days=6)
    messages = [m for m in inbox(world, buyer_id) if m.rule == "R6"]
    assert len(messages) == 1 and "延长" in messages[0].title
    assert [e.payload["buyer_notified"] for e in events(world, "redpacket.extended")] == [True]
    # Spendable again.
    world.checkout(buyer_id, world.product(price_fen=1_00), pid, 1_00)
    # R6 with a limit set (XIAODIAN_REDPACKETS__MAX_EXTENSIONS=1): once per packet.
    world.rt.settings.redpackets.max_extensions = 1
    with pytest.raises(Conflict) as exc, world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, pid, DAY)
    assert exc.value.code == "extension_limit"


def test_R6_reclaimed_packet_cannot_be_extended(world: World) -> None:
    world.fund(100_00)
    [pid] = world.issue([world.buyer()[1]], 10_00)
    world.rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    with world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, pid)
    with pytest.raises(Conflict) as exc, world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, pid, DAY)
    assert exc.value.code == "already_reclaimed"


# ----- R7 reminders ------------------------------------------------------------------------


def test_R7_reminder_sent_once_and_again_after_extension(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    due = START + timedelta(days=2)  # 24 h before the end
    world.rt.clock.set(due - timedelta(seconds=1))  # type: ignore[attr-defined]
    assert tick(world)["redpackets.remind"] == {"reminded": 0}
    with world.rt.unit() as ctx:
        assert rules.next_remind_due(ctx.session, ctx.now) == due
    world.rt.clock.set(due)  # type: ignore[attr-defined]
    assert tick(world)["redpackets.remind"] == {"reminded": 1}
    world.rt.clock.advance(3600)  # type: ignore[attr-defined]
    assert tick(world)["redpackets.remind"] == {"reminded": 0}
    assert len(inbox(world, buyer_id, "reminder")) == 1
    with world.rt.unit() as ctx:
        assert rules.next_remind_due(ctx.session, ctx.now) is None
        service.extend(ctx, world.shop_id, pid, 2 * DAY)  # new end: START + 5 days
    world.rt.clock.set(START + timedelta(days=4))  # type: ignore[attr-defined]
    assert tick(world)["redpackets.remind"] == {"reminded": 1}
    assert tick(world)["redpackets.remind"] == {"reminded": 0}
    reminders = inbox(world, buyer_id, "reminder")
    assert len(reminders) == 2 and all(m.rule == "R7" for m in reminders)


def test_R7_lead_time_configurable_per_shop(world: World) -> None:
    world.fund(100_00)
    _buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    with world.rt.unit() as ctx:
        service.set_remind_lead_hours(ctx, world.shop_id, 6)
    assert world.packet(pid).remind_at == START + timedelta(days=3, hours=-6)
    world.rt.clock.set(START + timedelta(days=2))  # type: ignore[attr-defined]
    assert tick(world)["redpackets.remind"] == {"reminded": 0}
    world.rt.clock.set(START + timedelta(days=3, hours=-6))  # type: ignore[attr-defined]
    assert tick(world)["redpackets.remind"] == {"reminded": 1}
    with pytest.raises(ValidationFailed), world.rt.unit() as ctx:
        service.set_remind_lead_hours(ctx, world.shop_id, 0)


def test_R7_used_up_or_expired_packets_are_not_reminded(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    world.checkout(buyer_id, world.product(price_fen=10_00), pid, 10_00)
    world.rt.clock.set(START + timedelta(days=2, hours=1))  # type: ignore[attr-defined]
    assert tick(world)["redpackets.remind"] == {"reminded": 0}
    with world.rt.unit() as ctx:
        assert rules.next_remind_due(ctx.session, ctx.now) is None


# ----- R8 oversight ------------------------------------------------------------------------


def test_R8_list_filters_and_totals_by_status(world: World) -> None:
    world.fund(1_000_00)
    buyers = [world.buyer() for _ in range(5)]
    product = world.product(price_fen=10_00)
    valid, expiring, expired, reclaimed, used_up = (
        world.issue([b[1]], 10_00, validity_seconds=v)[0]
        for b, v in zip(buyers, [30 * DAY, 3 * DAY, DAY, DAY, 3 * DAY], strict=True)
    )
    world.checkout(buyers[4][0], product, used_up, 10_00)
    world.rt.clock.advance(2 * DAY)  # type: ignore[attr-defined]
    tick(world)
    with world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, reclaimed)
        settings, now = ctx.settings, ctx.now
        shown = {
            status: [
                r.packet.id
                for r in service.list_packets(
                    ctx.session, world.shop_id, now, settings, status=status
                )
            ]
            for status in ("valid", "expiring", "expired", "reclaimed", "used_up")
        }
        totals = service.totals(ctx.session, world.shop_id, now, settings)
    assert shown == {
        "valid": [valid],
        "expiring": [expiring],
        "expired": [expired],
        "reclaimed": [reclaimed],
        "used_up": [used_up],
    }
    assert totals.count == 5 and totals.issued_fen == 50_00 and totals.spent_fen == 10_00
    assert totals.usage_label == "20.0%"
    assert {t.status: t.count for t in totals.by_status} == dict.fromkeys(shown, 1)
    with pytest.raises(ValidationFailed), world.rt.unit() as ctx:
        service.list_packets(ctx.session, world.shop_id, ctx.now, ctx.settings, status="bogus")


def test_R8_usage_rate_over_time(world: World) -> None:
    world.fund(1_000_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 40_00)
    world.rt.clock.advance(DAY)  # type: ignore[attr-defined]
    world.checkout(buyer_id, world.product(price_fen=10_00), pid, 10_00)
    with world.rt.unit() as ctx:
        points = service.usage_series(ctx.session, world.shop_id, ctx.now, ctx.settings, days=3)
    assert [(p.issued_fen, p.spent_fen, p.permille) for p in points] == [
        (0, 0, 0),
        (40_00, 0, 0),
        (40_00, 10_00, 250),
    ]


def test_R6_only_expired_or_about_to_expire_packets_can_be_extended(world: World) -> None:
    """R6: a packet ending later than the 即将过期 window (24 h) is refused; at the window's
    first instant it is extendable."""
    world.fund(100_00)
    ids = world.issue([world.buyer()[1] for _ in range(2)], 10_00)
    end = START + timedelta(days=3)
    world.rt.clock.set(end - timedelta(hours=24, seconds=1))  # type: ignore[attr-defined]
    with pytest.raises(Conflict) as exc, world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, ids[0], DAY)
    assert exc.value.code == "not_expiring_yet" and "24 小时内即将过期" in exc.value.message_zh
    assert world.packet(ids[0]).extension_count == 0
    world.rt.clock.set(end - timedelta(hours=24))  # type: ignore[attr-defined]
    with world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, ids[1], DAY)
    assert world.packet(ids[1]).expires_at == end + timedelta(days=1)


def test_R4_R5_R6_expiry_is_recorded_before_a_reclaim_or_extension_that_beats_the_sweep(
    world: World,
) -> None:
    """At the end instant, before any tick: reclaiming (R5) or extending (R6) first records the
    expiry (R4) — event and notice once — and the sweep then finds nothing more to expire."""
    world.fund(100_00)
    ids = world.issue([world.buyer()[1] for _ in range(2)], 10_00)
    world.rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]  # no tick has run
    with world.rt.unit() as ctx:
        service.reclaim(ctx, world.shop_id, ids[0])
    with world.rt.unit() as ctx:
        service.extend(ctx, world.shop_id, ids[1], DAY)
    expired = [e.payload["redpacket_id"] for e in events(world, "redpacket.expired")]
    assert expired == ids
    with world.rt.unit() as ctx:
        kinds = [
            (e.type, e.payload.get("redpacket_id"))
            for e in ctx.session.scalars(
                select(Event).where(Event.type.startswith("redpacket.")).order_by(Event.id)
            )
        ]
    assert kinds[-4:] == [
        ("redpacket.expired", ids[0]),
        ("redpacket.reclaimed", ids[0]),
        ("redpacket.expired", ids[1]),
        ("redpacket.extended", ids[1]),
    ]
    assert tick(world)["redpackets.expire"] == {"expired": 0}
    assert world.packet(ids[1]).status == PacketStatus.ACTIVE
    assert world.balances()[Account.BALANCE] == 90_00
    assert world.audit() == []

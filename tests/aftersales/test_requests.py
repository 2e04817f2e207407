"""A1 apply (amount ≤ paid for the items), A3 48 h default refund and workbench search and
batch, A4 rejection needs reason + evidence, A5 withdraw/modify, A6 refunds by route."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.aftersales.conftest import PDF, World, png_bytes
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.service import ItemQty, RequestFilter
from xiaodian.aftersales.sweeps import default_refund, next_default_refund
from xiaodian.errors import Conflict, ValidationFailed, XiaodianError
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.orders.models import Order, OrderRefund, OrderViolation, PaymentFault
from xiaodian.orders.sweeps import judge_late_shipments
from xiaodian.runtime import Runtime


def test_A1_amount_above_paid_for_items_is_refused_with_maximum(world: World, shop: Any) -> None:
    cup, pot = world.product(shop.shop_id, 3_000), world.product(shop.shop_id, 7_000)
    order = world.order(shop.shop_id, [(cup, 1), (pot, 1)], discount_fen=1_000)  # paid 9,000
    (cup_item, _), (_pot_item, _) = world.items(shop.shop_id, order)
    # The cup's share of what was paid: 9,000 × 3,000 / 10,000 = 2,700.
    with pytest.raises(ValidationFailed) as err:
        world.apply(shop.shop_id, order, 2_701, items=[(cup_item, 1)])
    (problem,) = err.value.errors
    assert problem["field"] == "amount_fen" and problem["max_fen"] == 2_700
    assert "¥27.00" in problem["message_zh"]
    assert world.apply(shop.shop_id, order, 2_700, items=[(cup_item, 1)]).status == "pending"


def test_A1_whole_order_max_is_everything_paid_and_one_open_request(
    world: World, shop: Any
) -> None:
    pid = world.product(shop.shop_id, 3_333)
    order = world.order(shop.shop_id, [(pid, 3)], discount_fen=1)
    with pytest.raises(ValidationFailed):
        world.apply(shop.shop_id, order, 9_999 + 1)
    world.apply(shop.shop_id, order, 9_998)
    with pytest.raises(Conflict) as err:
        world.apply(shop.shop_id, order, 100)
    assert err.value.code == "aftersale_in_progress"


def test_A1_kind_must_match_shipping_and_reason_from_list(world: World, shop: Any) -> None:
    pid = world.product(shop.shop_id)
    unshipped = world.order(shop.shop_id, [(pid, 1)], ship=False)
    with pytest.raises(Conflict):
        world.apply(shop.shop_id, unshipped, 100, kind="shipped_refund")
    with pytest.raises(ValidationFailed) as err:
        world.apply(shop.shop_id, unshipped, 100, kind="unshipped_refund", reason="made_up")
    assert err.value.errors[0]["field"] == "reason"
    with pytest.raises(ValidationFailed) as err:
        world.apply(
            shop.shop_id,
            world.order(shop.shop_id, [(pid, 1)]),
            100,
            kind="return_refund",
            reason="damaged",
        )
    assert err.value.errors[0]["field"] == "images"


def test_A6_unshipped_refund_stops_late_shipment_judgment(
    world: World, shop: Any, rt: Runtime
) -> None:
    """A6 × O6/O7: the late-shipment sweep runs past the ship-by time — the order whose
    refund-only request was agreed (one of two items) is not judged, while a control order and
    an order whose request is still pending (not agreed) are; 24 h later the same again (O7)."""
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 2)], ship=False)
    control = world.order(shop.shop_id, [(pid, 2)], ship=False)
    pending = world.order(shop.shop_id, [(pid, 2)], ship=False)
    ((item, _),) = world.items(shop.shop_id, order)
    req = world.apply(shop.shop_id, order, 5_000, kind="unshipped_refund", items=[(item, 1)])
    ((pending_item, _),) = world.items(shop.shop_id, pending)
    world.apply(shop.shop_id, pending, 100, kind="unshipped_refund", items=[(pending_item, 1)])
    with rt.unit("user:1") as ctx:
        aftersales.agree(ctx, shop.shop_id, req.id)
    with rt.unit() as ctx:
        o = orders.get_order(ctx.session, shop.shop_id, order)
        assert o.next_judge_at is None and o.refund_agreed_at is not None
        assert o.refunded_fen == 5_000 and o.after_sale == "partially_refunded"
        assert o.status == "awaiting_shipment"  # half of it still to ship
        ship_by = orders.get_order(ctx.session, shop.shop_id, control).ship_by
        assert ship_by is not None
    assert world.request(shop.shop_id, req.id).status == "refunded"

    def judged() -> dict[int, list[int]]:
        with rt.unit() as ctx:
            rows = ctx.session.scalars(select(OrderViolation).order_by(OrderViolation.id))
            found: dict[int, list[int]] = {}
            for v in rows:
                found.setdefault(v.order_id, []).append(v.seq)
            return found

    rt.clock.set(ship_by - timedelta(seconds=1))  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert judge_late_shipments(ctx)["judged"] == 0
    rt.clock.set(ship_by)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert judge_late_shipments(ctx)["judged"] == 2
    with rt.unit() as ctx:
        assert judge_late_shipments(ctx)["judged"] == 0  # idempotent at the same instant
    assert judged() == {control: [1], pending: [1]}
    rt.clock.advance(24 * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert judge_late_shipments(ctx)["judged"] == 2
    assert judged() == {control: [1, 2], pending: [1, 2]}
    assert order not in judged()


def test_A6_refund_falls_back_to_platform_balance(world: World, shop: Any, rt: Runtime) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)], route="alipay")
    req = world.apply(shop.shop_id, order, 5_000)
    with rt.unit() as ctx:
        ctx.session.add(PaymentFault(route="alipay", operation="refund", reason="通道维护"))
    with rt.unit("user:1") as ctx:
        aftersales.agree(ctx, shop.shop_id, req.id)
    with rt.unit() as ctx:
        refund = ctx.session.scalars(select(OrderRefund)).one()
        assert refund.fell_back and refund.route == "platform_balance"
        assert ledger.balance(ctx.session, shop.shop_id, Account.BUYER_PLATFORM_BALANCE) == 5_000
        assert ledger.audit(ctx.session) == []


def test_A3_default_refund_at_48h_exactly_not_before(world: World, shop: Any, rt: Runtime) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 5_000)
    applied = rt.clock.now()
    with rt.unit() as ctx:
        assert next_default_refund(ctx.session, applied) == applied + timedelta(hours=48)
    rt.clock.set(applied + timedelta(hours=48) - timedelta(seconds=1))  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert default_refund(ctx) == {"refunded": 0, "failed": 0}
    assert world.request(shop.shop_id, req.id).status == "pending"
    rt.clock.set(applied + timedelta(hours=48))  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert default_refund(ctx) == {"refunded": 1, "failed": 0}
    with rt.unit() as ctx:
        assert default_refund(ctx) == {"refunded": 0, "failed": 0}  # idempotent
        assert next_default_refund(ctx.session, rt.clock.now()) is None
    done = world.request(shop.shop_id, req.id)
    assert done.status == "refunded" and done.decided_rule == "A3"
    assert ("agreed", "A3", None) in world.history(shop.shop_id, req.id)
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 0


def test_A3_merchant_action_before_deadline_prevents_default(
    world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 5_000)
    with rt.unit("user:1") as ctx:
        aftersales.agree_on_refusal(ctx, shop.shop_id, req.id, rule="A2.4")
    rt.clock.advance(49 * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert default_refund(ctx) == {"refunded": 0, "failed": 0}
    assert world.request(shop.shop_id, req.id).status == "agreed_on_refusal"


def test_A3_workbench_search_by_order_name_phone_apply_date(
    world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    a = world.order(shop.shop_id, [(pid, 1)], name="李雷", phone="13911112222")
    b = world.order(shop.shop_id, [(pid, 1)], name="韩梅梅", phone="13733334444")
    req_a = world.apply(shop.shop_id, a, 100)
    # 2026-11-02 10:00 Shanghai → +15 h is 01:00 on 11-03 (Shanghai), still 11-02 in UTC.
    rt.clock.advance(15 * 3600)  # type: ignore[attr-defined]
    req_b = world.apply(shop.shop_id, b, 100)
    with rt.unit() as ctx:
        s = ctx.session
        order_a = s.get(Order, a)
        assert order_a is not None

        def ids(**kw: Any) -> list[int]:
            return [r.id for r, _ in aftersales.list_requests(s, shop.shop_id, RequestFilter(**kw))]

        assert ids(order_no=order_a.order_no) == [req_a.id]
        assert ids(buyer_name="韩") == [req_b.id]
        assert ids(buyer_phone="13911112222") == [req_a.id]
        assert ids(buyer_phone="4444") == [req_b.id]
        assert ids(apply_date=date(2026, 11, 2)) == [req_a.id]
        assert ids(apply_date=date(2026, 11, 3)) == [req_b.id]
        assert ids(kind="shipped_refund", status="pending") == [req_b.id, req_a.id]


def test_A3_batch_agree_per_item_results(world: World, shop: Any, rt: Runtime) -> None:
    pid = world.product(shop.shop_id)
    reqs = [
        world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000) for _ in range(3)
    ]
    with rt.unit("user:1") as ctx:
        aftersales.agree(ctx, shop.shop_id, reqs[1].id)
    with rt.unit("user:1") as ctx:
        results = aftersales.batch(ctx, shop.shop_id, [r.id for r in reqs] + [999_999], "agree")
    assert [(r.ok, r.status, r.code) for r in results] == [
        (True, "refunded", None),
        (False, None, "aftersale_wrong_state"),
        (True, "refunded", None),
        (False, None, "not_found"),
    ]
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 3 * 5_000 - 3 * 1_000


def test_A4_reject_without_reason_or_evidence_refused(world: World, shop: Any, rt: Runtime) -> None:
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000)
    with rt.unit("user:1") as ctx, pytest.raises(ValidationFailed) as err:
        aftersales.reject(ctx, shop.shop_id, req.id, reason="", evidence_ids=[])
    assert err.value.rule == "A4"
    with rt.unit("user:1") as ctx, pytest.raises(ValidationFailed) as err:
        aftersales.reject(ctx, shop.shop_id, req.id, reason="fresh_food", evidence_ids=[])
    assert "生鲜" in err.value.errors[0]["message_zh"]
    # 定制 needs two files; one is not enough.
    with rt.unit("user:1") as ctx:
        one = aftersales.merchant_upload(ctx, shop.shop_id, req.id, "chat.png", png_bytes()).id
    with rt.unit("user:1") as ctx, pytest.raises(ValidationFailed):
        aftersales.reject(ctx, shop.shop_id, req.id, reason="customized", evidence_ids=[one])
    with rt.unit("user:1") as ctx:
        two = aftersales.merchant_upload(ctx, shop.shop_id, req.id, "order.pdf", PDF).id
    with rt.unit("user:1") as ctx:
        aftersales.reject(ctx, shop.shop_id, req.id, reason="customized", evidence_ids=[one, two])
    done = world.request(shop.shop_id, req.id)
    assert done.status == "rejected" and done.reject_reason == "customized"
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 5_000


def test_A4_evidence_type_checked_by_content_and_size(world: World, shop: Any, rt: Runtime) -> None:
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000)
    for name, data, code in (
        ("fake.png", b"GIF89a not an image", "evidence_bad_type"),
        ("fake.pdf", b"%PDF-1.4 truncated", "evidence_bad_type"),
        ("huge.png", b"\x89PNG" + b"0" * (5 * 1024 * 1024), "evidence_too_large"),
        ("empty.png", b"", "evidence_empty"),
    ):
        with rt.unit("user:1") as ctx, pytest.raises(ValidationFailed) as err:
            aftersales.merchant_upload(ctx, shop.shop_id, req.id, name, data)
        assert err.value.code == code
    with rt.unit("user:1") as ctx:
        ev = aftersales.merchant_upload(ctx, shop.shop_id, req.id, "renamed.pdf", png_bytes())
        assert ev.content_type == "image/png"  # judged by content, not name
        assert aftersales.evidence_bytes(ctx, ev) == png_bytes()


def test_A5_withdraw_and_modify_while_pending(world: World, shop: Any, rt: Runtime) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 1_000)
    buyer = world.buyer_of(shop.shop_id, order)
    rt.clock.advance(3600)  # type: ignore[attr-defined]
    with rt.unit(f"buyer:{buyer}") as ctx:
        aftersales.modify(ctx, buyer, req.id, amount_fen=2_000)
    changed = world.request(shop.shop_id, req.id)
    assert changed.amount_fen == 2_000
    assert changed.due_at == rt.clock.now() + timedelta(hours=48)  # deadline restarts
    with rt.unit(f"buyer:{buyer}") as ctx:
        aftersales.withdraw(ctx, buyer, req.id)
    assert world.request(shop.shop_id, req.id).status == "withdrawn"
    with rt.unit() as ctx:
        assert orders.get_order(ctx.session, shop.shop_id, order).after_sale == "none"


def test_A5_after_agreement_change_needs_merchant_agreement(
    world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 1_000)
    buyer = world.buyer_of(shop.shop_id, order)
    with rt.unit("user:1") as ctx:
        aftersales.agree_on_refusal(ctx, shop.shop_id, req.id)
    with rt.unit(f"buyer:{buyer}") as ctx:
        aftersales.withdraw(ctx, buyer, req.id)
    asked = world.request(shop.shop_id, req.id)
    assert asked.status == "agreed_on_refusal" and asked.change_request == {
        "type": "withdraw",
        "note": "",
    }
    with rt.unit("user:1") as ctx:
        aftersales.decline_change(ctx, shop.shop_id, req.id)
    assert world.request(shop.shop_id, req.id).change_request is None
    with rt.unit(f"buyer:{buyer}") as ctx:
        aftersales.modify(ctx, buyer, req.id, amount_fen=3_000)
    with rt.unit("user:1") as ctx:
        aftersales.approve_change(ctx, shop.shop_id, req.id)
    after = world.request(shop.shop_id, req.id)
    assert after.status == "pending" and after.amount_fen == 3_000
    # Once refunded, nothing can be withdrawn.
    with rt.unit("user:1") as ctx:
        aftersales.agree(ctx, shop.shop_id, req.id)
    with rt.unit(f"buyer:{buyer}") as ctx, pytest.raises(Conflict):
        aftersales.withdraw(ctx, buyer, req.id)


def test_A1_return_refund_flow(world: World, shop: Any, rt: Runtime) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    buyer = world.buyer_of(shop.shop_id, order)
    req = world.apply(shop.shop_id, order, 5_000, kind="return_refund")
    assert req.due_at is None
    with rt.unit("user:1") as ctx:
        assert aftersales.agree(ctx, shop.shop_id, req.id).status == "awaiting_return"
    with rt.unit(f"buyer:{buyer}") as ctx:
        aftersales.ship_return(ctx, buyer, req.id, carrier="SF", tracking_no="SF1111111111111")
    with rt.unit("user:1") as ctx:
        assert aftersales.operate(ctx, shop.shop_id, req.id, "confirm_return").status == "refunded"


def test_A3_X2_another_shops_request_is_not_found(
    world: World, make_shop: Any, rt: Runtime
) -> None:
    a, b = make_shop("甲"), make_shop("乙")
    pid = world.product(a.shop_id)
    req = world.apply(a.shop_id, world.order(a.shop_id, [(pid, 1)]), 100)
    with rt.unit() as ctx, pytest.raises(Exception) as err:
        aftersales.agree(ctx, b.shop_id, req.id)
    assert getattr(err.value, "code", "") == "not_found"


def test_A3_sweep_and_merchant_race_never_refund_twice_pg(
    pg_only: None, world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    reqs = [
        world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000) for _ in range(8)
    ]
    rt.clock.advance(48 * 3600)  # type: ignore[attr-defined]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def sweep() -> None:
        barrier.wait()
        with rt.unit() as ctx:
            outcomes.append(f"sweep {default_refund(ctx)}")

    def merchant() -> None:
        barrier.wait()
        for req in reqs:
            try:
                with rt.unit("user:1") as ctx:
                    aftersales.agree(ctx, shop.shop_id, req.id)
                outcomes.append("merchant ok")
            except Conflict:
                outcomes.append("merchant conflict")

    threads = [threading.Thread(target=sweep), threading.Thread(target=merchant)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with rt.unit() as ctx:
        refunds = ctx.session.scalars(select(OrderRefund)).all()
        assert len(refunds) == 8
        assert len({r.order_id for r in refunds}) == 8
        assert ledger.audit(ctx.session) == []
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 8 * 4_000
    assert all(world.request(shop.shop_id, r.id).status == "refunded" for r in reqs)
    assert ItemQty


def test_O5_auto_close_refunds_in_full_and_closes_the_open_request(
    world: World, shop: Any, rt: Runtime
) -> None:
    """A pending 未发货仅退款 on an order O5 closes at day 150: the order is refunded once, in
    full, and the request closes — it cannot be agreed (and refunded) again afterwards."""
    from xiaodian import scheduler

    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 2)], ship=False)
    ((item, _),) = world.items(shop.shop_id, order)
    req = world.apply(shop.shop_id, order, 5_000, kind="unshipped_refund", items=[(item, 1)])
    rt.clock.advance(151 * 86_400)  # type: ignore[attr-defined]
    scheduler.run_tick(rt, now=rt.clock.now())
    closed = world.request(shop.shop_id, req.id)
    assert closed.status == "closed"
    assert ("closed", "O5", None) in world.history(shop.shop_id, req.id)
    with pytest.raises(XiaodianError), rt.unit("user:1") as ctx:
        aftersales.agree(ctx, shop.shop_id, req.id)
    with rt.unit() as ctx:
        o = orders.get_order(ctx.session, shop.shop_id, order)
        assert o.status == "closed" and o.refunded_fen == o.paid_fen
        assert [r.amount_fen for r in ctx.session.scalars(select(OrderRefund))] == [o.paid_fen]
        assert ledger.audit(ctx.session) == []

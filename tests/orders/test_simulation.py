"""The issue's simulation: one shop, many unshipped orders, 150 days on a ManualClock driven by
``scheduler.advance`` — O4/O6/O7 judgments, O8 penalties, caps, bans and review flags, A6
agreed refunds, O5 auto-close with refund and fallback; and two PostgreSQL workers ticking at
the same instant without double-applying."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tests.conftest import START
from xiaodian import scheduler
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerEntry, LedgerTxn
from xiaodian.notify.models import Event, Notice
from xiaodian.orders import payments, service
from xiaodian.orders import sweeps as rules
from xiaodian.orders.models import (
    Order,
    OrderRefund,
    OrderViolation,
    Product,
    ShopReviewFlag,
)
from xiaodian.runtime import Runtime

H = 3600
DAY = 24 * H
LATE = 60  # > 50 orders judged on one day, so the 500 yuan daily cap bites
DEPOSIT = 10_000_00


def _violations(rt: Runtime, order_id: int) -> list[OrderViolation]:
    with rt.unit() as ctx:
        return list(
            ctx.session.scalars(
                select(OrderViolation)
                .where(OrderViolation.order_id == order_id)
                .order_by(OrderViolation.seq)
            )
        )


def test_O6_O7_O8_O5_A6_simulation_over_150_days(rt: Runtime, shop: Any, shopper: Any) -> None:
    shop_id = shop.shop_id
    shopper.deposit(shop_id, DEPOSIT)
    cup = shopper.product(shop_id, title="保温杯")
    tea = shopper.product(shop_id, title="西湖龙井")
    late = [
        shopper.order(shop_id, cup, route="alipay" if i >= LATE - 5 else "wechat")
        for i in range(LATE)
    ]
    shipped_late, agreed, on_time = (shopper.order(shop_id, tea) for _ in range(3))
    ship_by = START + timedelta(hours=48)  # O4 default

    # Just before the deadline: nothing judged; the on-time order ships.
    scheduler.advance(rt, 47 * H, sweeps=rules.SWEEPS)
    assert _violations(rt, late[0]) == []
    with rt.unit() as ctx:
        service.ship_order(ctx, shop_id, on_time, carrier="SF", tracking_no="SF1234567890123")

    # O6: judged at the deadline itself (the tick lands on it), once each.
    scheduler.advance(rt, 2 * H, sweeps=rules.SWEEPS)
    first = _violations(rt, late[0])
    assert [(v.seq, v.judged_at, v.due_at) for v in first] == [(1, ship_by, ship_by)]
    # The merchant ships one late order; agrees a refund with the buyer of another (A6).
    with rt.unit() as ctx:
        service.ship_order(ctx, shop_id, shipped_late, carrier="中通", tracking_no="731234567890")
        service.mark_refund_agreed(ctx, shop_id, agreed, reason="缺货，协商退款")
    with rt.unit() as ctx:
        notices = ctx.session.scalars(select(Notice).where(Notice.category == "violation")).all()
        assert notices and "发货超时判定：62 笔订单" in notices[0].title

    # Ten days on.
    scheduler.advance(rt, 10 * DAY - 49 * H, sweeps=rules.SWEEPS)

    # O7: re-judged every 24 h after the previous judgment, at most 3 times — never a 4th.
    for order_id in late:
        got = [(v.seq, v.judged_at) for v in _violations(rt, order_id)]
        assert got == [
            (1, ship_by),
            (2, ship_by + timedelta(hours=24)),
            (3, ship_by + timedelta(hours=48)),
        ]
    # No judgment after shipping or after an agreed refund; none for the on-time order.
    assert [v.seq for v in _violations(rt, shipped_late)] == [1]
    assert [v.seq for v in _violations(rt, agreed)] == [1]
    assert _violations(rt, on_time) == []

    # O8: deductions on the Asia/Shanghai day after each judgment (16:00 UTC = 00:00 +08:00).
    day1 = datetime(2026, 11, 4, 16, 0, tzinfo=UTC)
    with rt.unit() as ctx:
        rows = ctx.session.scalars(
            select(OrderViolation).order_by(OrderViolation.penalty_day, OrderViolation.order_id)
        ).all()
        by_day = Counter((v.penalty_day, v.penalty_status) for v in rows)
        assert all(v.penalty_decided_at == v.penalty_day for v in rows)
        assert by_day == {
            (day1, "deducted"): 50,
            (day1, "waived_shop_cap"): 12,  # 500 yuan/day cap
            (day1 + timedelta(days=1), "deducted"): 50,
            (day1 + timedelta(days=1), "waived_shop_cap"): 10,
            # Orders already deducted twice are not deducted again; the rest are.
            (day1 + timedelta(days=2), "waived_order_cap"): 50,
            (day1 + timedelta(days=2), "deducted"): 10,
        }
        per_order = Counter(v.order_id for v in rows if v.penalty_status == "deducted")
        assert max(per_order.values()) == 2
        txns = ctx.session.scalars(
            select(LedgerTxn)
            .where(LedgerTxn.kind == "late_shipment_penalty")
            .order_by(LedgerTxn.id)
        ).all()
        deducted = [v for v in rows if v.penalty_status == "deducted"]
        # One ledger transaction per shop and day, for the sum of that day's deductions.
        assert sorted((t.idempotency_key, t.id) for t in txns) == [
            (f"late-penalty:{shop_id}:2026-11-05", txns[0].id),
            (f"late-penalty:{shop_id}:2026-11-06", txns[1].id),
            (f"late-penalty:{shop_id}:2026-11-07", txns[2].id),
        ]
        assert Counter(v.ledger_txn_id for v in deducted) == {
            txns[0].id: 50,
            txns[1].id: 50,
            txns[2].id: 10,
        }
        for txn in txns:
            (entry,) = [
                e
                for e in ctx.session.scalars(
                    select(LedgerEntry).where(LedgerEntry.txn_id == txn.id)
                )
                if e.account_code == Account.DEPOSIT
            ]
            assert -entry.amount_fen == sum(
                v.penalty_fen for v in deducted if v.ledger_txn_id == txn.id
            )
        assert ledger.balance(ctx.session, shop_id, Account.DEPOSIT) == DEPOSIT - 110 * 1000
        assert ledger.balance(ctx.session, shop_id, Account.PLATFORM_PENALTY) == 110 * 1000
        # O8: products of an order judged more than twice are banned, at the 3rd judgment.
        assert ctx.session.get(Product, cup).banned_at == ship_by + timedelta(hours=48)
        assert ctx.session.get(Product, tea).banned_at is None
        # O8: each order judged 3 times and still unresolved flags the shop for review.
        flags = ctx.session.scalars(select(ShopReviewFlag)).all()
        assert len(flags) == LATE and {f.status for f in flags} == {"open"}
        types = Counter(e.type for e in ctx.session.scalars(select(Event)))
        assert types["order.late_judged"] == 3 * LATE + 2
        assert types["order.penalty_deducted"] == 110
        assert types["order.penalty_waived"] == 72
        assert types["product.banned"] == 1
        assert ledger.audit(ctx.session) == []

    # O5: at day 150 after placement, unshipped unrefunded orders close with a refund by the
    # original route; alipay refunds fail, so those go to the platform balance instead.
    with rt.unit() as ctx:
        payments.set_fault(ctx, "alipay", "refund", "原支付账户已注销")
    scheduler.advance(rt, 140 * DAY, sweeps=rules.SWEEPS)
    with rt.unit() as ctx:
        for order_id in [*late, agreed]:
            order = ctx.session.get(Order, order_id)
            assert order.status == "closed" and order.close_reason == "auto_closed"
            assert order.closed_at == START + timedelta(days=150)
            assert order.refunded_fen == order.paid_fen and order.after_sale == "refunded"
        refunds = ctx.session.scalars(select(OrderRefund)).all()
        routes = Counter((r.route, r.fell_back) for r in refunds)
        assert routes == {("wechat", False): LATE - 5 + 1, ("platform_balance", True): 5}
        assert {r.rule for r in refunds} == {"O5"}
        assert ctx.session.get(Order, shipped_late).status == "shipped"
        assert ledger.balance(ctx.session, shop_id, Account.BUYER_PLATFORM_BALANCE) == 5 * 5_900
        assert ledger.balance(ctx.session, shop_id, Account.ORDER_ESCROW) == 2 * 5_900
        assert ledger.audit(ctx.session) == []
    # Visible in the API detail.
    detail = shop.api.get(f"/api/v1/orders/{late[-1]}").json()
    assert detail["status"] == "closed" and detail["close_reason"] == "auto_closed"
    assert detail["refunds"][0]["route"] == "platform_balance"
    assert detail["refunds"][0]["failure_reason"] == "原支付账户已注销"
    assert [v["penalty_status"] for v in detail["violations"]] == [
        "waived_shop_cap",
        "waived_shop_cap",
        "deducted",
    ]


def test_O6_sweep_twice_at_one_instant_changes_nothing(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    order_id = shopper.order(shop.shop_id, shopper.product(shop.shop_id))
    at = START + timedelta(hours=48)
    first = scheduler.run_tick(rt, now=at, sweeps=rules.SWEEPS)
    again = scheduler.run_tick(rt, now=at, sweeps=rules.SWEEPS)
    assert first.counts["orders.judge_late"]["judged"] == 1
    assert again.counts["orders.judge_late"]["judged"] == 0
    assert len(_violations(rt, order_id)) == 1
    with rt.unit() as ctx:
        assert rules.next_judgment_due(ctx.session, at) == at + timedelta(hours=24)
        assert rules.next_penalty_due(ctx.session, at) == datetime(2026, 11, 4, 16, tzinfo=UTC)


def test_O5_unpaid_order_closes_without_refund(rt: Runtime, shop: Any, shopper: Any) -> None:
    order_id = shopper.order(shop.shop_id, shopper.product(shop.shop_id), pay=False)
    report = scheduler.run_tick(rt, now=START + timedelta(days=150), sweeps=rules.SWEEPS)
    assert report.counts["orders.auto_close"] == {
        "closed": 1,
        "refunded": 0,
        "fell_back": 0,
        "failed": 0,
    }
    with rt.unit() as ctx:
        order = ctx.session.get(Order, order_id)
        assert order.status == "closed" and order.refunded_fen == 0
        assert ctx.session.scalar(select(func.count()).select_from(OrderRefund)) == 0


def test_O8_review_flag_is_decided_by_an_operator(rt: Runtime, shop: Any, shopper: Any) -> None:
    order_id = shopper.order(shop.shop_id, shopper.product(shop.shop_id))
    scheduler.advance(rt, 5 * DAY, sweeps=rules.SWEEPS)
    with rt.unit("operator:1") as ctx:
        (flag,) = service.list_review_flags(ctx.session, shop.shop_id)
        assert flag.order_id == order_id and flag.status == "open"
        service.decide_review(ctx, flag.id, "suspend", "多次发货超时")
    with rt.unit() as ctx:
        (flag,) = service.list_review_flags(ctx.session, shop.shop_id)
        assert (flag.status, flag.decision, flag.decided_by) == ("decided", "suspend", "operator:1")


def test_O9_rating_rate_and_daily_series(rt: Runtime, shop: Any, shopper: Any) -> None:
    product = shopper.product(shop.shop_id)
    orders = [shopper.order(shop.shop_id, product) for _ in range(4)]
    with rt.unit() as ctx:
        service.ship_order(
            ctx, shop.shop_id, orders[0], carrier="SF", tracking_no="SF1234567890123"
        )
    scheduler.advance(rt, 49 * H, sweeps=rules.SWEEPS)  # 3 judged at +48 h
    with rt.unit() as ctx:
        service.ship_order(
            ctx, shop.shop_id, orders[1], carrier="SF", tracking_no="SF1234567890124"
        )
    scheduler.advance(rt, 24 * H, sweeps=rules.SWEEPS)  # 2 re-judged at +72 h
    body = shop.api.get("/api/v1/orders/rating").json()
    assert (body["late_orders"], body["base_orders"]) == (3, 4)
    assert body["late_rate"] == 0.75 and body["judgments"] == 5 and body["window_days"] == 30
    daily = {d["day"]: d["judgments"] for d in body["daily"]}
    assert daily["2026-11-04"] == 3 and daily["2026-11-05"] == 2
    assert sum(daily.values()) == 5 and len(daily) == 31
    violations = shop.api.get("/api/v1/orders/violations?penalty_status=pending").json()
    assert len(violations["items"]) == 2  # yesterday's 3 were decided at midnight
    assert violations["items"][0]["penalty_status_label"] == "待扣款"


def test_O6_O8_two_postgres_workers_judge_and_deduct_once(
    pg_only: None, rt: Runtime, shop: Any, shopper: Any
) -> None:
    shopper.deposit(shop.shop_id, DEPOSIT)
    product = shopper.product(shop.shop_id)
    orders = [shopper.order(shop.shop_id, product) for _ in range(LATE)]

    def two_workers(at: datetime) -> None:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                barrier.wait()
                scheduler.run_tick(rt, now=at)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    two_workers(START + timedelta(hours=48))
    two_workers(datetime(2026, 11, 4, 16, tzinfo=UTC))
    with rt.unit() as ctx:
        violations = ctx.session.scalars(select(OrderViolation)).all()
        assert len(violations) == LATE
        assert Counter(v.order_id for v in violations) == Counter(orders)
        assert Counter(v.penalty_status for v in violations) == {
            "deducted": 50,
            "waived_shop_cap": 10,
        }
        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == DEPOSIT - 50_000
        # O8: one ledger transaction for the shop's day, posted once by one of the workers.
        (txn,) = ctx.session.scalars(
            select(LedgerTxn).where(LedgerTxn.kind == "late_shipment_penalty")
        ).all()
        assert txn.idempotency_key == f"late-penalty:{shop.shop_id}:2026-11-05"
        assert {v.ledger_txn_id for v in violations if v.penalty_status == "deducted"} == {txn.id}
        assert ledger.audit(ctx.session) == []


def test_O8_deduction_batch_run_twice_deducts_once_per_shop_and_day(
    rt: Runtime, make_shop: Any, shopper: Any
) -> None:
    big, small = make_shop(), make_shop()
    for shop, late in ((big, 55), (small, 3)):
        shopper.deposit(shop.shop_id, DEPOSIT)
        product = shopper.product(shop.shop_id)
        for _ in range(late):
            shopper.order(shop.shop_id, product)
    scheduler.run_tick(rt, now=START + timedelta(hours=48), sweeps=rules.SWEEPS)
    batch = datetime(2026, 11, 4, 16, tzinfo=UTC)  # 00:00 Asia/Shanghai, the day after

    first = scheduler.run_tick(rt, now=batch, sweeps=rules.SWEEPS)
    assert first.counts["orders.deduct_penalties"] == {
        "deducted": 53,
        "waived_order_cap": 0,
        "waived_shop_cap": 5,
    }
    # Again at the same instant, and later the same day: nothing left to decide or move.
    for at in (batch, batch, batch + timedelta(hours=1)):
        again = scheduler.run_tick(rt, now=at, sweeps=rules.SWEEPS)
        assert set(again.counts["orders.deduct_penalties"].values()) == {0}
    with rt.unit() as ctx:
        ctx.now = batch
        assert rules.deduct_penalties(ctx) == {
            "deducted": 0,
            "waived_order_cap": 0,
            "waived_shop_cap": 0,
        }
    with rt.unit() as ctx:
        txns = ctx.session.scalars(
            select(LedgerTxn).where(LedgerTxn.kind == "late_shipment_penalty")
        ).all()
        assert sorted((t.shop_id, t.idempotency_key) for t in txns) == [
            (big.shop_id, f"late-penalty:{big.shop_id}:2026-11-05"),
            (small.shop_id, f"late-penalty:{small.shop_id}:2026-11-05"),
        ]
        for shop, deducted_fen in ((big, 50_000), (small, 3_000)):
            assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == (
                DEPOSIT - deducted_fen
            )
            assert ledger.balance(ctx.session, shop.shop_id, Account.PLATFORM_PENALTY) == (
                deducted_fen
            )
        types = Counter(e.type for e in ctx.session.scalars(select(Event)))
        assert (types["order.penalty_deducted"], types["order.penalty_waived"]) == (53, 5)
        notices = ctx.session.scalars(select(Notice).where(Notice.category == "funds")).all()
        assert sorted(n.title for n in notices) == [
            "保证金扣款：发货超时 3 笔，共 ¥30.00",
            "保证金扣款：发货超时 50 笔，共 ¥500.00",
        ]
        assert ledger.audit(ctx.session) == []


def test_O8_catch_up_batch_decides_each_missed_day_in_turn(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    """Penalties not run for three days (worker down): one batch decides the three days
    oldest first, exactly as three daily batches would have (see the 150-day simulation)."""
    shopper.deposit(shop.shop_id, DEPOSIT)
    product = shopper.product(shop.shop_id)
    for _ in range(LATE):
        shopper.order(shop.shop_id, product)
    judge_only = [s for s in rules.SWEEPS if s.name == "orders.judge_late"]
    scheduler.advance(rt, 5 * DAY, sweeps=judge_only)
    at = rt.clock.now()
    report = scheduler.run_tick(rt, now=at, sweeps=rules.SWEEPS)
    assert report.counts["orders.deduct_penalties"] == {
        "deducted": 110,
        "waived_order_cap": 50,
        "waived_shop_cap": 20,
    }
    day1 = datetime(2026, 11, 4, 16, 0, tzinfo=UTC)
    with rt.unit() as ctx:
        rows = ctx.session.scalars(select(OrderViolation)).all()
        assert Counter((v.penalty_day, v.penalty_status) for v in rows) == {
            (day1, "deducted"): 50,
            (day1, "waived_shop_cap"): 10,
            (day1 + timedelta(days=1), "deducted"): 50,
            (day1 + timedelta(days=1), "waived_shop_cap"): 10,
            (day1 + timedelta(days=2), "waived_order_cap"): 50,
            (day1 + timedelta(days=2), "deducted"): 10,
        }
        assert {v.penalty_decided_at for v in rows} == {at}
        amounts = sorted(
            -e.amount_fen
            for e in ctx.session.scalars(
                select(LedgerEntry).where(LedgerEntry.account_code == Account.DEPOSIT)
            )
            if e.amount_fen < 0
        )
        assert amounts == [10_000, 50_000, 50_000]
        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == DEPOSIT - 110_000

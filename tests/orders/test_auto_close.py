"""O5 auto-close robustness: one order whose payment adapter raises does not stop the others
(it is retried later), and a retry after a rolled-back tick never refunds twice — the refund
reference is one per order, and the provider (the local gateway records every call) answers
a repeated reference without paying again."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import START
from xiaodian import scheduler
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerTxn
from xiaodian.orders import payments, service
from xiaodian.orders import sweeps as rules
from xiaodian.orders.models import Order, OrderRefund, PaymentCall
from xiaodian.runtime import Runtime

DUE = START + timedelta(days=150)
PRICE = 5_900


def _refund_calls(rt: Runtime) -> list[tuple[str, int, bool, bool]]:
    """(reference, amount, ok, replay) of every refund call the local gateway recorded."""
    with rt.unit() as ctx:
        calls = ctx.session.scalars(
            select(PaymentCall).where(PaymentCall.operation == "refund").order_by(PaymentCall.id)
        ).all()
        return [(c.reference, c.amount_fen, c.ok, "replay_of" in c.details) for c in calls]


def test_O5_adapter_raising_for_one_order_does_not_block_the_others(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    product = shopper.product(shop.shop_id, price_fen=PRICE)
    first = shopper.order(shop.shop_id, product, route="wechat")
    stuck = shopper.order(shop.shop_id, product, route="alipay")
    last = shopper.order(shop.shop_id, product, route="wechat")
    with rt.unit() as ctx:
        payments.set_fault(ctx, "alipay", "refund", "支付宝接口超时", raises=True)

    report = scheduler.run_tick(rt, now=DUE, sweeps=rules.SWEEPS)
    assert report.counts["orders.auto_close"] == {
        "closed": 2,
        "refunded": 2,
        "fell_back": 0,
        "failed": 1,
    }
    retry_at = DUE + timedelta(seconds=rt.settings.orders.auto_close_retry_seconds)
    with rt.unit() as ctx:
        for order_id in (first, last):
            order = ctx.session.get(Order, order_id)
            assert (order.status, order.refunded_fen) == ("closed", PRICE)
        left = ctx.session.get(Order, stuck)
        assert (left.status, left.refunded_fen, left.auto_close_at) == (
            "awaiting_shipment",
            0,
            retry_at,
        )
        note = service.order_history(ctx.session, left)[-1]
        assert note.rule == "O5" and "支付宝接口超时" in note.note and "重试" in note.note
        assert rules.next_auto_close_due(ctx.session, DUE) == retry_at
        assert ctx.session.scalar(select(func.count()).select_from(OrderRefund)) == 2
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == PRICE
    assert _refund_calls(rt) == [
        (f"order-refund:auto-close:{first}", PRICE, True, False),
        (f"order-refund:auto-close:{last}", PRICE, True, False),
    ]
    # Running again at the same instant changes nothing (the stuck order waits its retry).
    again = scheduler.run_tick(rt, now=DUE, sweeps=rules.SWEEPS)
    assert again.counts["orders.auto_close"]["closed"] == 0
    assert again.counts["orders.auto_close"]["failed"] == 0

    # The provider answers again: the retry closes it, refunded once by its own route.
    with rt.unit() as ctx:
        payments.clear_fault(ctx, "alipay", "refund")
    retried = scheduler.run_tick(rt, now=retry_at, sweeps=rules.SWEEPS)
    assert retried.counts["orders.auto_close"]["refunded"] == 1
    with rt.unit() as ctx:
        order = ctx.session.get(Order, stuck)
        assert (order.status, order.closed_at, order.refunded_fen) == ("closed", retry_at, PRICE)
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == 0
        assert ledger.audit(ctx.session) == []
    assert _refund_calls(rt)[-1] == (f"order-refund:auto-close:{stuck}", PRICE, True, False)


class _Crash(Exception):
    pass


def test_O5_retry_after_a_rolled_back_tick_does_not_refund_twice(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    product = shopper.product(shop.shop_id, price_fen=PRICE)
    orders = [shopper.order(shop.shop_id, product) for _ in range(3)]

    # A tick whose transaction is rolled back after the provider was called (the process
    # died before committing). Our rows vanish; the provider's record of the refunds it paid
    # does not — it is an outside system, so it is put back as the provider keeps it.
    provider_book: list[dict[str, Any]] = []
    rt.clock.set(DUE)
    with pytest.raises(_Crash), rt.unit() as ctx:
        assert rules.auto_close(ctx)["refunded"] == 3
        for call in ctx.session.scalars(
            select(PaymentCall).where(PaymentCall.operation == "refund")
        ):
            provider_book.append(
                {
                    c.key: getattr(call, c.key)
                    for c in PaymentCall.__table__.columns
                    if c.key != "id"
                }
            )
        raise _Crash
    with rt.unit() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(OrderRefund)) == 0
        assert {ctx.session.get(Order, o).status for o in orders} == {"awaiting_shipment"}
        ctx.session.add_all(PaymentCall(**row) for row in provider_book)
    assert sorted(r["reference"] for r in provider_book) == sorted(
        f"order-refund:auto-close:{o}" for o in orders
    )

    # The next tick retries every order under the same reference: the provider answers each
    # as already paid, and nothing is paid a second time.
    report = scheduler.run_tick(rt, now=DUE, sweeps=rules.SWEEPS)
    assert report.counts["orders.auto_close"]["refunded"] == 3
    calls = _refund_calls(rt)
    assert Counter(ref for ref, _amount, _ok, _replay in calls) == {
        f"order-refund:auto-close:{o}": 2 for o in orders
    }
    paid = Counter(ref for ref, _amount, ok, replay in calls if ok and not replay)
    assert paid == {f"order-refund:auto-close:{o}": 1 for o in orders}
    with rt.unit() as ctx:
        refunds = ctx.session.scalars(select(OrderRefund)).all()
        assert Counter(r.order_id for r in refunds) == Counter(orders)
        assert {(r.route, r.fell_back) for r in refunds} == {("wechat", False)}
        keys = ctx.session.scalars(
            select(LedgerTxn.idempotency_key).where(LedgerTxn.kind == "order_refund")
        ).all()
        assert sorted(keys) == sorted(f"order-refund:auto-close:{o}" for o in orders)
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == 0
        assert ledger.audit(ctx.session) == []
    # And once more at the same instant: nothing due, nothing called.
    assert (
        scheduler.run_tick(rt, now=DUE, sweeps=rules.SWEEPS).counts["orders.auto_close"]["closed"]
        == 0
    )
    assert len(_refund_calls(rt)) == 6

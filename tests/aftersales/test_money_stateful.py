"""A2.3, A3, A6, X3: a Hypothesis state machine mixes orders, requests, strategies, merchant
actions, interceptions (with fees), logistics events and the 48 h sweep. After every step the
books hold (ledger.audit == []) and escrow / fees / balance / refunds add up exactly."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from tests.aftersales.conftest import World
from xiaodian.aftersales import logistics
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.models import Package
from xiaodian.aftersales.rules import default_refund, interceptions
from xiaodian.errors import XiaodianError
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders.models import Order, OrderRefund
from xiaodian.runtime import Runtime


class AfterSalesMachine(RuleBasedStateMachine):
    rt: Runtime
    world: World
    shop_id: int

    @initialize(threshold=st.integers(100, 6_000), fee_funds=st.sampled_from([0, 300, 5_000]))
    def start(self, threshold: int, fee_funds: int) -> None:
        self.orders: list[int] = []
        self.requests: list[int] = []
        self.topped_up = fee_funds
        self.product = self.world.product(self.shop_id, 2_500)
        self.world.strategy(self.shop_id, "small_amount", threshold_fen=threshold)
        self.world.strategy(self.shop_id, "interception")
        self.world.strategy(self.shop_id, "refusal", enabled=False)
        if fee_funds:
            self.world.topup(self.shop_id, fee_funds)

    @rule(qty=st.integers(1, 3), ship=st.booleans(), verified=st.booleans())
    def place(self, qty: int, ship: bool, verified: bool) -> None:
        self.orders.append(
            self.world.order(self.shop_id, [(self.product, qty)], ship=ship, verified=verified)
        )

    @rule(data=st.data(), share=st.integers(1, 100))
    def apply(self, data: Any, share: int) -> None:
        if not self.orders:
            return
        order_id = data.draw(st.sampled_from(self.orders))
        with self.rt.unit() as ctx:
            order = ctx.session.get(Order, order_id)
            assert order is not None
            shipped = order.status == "shipped"
            left = order.paid_fen - order.refunded_fen
        if left <= 0:
            return
        kind = "shipped_refund" if shipped else "unshipped_refund"
        try:
            req = self.world.apply(self.shop_id, order_id, max(1, left * share // 100), kind=kind)
            self.requests.append(req.id)
        except XiaodianError:
            pass

    @rule(data=st.data(), action=st.sampled_from(["agree", "agree_on_refusal", "withdraw"]))
    def act(self, data: Any, action: str) -> None:
        if not self.requests:
            return
        request_id = data.draw(st.sampled_from(self.requests))
        try:
            with self.rt.unit("user:1") as ctx:
                if action == "withdraw":
                    req = aftersales.get_request(ctx.session, self.shop_id, request_id)
                    aftersales.withdraw(ctx, req.buyer_id, request_id)
                else:
                    aftersales.operate(ctx, self.shop_id, request_id, action)
        except XiaodianError:
            pass

    @rule(data=st.data(), event=st.sampled_from(["in_transit", "delivered", "refused"]))
    def carrier(self, data: Any, event: str) -> None:
        with self.rt.unit() as ctx:
            ids = list(
                ctx.session.scalars(select(Package.id).where(Package.shop_id == self.shop_id))
            )
        if not ids:
            return
        with contextlib.suppress(XiaodianError):
            self.world.event(self.shop_id, data.draw(st.sampled_from(ids)), event)

    @rule(hours=st.sampled_from([1, 2, 24, 48]))
    def time_passes(self, hours: int) -> None:
        self.rt.clock.advance(hours * 3600)  # type: ignore[attr-defined]
        with self.rt.unit() as ctx:
            interceptions(ctx)
        with self.rt.unit() as ctx:
            default_refund(ctx)

    @invariant()
    def money_adds_up(self) -> None:
        with self.rt.unit() as ctx:
            s = ctx.session
            assert ledger.audit(s, self.shop_id) == []
            paid = s.scalar(select(func.sum(Order.paid_fen)).where(Order.shop_id == self.shop_id))
            refunded = s.scalar(
                select(func.sum(OrderRefund.amount_fen)).where(OrderRefund.shop_id == self.shop_id)
            )
            fees = s.scalar(
                select(func.sum(Package.fee_fen)).where(
                    Package.shop_id == self.shop_id, Package.fee_status == "charged"
                )
            )
            paid, refunded, fees = int(paid or 0), int(refunded or 0), int(fees or 0)
            books = ledger.balances(s, self.shop_id)
            assert books[Account.ORDER_ESCROW] == paid - refunded
            assert books[Account.PLATFORM_FEES] == fees
            assert books[Account.BALANCE] == self.topped_up - fees
            assert (
                books[Account.EXTERNAL] + books[Account.BUYER_PLATFORM_BALANCE]
                == refunded - paid - self.topped_up
            )
            # A request is refunded at most once, and never more than its order was paid.
            refund_ids = [
                r.refund_id
                for r in (aftersales.get_request(s, self.shop_id, i) for i in self.requests)
                if r.refund_id is not None
            ]
            assert len(refund_ids) == len(set(refund_ids))
            for order_id in self.orders:
                order = s.get(Order, order_id)
                assert order is not None and 0 <= order.refunded_fen <= order.paid_fen


def test_A2_A3_A6_X3_money_conserved_stateful(rt: Runtime, make_shop: Any) -> None:
    counter = itertools.count(1)

    class Bound(AfterSalesMachine):
        def __init__(self) -> None:
            super().__init__()
            n = next(counter)
            self.rt = rt
            self.world = World(rt, itertools.count(n * 1000))
            self.shop_id = make_shop(f"售后守恒{n}").shop_id

    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        Bound,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert logistics  # interception fees are charged by logistics (A2.3)

"""A2.1, A2.3, A3, A4, A5, A6, X3: a Hypothesis state machine mixes orders (paid by two
routes), requests, strategies, merchant actions, rejection with evidence, buyer
modifications and withdrawals, ERP shipment cancels, interceptions (with fees left unpaid
when the balance is short and collected after a top-up), logistics events, refund-route
faults (fallback to the platform balance) and the 48 h sweep. After every step the books hold
(ledger.audit == []) and escrow / fees / balance / deposit / refunds add up exactly.

Few rules, each choosing among several actions: Hypothesis picks rules evenly, so grouping
the actions keeps every path likely within the example budget."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from tests.aftersales.conftest import PDF, World
from xiaodian.aftersales import logistics
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.models import OPEN_STATUSES, AfterSaleRequest, Package
from xiaodian.aftersales.sweeps import (
    collect_fees,
    default_refund,
    interceptions,
    retry_refunds,
)
from xiaodian.errors import ValidationFailed, XiaodianError
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import payments
from xiaodian.orders.models import Order, OrderRefund
from xiaodian.runtime import Runtime

ROUTES = ("wechat", "alipay")
REQUEST_ACTIONS = [
    "agree",
    "agree_on_refusal",
    "reject_one_file",  # enough evidence for 生鲜 (A4)
    "reject_customized",  # 定制 needs two files: refused, nothing changes (A4)
    "withdraw",
    "modify",
    "approve_change",
    "decline_change",
]
LOGISTICS_EVENTS = ["in_transit", "delivered", "refused", "erp_cancel"]
MONEY_MOVES = ["to_deposit", "top_up_and_collect", "route_breaks", "route_silent", "route_mends"]


class AfterSalesMachine(RuleBasedStateMachine):
    rt: Runtime
    world: World
    shop_id: int

    @initialize(
        threshold=st.integers(100, 6_000),
        fee_funds=st.sampled_from([0, 300, 600, 5_000]),
        erp_cancel=st.booleans(),
    )
    def start(self, threshold: int, fee_funds: int, erp_cancel: bool) -> None:
        self.orders: list[int] = []
        self.requests: list[int] = []
        self.topped_up = fee_funds
        self.deposited = 0
        self._clear_faults()
        self.product = self.world.product(self.shop_id, 2_500)
        self.world.strategy(self.shop_id, "erp_cancel", enabled=erp_cancel)
        self.world.strategy(self.shop_id, "small_amount", threshold_fen=threshold)
        self.world.strategy(self.shop_id, "interception")
        self.world.strategy(self.shop_id, "refusal", enabled=False)
        if fee_funds:
            self.world.topup(self.shop_id, fee_funds)

    def teardown(self) -> None:
        self._clear_faults()  # faults are platform-wide: never leak into the next example

    def _clear_faults(self) -> None:
        with self.rt.unit() as ctx:
            for route in ROUTES:
                payments.clear_fault(ctx, route, "refund")

    # ----- orders and requests -------------------------------------------------------------

    @rule(
        qty=st.integers(1, 3),
        ship=st.booleans(),
        verified=st.booleans(),
        route=st.sampled_from(ROUTES),
        share=st.sampled_from([0, 30, 100]),
    )
    def place(self, qty: int, ship: bool, verified: bool, route: str, share: int) -> None:
        """A new order; with ``share`` > 0 its buyer applies at once for that share of it."""
        order_id = self.world.order(
            self.shop_id, [(self.product, qty)], ship=ship, verified=verified, route=route
        )
        self.orders.append(order_id)
        if share:
            self._apply(order_id, share)

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data(), share=st.integers(1, 100))
    def apply(self, data: Any, share: int) -> None:
        self._apply(data.draw(st.sampled_from(self.orders)), share)

    def _apply(self, order_id: int, share: int) -> None:
        with self.rt.unit() as ctx:
            order = ctx.session.get(Order, order_id)
            assert order is not None
            shipped = order.status == "shipped"
            left = order.paid_fen - order.refunded_fen
        if left <= 0:
            return
        kind = "shipped_refund" if shipped else "unshipped_refund"
        with contextlib.suppress(XiaodianError):
            req = self.world.apply(self.shop_id, order_id, max(1, left * share // 100), kind=kind)
            self.requests.append(req.id)

    def _pick_request(self, data: Any) -> int:
        """An open request when there is one (actions on closed ones are mostly refused)."""
        with self.rt.unit() as ctx:
            open_ids = list(
                ctx.session.scalars(
                    select(AfterSaleRequest.id)
                    .where(
                        AfterSaleRequest.shop_id == self.shop_id,
                        AfterSaleRequest.status.in_(OPEN_STATUSES),
                    )
                    .order_by(AfterSaleRequest.id)
                )
            )
        return int(data.draw(st.sampled_from(open_ids or self.requests)))

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data(), action=st.sampled_from(REQUEST_ACTIONS), share=st.integers(1, 100))
    def act(self, data: Any, action: str, share: int) -> None:
        """A merchant decision (A3, A4, A2.4, A5 change requests) or a buyer change (A5)."""
        with contextlib.suppress(XiaodianError):
            self._act(self._pick_request(data), action, share)

    def _act(self, request_id: int, action: str, share: int) -> None:
        with self.rt.unit("user:1") as ctx:
            req = aftersales.get_request(ctx.session, self.shop_id, request_id)
            if action == "withdraw":
                aftersales.withdraw(ctx, req.buyer_id, request_id)
            elif action == "modify":
                order = ctx.session.get(Order, req.order_id)
                assert order is not None
                amount = max(1, (order.paid_fen - order.refunded_fen) * share // 100)
                aftersales.modify(ctx, req.buyer_id, request_id, amount_fen=amount)
            elif action.startswith("reject_"):
                ev = aftersales.merchant_upload(ctx, self.shop_id, request_id, "proof.pdf", PDF)
                reason = "fresh_food" if action == "reject_one_file" else "customized"
                aftersales.reject(
                    ctx, self.shop_id, request_id, reason=reason, evidence_ids=[ev.id]
                )
            else:
                aftersales.operate(ctx, self.shop_id, request_id, action)

    # ----- logistics, money, time ----------------------------------------------------------

    @rule(data=st.data(), event=st.sampled_from(LOGISTICS_EVENTS))
    def logistics_event(self, data: Any, event: str) -> None:
        """A carrier event on a package, or the ERP cancelling an order's shipment (A2.1)."""
        with self.rt.unit() as ctx:
            packages = list(
                ctx.session.execute(
                    select(Package.id, Package.order_id)
                    .where(Package.shop_id == self.shop_id)
                    .order_by(Package.id)
                )
            )
        if packages:
            package_id, order_id = data.draw(st.sampled_from(packages))
            with contextlib.suppress(XiaodianError):
                self._logistics(package_id, order_id, event)

    def _logistics(self, package_id: int, order_id: int, event: str) -> None:
        if event == "erp_cancel":
            with self.rt.unit("app:1") as ctx:
                logistics.cancel_shipment(ctx, self.shop_id, order_id)
        else:
            self.world.event(self.shop_id, package_id, event)

    @rule(move=st.sampled_from(MONEY_MOVES), route=st.sampled_from(ROUTES))
    def money(self, move: str, route: str) -> None:
        """The merchant moves the balance into the deposit (later fees are left 待补缴) or tops
        up (then the A2.3 sweep collects what the balance covers); a refund route breaks (A6:
        refunds fall back to the platform balance), stops answering (refunds stay 已同意退款
        and are retried) or works again."""
        with self.rt.unit() as ctx:
            if move == "route_breaks":
                payments.set_fault(ctx, route, "refund", "原支付账户已注销")
            elif move == "route_silent":  # the adapter gets no answer: retried later (A6)
                payments.clear_fault(ctx, route, "refund")
                payments.set_fault(ctx, route, "refund", "支付渠道超时", raises=True)
            elif move == "route_mends":
                payments.clear_fault(ctx, route, "refund")
        if move == "to_deposit":
            self._to_deposit()
        elif move == "top_up_and_collect":
            self._top_up_and_collect(300)

    def _to_deposit(self) -> None:
        """The whole balance: an interception already requested will find it empty."""
        with self.rt.unit() as ctx:
            amount = ledger.balance(ctx.session, self.shop_id, Account.BALANCE)
            if amount <= 0:
                return
            ledger.move(
                ctx,
                self.shop_id,
                source=Account.BALANCE,
                target=Account.DEPOSIT,
                amount_fen=amount,
                key=f"stateful-deposit-{self.shop_id}-{self.deposited}",
                kind="balance_to_deposit",
            )
            self.deposited += amount

    def _top_up_and_collect(self, amount: int) -> None:
        self.world.topup(self.shop_id, amount)
        self.topped_up += amount
        self._collect_fees()

    def _collect_fees(self) -> None:
        with self.rt.unit() as ctx:
            collect_fees(ctx)
        with self.rt.unit() as ctx:
            unpaid = list(
                ctx.session.scalars(
                    select(Package.fee_fen).where(
                        Package.shop_id == self.shop_id, Package.fee_status == "unpaid"
                    )
                )
            )
            balance = ledger.balance(ctx.session, self.shop_id, Account.BALANCE)
        # A2.3: what is still 待补缴 after the sweep is more than the balance holds.
        assert not unpaid or balance < min(unpaid)

    @rule(hours=st.sampled_from([1, 2, 24, 48]))
    def time_passes(self, hours: int) -> None:
        """A scheduler tick: carrier answers (A2.3), 48 h default refunds (A3), failed refunds
        retried (A6), then the 待补缴 fees the balance now covers (A2.3)."""
        self.rt.clock.advance(hours * 3600)  # type: ignore[attr-defined]
        with self.rt.unit() as ctx:
            interceptions(ctx)
        with self.rt.unit() as ctx:
            default_refund(ctx)
        with self.rt.unit() as ctx:
            retry_refunds(ctx)
        self._collect_fees()

    # ----- invariants ----------------------------------------------------------------------

    @invariant()
    def money_adds_up(self) -> None:
        with self.rt.unit() as ctx:
            s = ctx.session
            assert ledger.audit(s, self.shop_id) == []
            paid = s.scalar(select(func.sum(Order.paid_fen)).where(Order.shop_id == self.shop_id))
            refunded = s.scalar(
                select(func.sum(OrderRefund.amount_fen)).where(OrderRefund.shop_id == self.shop_id)
            )
            fell_back = s.scalar(
                select(func.sum(OrderRefund.amount_fen)).where(
                    OrderRefund.shop_id == self.shop_id, OrderRefund.fell_back.is_(True)
                )
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
            assert books[Account.DEPOSIT] == self.deposited
            assert books[Account.BALANCE] == self.topped_up - self.deposited - fees
            # Refunds the original route refused went to the buyer's platform balance (A6).
            assert books[Account.BUYER_PLATFORM_BALANCE] == int(fell_back or 0)
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
            # A6: a failed refund is never lost — still 已同意退款, its error recorded.
            for req in s.scalars(
                select(AfterSaleRequest).where(
                    AfterSaleRequest.shop_id == self.shop_id, AfterSaleRequest.refund_error != ""
                )
            ):
                assert req.status == "agreed" and req.refund_id is None
            for order_id in self.orders:
                order = s.get(Order, order_id)
                assert order is not None and 0 <= order.refunded_fen <= order.paid_fen
            # A4: 定制 needs two evidence files; one file never rejects for that reason.
            customized = s.scalar(
                select(func.count()).where(
                    AfterSaleRequest.shop_id == self.shop_id,
                    AfterSaleRequest.reject_reason == "customized",
                )
            )
            assert customized == 0


def _bound(rt: Runtime, make_shop: Any) -> type[AfterSalesMachine]:
    counter = itertools.count(1)

    class Bound(AfterSalesMachine):
        def __init__(self) -> None:
            super().__init__()
            n = next(counter)
            self.rt = rt
            self.world = World(rt, itertools.count(n * 1000))
            self.shop_id = make_shop(f"售后守恒{n}").shop_id

    return Bound


def test_A2_A3_A4_A5_A6_X3_money_conserved_stateful(rt: Runtime, make_shop: Any) -> None:
    run_state_machine_as_test(
        _bound(rt, make_shop),
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_A2_1_A2_3_A4_A5_A6_X3_money_conserved_on_a_scripted_walk(
    rt: Runtime, make_shop: Any
) -> None:
    """The paths the random walk reaches only now and then, in one fixed walk through the same
    machine, the invariant checked after every step: an interception whose fee is left 待补缴
    and collected after a top-up, its refund falling back to the platform balance (route
    fault), a refund the provider did not answer retried by the sweep, a buyer modification,
    a rejection refused then made with evidence, an ERP cancel agreeing a refund (A2.1)."""
    machine = _bound(rt, make_shop)()
    fee = rt.settings.aftersales.interception_fee_fen

    def step(action: Any, *args: Any) -> None:
        action(*args)
        machine.money_adds_up()

    def fee_statuses() -> list[str]:
        with rt.unit() as ctx:
            return list(
                ctx.session.scalars(
                    select(Package.fee_status)
                    .where(Package.shop_id == machine.shop_id, Package.interception != "")
                    .order_by(Package.id)
                )
            )

    def status(request_id: int) -> tuple[str, str | None, int]:
        req = machine.world.request(machine.shop_id, request_id)
        return req.status, req.decided_rule, req.amount_fen

    step(machine.start, 100, fee, True)
    step(machine.money, "route_breaks", "alipay")
    step(machine.place, 1, True, True, "alipay", 100)  # interception requested (A2.3)
    intercepted = machine.requests[-1]
    step(machine.money, "to_deposit", "alipay")  # the balance is gone before the answer
    step(machine.time_passes, rt.settings.aftersales.interception_response_hours)
    assert status(intercepted) == ("refunded", "A2.3", 2_500)
    assert fee_statuses() == ["unpaid"]
    with rt.unit() as ctx:
        refund = ctx.session.scalars(
            select(OrderRefund).where(OrderRefund.shop_id == machine.shop_id)
        ).one()
        assert refund.fell_back and refund.route == "platform_balance"
    step(machine.money, "top_up_and_collect", "alipay")
    assert fee_statuses() == ["charged"]
    step(machine.money, "route_mends", "alipay")

    step(machine.money, "route_silent", "wechat")  # no answer: the refund waits (A6)
    step(machine.place, 1, True, False, "wechat", 100)
    silent = machine.requests[-1]
    step(machine._act, silent, "agree", 0)
    assert status(silent)[0] == "agreed"
    step(machine.money, "route_mends", "wechat")
    step(machine.time_passes, 1)  # the retry sweep pays it
    assert status(silent) == ("refunded", "A3", 2_500)

    step(machine.place, 2, True, False, "wechat", 30)
    modified = machine.requests[-1]
    step(machine._act, modified, "modify", 50)
    assert status(modified) == ("pending", None, 2_500)
    with pytest.raises(ValidationFailed) as refused:
        step(machine._act, modified, "reject_customized", 0)  # one file: refused (A4)
    assert refused.value.rule == "A4"
    assert status(modified)[0] == "pending"
    step(machine._act, modified, "reject_one_file", 0)
    assert status(modified)[0] == "rejected"

    step(machine.place, 1, True, False, "wechat", 100)
    cancelled = machine.requests[-1]
    with rt.unit() as ctx:
        order_id = aftersales.get_request(ctx.session, machine.shop_id, cancelled).order_id
    (package,) = machine.world.packages(machine.shop_id, order_id)
    step(machine._logistics, package.id, order_id, "erp_cancel")
    assert status(cancelled) == ("refunded", "A2.1", 2_500)
    machine.teardown()

"""A3 × A6: a refund that fails is recorded and retried, never lost. The payment adapter that
gets no answer (the local gateway told to raise) during the 48 h sweep leaves the request
已同意退款 with its error, history and event; the retry sweep pays it once the provider answers;
after the last automatic attempt the merchant is told. A route that refuses falls back to
the platform balance instead (O5 fallback)."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.aftersales.conftest import World
from tests.web.conftest import console_login
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.sweeps import (
    default_refund,
    next_refund_retry,
    retry_refunds,
)
from xiaodian.errors import Conflict
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify.models import Event, Notice
from xiaodian.orders import payments
from xiaodian.orders.models import OrderRefund
from xiaodian.runtime import Runtime


def _no_answer(rt: Runtime, route: str = "wechat") -> None:
    with rt.unit() as ctx:
        payments.set_fault(ctx, route, "refund", "支付渠道超时", raises=True)


def _answers_again(rt: Runtime, route: str = "wechat") -> None:
    with rt.unit() as ctx:
        payments.clear_fault(ctx, route, "refund")


def _refund_rows(rt: Runtime, shop_id: int) -> list[OrderRefund]:
    with rt.unit() as ctx:
        return list(ctx.session.scalars(select(OrderRefund).where(OrderRefund.shop_id == shop_id)))


def test_A3_A6_default_refund_failure_is_recorded_then_retried_once(
    world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    failing = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 5_000)
    fine = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)], route="alipay"), 5_000)
    _no_answer(rt, "wechat")
    rt.clock.advance(rt.settings.aftersales.merchant_sla_hours * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        # One refund failing does not stop the other (each in its own savepoint).
        assert default_refund(ctx) == {"refunded": 1, "failed": 1}
    assert world.request(shop.shop_id, fine.id).status == "refunded"

    failed = world.request(shop.shop_id, failing.id)
    retry_at = rt.clock.now() + timedelta(seconds=rt.settings.aftersales.refund_retry_seconds)
    assert (failed.status, failed.decided_rule, failed.refund_id) == ("agreed", "A3", None)
    assert "支付渠道超时" in failed.refund_error
    assert (failed.refund_attempts, failed.refund_retry_at) == (1, retry_at)
    assert world.history(shop.shop_id, failing.id)[-2:] == [
        ("agreed", "A3", None),
        ("refund_failed", "A6", None),
    ]
    assert len(_refund_rows(rt, shop.shop_id)) == 1  # the failed attempt left no refund row
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 5_000  # still held
    with rt.unit() as ctx:
        assert next_refund_retry(ctx.session, rt.clock.now()) == retry_at
        failed_events = ctx.session.scalar(
            select(func.count()).where(Event.type == "aftersale.refund_failed")
        )
        assert failed_events == 1
        assert default_refund(ctx) == {"refunded": 0, "failed": 0}  # not claimed twice

    rt.clock.set(retry_at - timedelta(seconds=1))  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert retry_refunds(ctx) == {"refunded": 0, "failed": 0}
    _answers_again(rt, "wechat")
    rt.clock.set(retry_at)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert retry_refunds(ctx) == {"refunded": 1, "failed": 0}
    with rt.unit() as ctx:
        assert retry_refunds(ctx) == {"refunded": 0, "failed": 0}  # idempotent
        assert next_refund_retry(ctx.session, rt.clock.now()) is None
    done = world.request(shop.shop_id, failing.id)
    assert (done.status, done.refund_error, done.refund_retry_at) == ("refunded", "", None)
    assert done.refund_id is not None
    assert world.history(shop.shop_id, failing.id)[-1] == ("refunded", "A6", None)
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 0
    assert [r.fell_back for r in _refund_rows(rt, shop.shop_id)] == [False, False]
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []


def test_A6_refund_failing_every_time_stops_after_max_attempts_and_tells_the_merchant(
    client: TestClient, world: World, shop: Any, rt: Runtime
) -> None:
    """A merchant's 同意退款 while the provider does not answer: the agreement stands (no
    500 over HTTP), retries run up to the maximum, then a notice asks the merchant, whose
    重新退款 pays once the provider answers."""
    rules = rt.settings.aftersales
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 5_000)
    _no_answer(rt)
    agreed = shop.api.post(f"/api/v1/aftersales/{req.id}/operate", {"action": "agree"})
    assert agreed.status_code == 200, agreed.text
    body = agreed.json()
    assert (body["status"], body["refund_attempts"]) == ("agreed", 1)
    assert body["refund_retry_at"] is not None and "支付渠道超时" in body["refund_error"]

    for attempt in range(2, rules.refund_max_attempts + 1):
        rt.clock.advance(rules.refund_retry_seconds)  # type: ignore[attr-defined]
        with rt.unit() as ctx:
            assert retry_refunds(ctx) == {"refunded": 0, "failed": 1}
        assert world.request(shop.shop_id, req.id).refund_attempts == attempt
    stopped = world.request(shop.shop_id, req.id)
    assert (stopped.status, stopped.refund_retry_at) == ("agreed", None)
    rt.clock.advance(24 * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert retry_refunds(ctx) == {"refunded": 0, "failed": 0}
        titles = [n.title for n in ctx.session.scalars(select(Notice))]
    assert titles.count(f"售后单 {req.id} 退款失败，请处理") == 1
    assert [a for a, _, _ in world.history(shop.shop_id, req.id)].count(
        "refund_failed"
    ) == rules.refund_max_attempts
    console_login(client, shop.username, shop.password)
    page = client.get(f"/console/aftersales/{req.id}").text
    assert "退款失败：支付渠道超时" in page and "已停止，请点击「重新退款」" in page
    assert 'data-testid="agree"' in page and "重新退款</button>" in page

    _answers_again(rt)
    again = shop.api.post(f"/api/v1/aftersales/{req.id}/operate", {"action": "agree"})
    assert again.status_code == 200 and again.json()["status"] == "refunded"
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 0
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []


def test_A3_A6_default_refund_refused_by_route_falls_back_to_platform_balance(
    world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)], route="alipay"), 5_000)
    with rt.unit() as ctx:
        payments.set_fault(ctx, "alipay", "refund", "原支付账户已注销")
    rt.clock.advance(rt.settings.aftersales.merchant_sla_hours * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert default_refund(ctx) == {"refunded": 1, "failed": 0}
    done = world.request(shop.shop_id, req.id)
    assert (done.status, done.refund_error, done.refund_attempts) == ("refunded", "", 0)
    (refund,) = _refund_rows(rt, shop.shop_id)
    assert refund.fell_back and refund.failure_reason == "原支付账户已注销"
    with rt.unit() as ctx:
        full = aftersales.get_request(ctx.session, shop.shop_id, req.id)
        notes = [h.note for h in aftersales.history(ctx.session, full)]
        assert any("已退至平台余额" in n for n in notes)
        assert ledger.balance(ctx.session, shop.shop_id, Account.BUYER_PLATFORM_BALANCE) == 5_000
        assert ledger.audit(ctx.session) == []


class _CountingProvider:
    """The payment provider as seen from outside: every refund call that reached it, kept
    outside the database so a rolled-back transaction cannot hide it."""

    def __init__(self) -> None:
        self.refunds: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, ctx: Any) -> Any:
        inner, calls = payments.LocalGateway(ctx), self

        class Gateway:
            def charge(self, *args: Any) -> payments.GatewayResult:
                return inner.charge(*args)

            def refund(
                self, shop_id: int, route: str, amount_fen: int, reference: str
            ) -> payments.GatewayResult:
                result = inner.refund(shop_id, route, amount_fen, reference)
                if result.ok:
                    with calls.lock:
                        calls.refunds.append((reference, amount_fen))
                return result

        return Gateway()


def test_A6_merchant_retry_racing_the_retry_sweep_pays_each_request_once_pg(
    pg_only: None, world: World, shop: Any, rt: Runtime
) -> None:
    """Eight agreed refunds failed; once the provider answers again the merchant presses 重新退款
    on each while the retry sweep runs: the provider is asked to pay each exactly once."""
    pid = world.product(shop.shop_id)
    reqs = [
        world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000) for _ in range(8)
    ]
    _no_answer(rt)
    for req in reqs:
        with rt.unit("user:1") as ctx:
            aftersales.agree(ctx, shop.shop_id, req.id)
    assert {world.request(shop.shop_id, r.id).status for r in reqs} == {"agreed"}
    _answers_again(rt)
    rt.clock.advance(rt.settings.aftersales.refund_retry_seconds)  # type: ignore[attr-defined]
    provider = _CountingProvider()
    payments.use_gateway(provider)
    try:
        barrier = threading.Barrier(2)

        def sweep() -> None:
            barrier.wait()
            with rt.unit() as ctx:
                retry_refunds(ctx)

        def merchant() -> None:
            barrier.wait()
            for req in reversed(reqs):
                with contextlib.suppress(Conflict), rt.unit("user:1") as ctx:
                    aftersales.agree(ctx, shop.shop_id, req.id)

        threads = [threading.Thread(target=sweep), threading.Thread(target=merchant)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        payments.use_gateway(payments.LocalGateway)
    assert len(provider.refunds) == 8
    assert {world.request(shop.shop_id, r.id).status for r in reqs} == {"refunded"}
    assert len(_refund_rows(rt, shop.shop_id)) == 8
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 8 * 4_000
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []


def test_A6_retry_after_a_provider_timeout_that_had_paid_does_not_pay_twice(
    world: World, shop: Any, rt: Runtime
) -> None:
    """The provider paid but its answer never came: the retry sends the same reference
    (one per request and amount), so the provider answers with the first payment."""
    from xiaodian.orders.models import PaymentCall

    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 5_000)
    _no_answer(rt, "wechat")
    rt.clock.advance(rt.settings.aftersales.merchant_sla_hours * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert default_refund(ctx) == {"refunded": 0, "failed": 1}
    reference = f"aftersale-refund:{req.id}:5000"
    with rt.unit() as ctx:  # what the provider did before its answer was lost
        ctx.session.add(
            PaymentCall(
                shop_id=shop.shop_id,
                operation="refund",
                route="wechat",
                amount_fen=5_000,
                reference=reference,
                ok=True,
                reason="",
                provider_ref="refund_paid_before_timeout",
                details={},
                created_at=ctx.now,
            )
        )
    _answers_again(rt, "wechat")
    rt.clock.advance(rt.settings.aftersales.refund_retry_seconds)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert retry_refunds(ctx) == {"refunded": 1, "failed": 0}
        calls = list(
            ctx.session.scalars(
                select(PaymentCall)
                .where(PaymentCall.reference == reference)
                .order_by(PaymentCall.id)
            )
        )
    assert [(c.ok, c.provider_ref) for c in calls] == [
        (True, "refund_paid_before_timeout"),
        (True, "refund_paid_before_timeout"),  # the retry is answered, not paid again
    ]
    assert calls[1].details == {"replay_of": calls[0].id}
    assert world.request(shop.shop_id, req.id).status == "refunded"
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 0
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []

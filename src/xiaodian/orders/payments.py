"""The payment-provider adapter (O5, A6: refunds go back by the original payment route).

``PaymentGateway`` is what the order service calls; ``LocalGateway`` is the implementation
that ships with xiaodian: it records every call in ``payment_calls`` and succeeds unless a
route has been told to fail (``set_fault`` — used by tests and the demo to exercise the
fallback route, or, with ``raises=True``, an adapter that raises). A real provider integration
implements the same two methods.

The reference is the caller's idempotency key, as with real providers (WeChat Pay
``out_refund_no``, Alipay ``out_request_no``): a call repeating a reference that already
succeeded pays nothing again and answers with the first result (the local gateway records it
as a replay). O5 relies on this: an auto-close refund keeps one reference per order across
retries.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, select

from xiaodian.context import Ctx
from xiaodian.db import insert_ignore
from xiaodian.orders.models import PaymentCall, PaymentFault


class PaymentProviderError(Exception):
    """The adapter got no answer (timeout, provider down): the outcome is unknown, so the
    caller must retry later with the same reference — never treat it as refused."""


@dataclass(frozen=True)
class GatewayResult:
    ok: bool
    reason: str = ""
    provider_ref: str = ""


class PaymentGateway(Protocol):
    def charge(
        self, shop_id: int, route: str, amount_fen: int, reference: str
    ) -> GatewayResult: ...

    def refund(
        self, shop_id: int, route: str, amount_fen: int, reference: str
    ) -> GatewayResult: ...


class LocalGateway:
    """Records every call; fails only for routes set with ``set_fault``; a reference that
    already succeeded is answered again without paying twice."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def charge(self, shop_id: int, route: str, amount_fen: int, reference: str) -> GatewayResult:
        return self._call("charge", shop_id, route, amount_fen, reference)

    def refund(self, shop_id: int, route: str, amount_fen: int, reference: str) -> GatewayResult:
        return self._call("refund", shop_id, route, amount_fen, reference)

    def _call(
        self, operation: str, shop_id: int, route: str, amount_fen: int, reference: str
    ) -> GatewayResult:
        session = self.ctx.session
        reference = reference[:64]
        first = self._succeeded(operation, shop_id, reference)
        details: dict[str, Any] = {}
        if first is not None:
            result = GatewayResult(ok=True, provider_ref=first.provider_ref)
            details = {"replay_of": first.id}
        else:
            fault = session.scalars(
                select(PaymentFault).where(
                    PaymentFault.route == route, PaymentFault.operation == operation
                )
            ).first()
            if fault is not None and fault.raises:
                raise PaymentProviderError(fault.reason)
            if fault is not None:
                result = GatewayResult(ok=False, reason=fault.reason)
            else:
                result = GatewayResult(ok=True, provider_ref=f"{operation}_{secrets.token_hex(8)}")
        session.add(
            PaymentCall(
                shop_id=shop_id,
                operation=operation,
                route=route,
                amount_fen=amount_fen,
                reference=reference,
                ok=result.ok,
                reason=result.reason[:200],
                provider_ref=result.provider_ref,
                details=details,
                created_at=self.ctx.now,
            )
        )
        session.flush()
        return result

    def _succeeded(self, operation: str, shop_id: int, reference: str) -> PaymentCall | None:
        """The first successful call with this reference, if any."""
        return self.ctx.session.scalars(
            select(PaymentCall)
            .where(
                PaymentCall.shop_id == shop_id,
                PaymentCall.reference == reference,
                PaymentCall.operation == operation,
                PaymentCall.ok.is_(True),
            )
            .order_by(PaymentCall.id)
            .limit(1)
        ).first()


GatewayFactory = Callable[[Ctx], PaymentGateway]
_factory: GatewayFactory = LocalGateway


def gateway(ctx: Ctx) -> PaymentGateway:
    return _factory(ctx)


def use_gateway(factory: GatewayFactory) -> None:
    """Install another provider adapter (process-wide)."""
    global _factory
    _factory = factory


def set_fault(
    ctx: Ctx, route: str, operation: str = "refund", reason: str = "", *, raises: bool = False
) -> None:
    """Local gateway: make every ``operation`` on ``route`` fail with ``reason`` — refused, or
    with ``raises`` the adapter raises ``PaymentProviderError`` (no answer)."""
    reason = reason or f"{route} 渠道{'退款' if operation == 'refund' else '支付'}失败（模拟）"
    insert_ignore(
        ctx.session,
        PaymentFault.__table__,
        [{"route": route, "operation": operation, "reason": reason[:200], "raises": raises}],
    )


def clear_fault(ctx: Ctx, route: str, operation: str = "refund") -> None:
    ctx.session.execute(
        delete(PaymentFault).where(PaymentFault.route == route, PaymentFault.operation == operation)
    )

"""The payment-provider adapter (O5, A6: refunds go back by the original payment route).

``PaymentGateway`` is what the order service calls; ``LocalGateway`` is the implementation
that ships with xiaodian: it records every call in ``payment_calls`` and succeeds unless a
route has been told to fail (``set_fault`` — used by tests and the demo to exercise the
fallback route). A real provider integration implements the same two methods.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, select

from xiaodian.context import Ctx
from xiaodian.db import insert_ignore
from xiaodian.orders.models import PaymentCall, PaymentFault


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
    """Records every call; fails only for routes set with ``set_fault``."""

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
        fault = session.scalars(
            select(PaymentFault).where(
                PaymentFault.route == route, PaymentFault.operation == operation
            )
        ).first()
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
                reference=reference[:64],
                ok=result.ok,
                reason=result.reason[:200],
                provider_ref=result.provider_ref,
                details={},
                created_at=self.ctx.now,
            )
        )
        session.flush()
        return result


GatewayFactory = Callable[[Ctx], PaymentGateway]
_factory: GatewayFactory = LocalGateway


def gateway(ctx: Ctx) -> PaymentGateway:
    return _factory(ctx)


def use_gateway(factory: GatewayFactory) -> None:
    """Install another provider adapter (process-wide)."""
    global _factory
    _factory = factory


def set_fault(ctx: Ctx, route: str, operation: str = "refund", reason: str = "") -> None:
    """Local gateway: make every ``operation`` on ``route`` fail with ``reason``."""
    reason = reason or f"{route} 渠道{'退款' if operation == 'refund' else '支付'}失败(模拟)"
    insert_ignore(
        ctx.session,
        PaymentFault.__table__,
        [{"route": route, "operation": operation, "reason": reason[:200]}],
    )


def clear_fault(ctx: Ctx, route: str, operation: str = "refund") -> None:
    ctx.session.execute(
        delete(PaymentFault).where(PaymentFault.route == route, PaymentFault.operation == operation)
    )

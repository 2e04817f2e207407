"""After-sales refunds 退款 (A6; issue 15 M3: its own SPEC section): an agreed request is paid
through orders — the original route, else the platform balance — and a refund that fails is
recorded and retried (``retry_due_refunds``, the ``aftersales.retry_refunds`` sweep) until
``refund_max_attempts``; then the merchant is told. When to retry is ``rules.refund_retry_at``.

``service.py`` re-exports these functions: callers import them from there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xiaodian.aftersales import rules
from xiaodian.aftersales.models import (
    KIND_LABELS,
    AfterSaleRequest,
    RequestKind,
    RequestStatus,
)
from xiaodian.aftersales.records import get_request, record, transition
from xiaodian.clock import to_local
from xiaodian.context import Ctx
from xiaodian.errors import XiaodianError
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.models import OrderStatus
from xiaodian.orders.payments import PaymentProviderError

S = RequestStatus


def pay_refund(ctx: Ctx, req: AfterSaleRequest, rule: str, strategy: str | None) -> bool:
    """A6: refund through orders (original route, platform-balance fallback, recorded). An
    agreed refund-only request on an unshipped order first stops late-shipment judgment.

    Returns whether the money went out. A refund that fails — the payment adapter got no
    answer (``PaymentProviderError``) or orders refused it — never undoes the agreement and is
    never lost: the attempt is rolled back (savepoint), the request stays 已同意退款 with the
    error recorded (history ``refund_failed``, event, webhook) and ``retry_refunds`` tries
    again ``refund_retry_seconds`` later; after ``refund_max_attempts`` the merchant is told
    and may agree again (which retries at once)."""
    order = orders.get_order(ctx.session, req.shop_id, req.order_id)
    if (
        req.kind == RequestKind.UNSHIPPED_REFUND
        and order.status == OrderStatus.AWAITING_SHIPMENT
        and order.refund_agreed_at is None
    ):
        orders.mark_refund_agreed(
            ctx, req.shop_id, order.id, reason=f"售后单 {req.id} 同意退款", rule="A6"
        )
    try:
        with ctx.session.begin_nested():
            refund = orders.refund(
                ctx,
                req.shop_id,
                order.id,
                req.amount_fen,
                f"售后单 {req.id}:{KIND_LABELS[req.kind]}",
                rule,
                reference=rules.refund_reference(req.id, req.amount_fen),
            )
    except (XiaodianError, PaymentProviderError) as exc:
        _refund_failed(ctx, req, strategy, exc)
        return False
    note = f"退款 {yuan_label(req.amount_fen)} 已原路退回"
    if refund.fell_back:
        note = (
            f"退款 {yuan_label(req.amount_fen)}：原路退回失败（{refund.failure_reason}），"
            "已退至平台余额"
        )
    transition(
        ctx,
        req,
        {S.AGREED},
        S.REFUNDED,
        "refunded",
        "A6",
        strategy=strategy,
        note=note,
        values={"refund_id": refund.id, "refund_error": "", "refund_retry_at": None},
    )
    return True


def _refund_failed(ctx: Ctx, req: AfterSaleRequest, strategy: str | None, exc: Exception) -> None:
    """A6: record a failed refund attempt and when it is retried (or that the merchant must
    act, after the last automatic attempt)."""
    reason = (exc.message_zh if isinstance(exc, XiaodianError) else str(exc)) or type(exc).__name__
    ctx.session.refresh(req)
    attempts = req.refund_attempts + 1
    retry_at = rules.refund_retry_at(attempts, ctx.now, ctx.settings.aftersales)
    ctx.session.execute(
        update(AfterSaleRequest)
        .where(AfterSaleRequest.id == req.id, AfterSaleRequest.shop_id == req.shop_id)
        .values(
            refund_error=f"退款失败：{reason}"[:300],
            refund_attempts=attempts,
            refund_retry_at=retry_at,
            updated_at=ctx.now,
        )
        .execution_options(synchronize_session=False)
    )
    ctx.session.refresh(req)
    if retry_at is not None:
        then = to_local(retry_at, ctx.settings.timezone)
        note = f"第 {attempts} 次退款失败（{reason}），将于 {then:%Y-%m-%d %H:%M:%S} 自动重试"
    else:
        note = f"第 {attempts} 次退款失败（{reason}），已停止自动重试，请商家处理"
        notify.notice(
            ctx,
            req.shop_id,
            category="aftersales",
            title=f"售后单 {req.id} 退款失败，请处理",
            body=f"{note}。可在售后详情页点击「重新退款」重试。",
            link=f"/console/aftersales/{req.id}",
            rule="A6",
        )
    record(ctx, req, "refund_failed", req.status, req.status, "A6", strategy=strategy, note=note)


def retry_due_refunds(ctx: Ctx) -> dict[str, int]:
    """A6: agreed refunds whose retry time has come, claimed in one conditional UPDATE (the
    retry time cleared, so a second run or worker finds nothing) and paid again."""
    claimed = ctx.session.execute(
        update(AfterSaleRequest)
        .where(AfterSaleRequest.refund_retry_at <= ctx.now, AfterSaleRequest.status == S.AGREED)
        .values(refund_retry_at=None)
        .returning(AfterSaleRequest.id, AfterSaleRequest.shop_id)
        .execution_options(synchronize_session=False)
    ).all()
    counts = {"refunded": 0, "failed": 0}
    for request_id, shop_id in sorted(claimed):
        req = get_request(ctx.session, shop_id, request_id)
        ctx.session.refresh(req)
        paid = pay_refund(ctx, req, "A6", req.decided_strategy)
        counts["refunded" if paid else "failed"] += 1
    return counts


def next_refund_retry(session: Session) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.min(AfterSaleRequest.refund_retry_at)).where(
            AfterSaleRequest.status == S.AGREED
        )
    )
    return value

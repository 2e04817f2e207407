"""What the after-sales operations share (issue 15 M3): the request lookup, the conditional
state change (``transition``) and the history row + event every change writes (``record``).
``service.py`` (A1, A3–A5), ``refunds.py`` (A6) and ``evidence.py`` (A1/A4 uploads) use them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from xiaodian.aftersales.models import (
    STATUS_LABELS,
    AfterSaleRequest,
    RequestHistory,
    RequestStatus,
)
from xiaodian.context import Ctx
from xiaodian.db import get_owned, rowcount
from xiaodian.errors import Conflict
from xiaodian.notify import service as notify

S = RequestStatus


def get_request(session: Session, shop_id: int, request_id: int) -> AfterSaleRequest:
    """The shop's request; another shop's is NotFound (X2)."""
    return get_owned(
        session, AfterSaleRequest, shop_id, request_id, ("售后单", "After-sale request")
    )


def transition(
    ctx: Ctx,
    req: AfterSaleRequest,
    allowed: set[str],
    to: str,
    action: str,
    rule: str,
    *,
    strategy: str | None = None,
    note: str = "",
    values: dict[str, Any] | None = None,
) -> None:
    """Conditional state change: succeeds only if the row is still in an allowed status."""
    before = req.status
    values = dict(values or {})
    if to != S.PENDING:
        values["due_at"] = None
    result = ctx.session.execute(
        update(AfterSaleRequest)
        .where(
            AfterSaleRequest.id == req.id,
            AfterSaleRequest.shop_id == req.shop_id,
            AfterSaleRequest.status.in_(allowed),
        )
        .values(status=to, updated_at=ctx.now, **values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        ctx.session.refresh(req)
        raise Conflict(
            "aftersale_state_changed",
            f"售后单状态已变为「{STATUS_LABELS.get(req.status, req.status)}」，请刷新后重试",
            f"The request is now {req.status}; reload and retry",
        )
    ctx.session.refresh(req)
    record(ctx, req, action, before, to, rule, strategy=strategy, note=note)


def record(
    ctx: Ctx,
    req: AfterSaleRequest,
    action: str,
    from_status: str | None,
    to_status: str,
    rule: str,
    *,
    strategy: str | None = None,
    note: str = "",
) -> None:
    """One history row of the request and its ``aftersale.<action>`` event (X1), naming the
    rule and strategy that acted."""
    ctx.session.add(
        RequestHistory(
            shop_id=req.shop_id,
            request_id=req.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            rule=rule,
            strategy=strategy,
            actor=ctx.actor,
            note=note[:500],
            at=ctx.now,
        )
    )
    ctx.session.flush()
    notify.emit(
        ctx,
        req.shop_id,
        f"aftersale.{action}",
        {
            "request_id": req.id,
            "order_id": req.order_id,
            "kind": req.kind,
            "from_status": from_status,
            "status": to_status,
            "amount_fen": req.amount_fen,
            "strategy": strategy,
            "note": note,
        },
        rule=rule,
    )

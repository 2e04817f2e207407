"""Time-driven after-sales rules (sweeps), set-based and idempotent.

* A3 ``aftersales.default_refund`` — a pending 已发货仅退款 request whose ``due_at`` (applied +
  48 h) has come is claimed in one ``UPDATE … WHERE due_at <= now AND status = 'pending'
  RETURNING`` (at 48 h exactly, not before) and refunded by default; a merchant action racing
  it changes the same row conditionally, so exactly one of them wins (never refunded twice).
  Each refund runs in a savepoint: one that fails (the payment adapter got no answer, orders
  refused it) stays 已同意退款 with its error recorded, and the others go on.
* A6 ``aftersales.retry_refunds`` — those failed refunds are claimed again when their retry
  time comes (``refund_retry_seconds``), up to ``refund_max_attempts``; then the merchant is
  told (notice) and may agree again.
* A2.3 ``aftersales.interceptions`` — the local carrier answers interceptions that are due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xiaodian.aftersales import logistics
from xiaodian.aftersales import service as requests
from xiaodian.aftersales.models import AfterSaleRequest, RequestStatus
from xiaodian.context import Ctx, Sweep


def default_refund(ctx: Ctx) -> dict[str, int]:
    """A3: the merchant did not act within 48 h → the system refunds by default."""
    claimed = ctx.session.execute(
        update(AfterSaleRequest)
        .where(
            AfterSaleRequest.due_at <= ctx.now,
            AfterSaleRequest.status == RequestStatus.PENDING,
        )
        .values(
            status=RequestStatus.AGREED,
            due_at=None,
            updated_at=ctx.now,
            decided_at=ctx.now,
            decided_rule="A3",
            decided_strategy=None,
            change_request=None,
        )
        .returning(AfterSaleRequest.id, AfterSaleRequest.shop_id)
        .execution_options(synchronize_session=False)
    ).all()
    counts = {"refunded": 0, "failed": 0}
    for request_id, shop_id in claimed:
        req = requests.get_request(ctx.session, shop_id, request_id)
        ctx.session.refresh(req)
        requests.record(
            ctx,
            req,
            "agreed",
            RequestStatus.PENDING,
            RequestStatus.AGREED,
            "A3",
            note=f"商家{ctx.settings.aftersales.merchant_sla_hours}小时内未处理，系统默认退款",
        )
        paid = requests.pay_refund(ctx, req, "A3", None)
        counts["refunded" if paid else "failed"] += 1
    return counts


def next_default_refund(session: Session, now: datetime) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.min(AfterSaleRequest.due_at)).where(
            AfterSaleRequest.status == RequestStatus.PENDING
        )
    )
    return value


def retry_refunds(ctx: Ctx) -> dict[str, int]:
    """A6: agreed refunds that failed (provider no answer, refused) are tried again."""
    return requests.retry_due_refunds(ctx)


def next_refund_retry(session: Session, now: datetime) -> datetime | None:
    return requests.next_refund_retry(session)


def interceptions(ctx: Ctx) -> dict[str, int]:
    return logistics.resolve_due_interceptions(ctx)


def next_interception(session: Session, now: datetime) -> datetime | None:
    value: datetime | None = logistics.next_interception_due(session, now)
    return value


def collect_fees(ctx: Ctx) -> dict[str, int]:
    return logistics.collect_unpaid_fees(ctx)


SWEEPS = [
    Sweep("aftersales.interceptions", "A2.3", interceptions, next_interception),
    # No next_due: a balance top-up, not the clock, makes an unpaid fee collectable.
    Sweep("aftersales.collect_fees", "A2.3", collect_fees),
    Sweep("aftersales.default_refund", "A3", default_refund, next_default_refund),
    Sweep("aftersales.retry_refunds", "A6", retry_refunds, next_refund_retry),
]

"""After-sale requests, evidence, packages and strategies → API shapes (SPEC §4; issue 15 M5:
every context's response mapping lives in its ``mappers.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from xiaodian.aftersales import logistics, strategies
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.experience import CompletionTime
from xiaodian.aftersales.models import (
    KIND_LABELS,
    STATUS_LABELS,
    STRATEGY_LABELS,
    STRATEGY_RULES,
    AfterSaleRequest,
    Evidence,
    Package,
)
from xiaodian.aftersales.reasons import BUYER_REASONS
from xiaodian.aftersales.schemas import (
    BatchItemOut,
    BatchOut,
    CancelShipmentOut,
    CompletionTimeOut,
    EvidenceOut,
    HistoryOut,
    ItemIn,
    PackageOut,
    RequestDetail,
    RequestOut,
    StrategyOut,
)
from xiaodian.aftersales.service import BatchResult
from xiaodian.context import Ctx
from xiaodian.orders import service as orders


def request_out(ctx: Ctx, r: AfterSaleRequest, masked: bool = True) -> RequestOut:
    return RequestOut(**_fields(ctx, r, masked))


def _fields(ctx: Ctx, r: AfterSaleRequest, masked: bool) -> dict[str, Any]:
    order = orders.get_order(ctx.session, r.shop_id, r.order_id)
    reason = BUYER_REASONS.get(r.kind, {}).get(r.reason)
    return {
        "id": r.id,
        "order_id": r.order_id,
        "order_no": order.order_no,
        "buyer_name": order.buyer_name,
        "buyer_phone": orders.mask_phone(order.buyer_phone) if masked else order.buyer_phone,
        "kind": r.kind,
        "kind_label": KIND_LABELS.get(r.kind, r.kind),
        "status": r.status,
        "status_label": STATUS_LABELS.get(r.status, r.status),
        "amount_fen": r.amount_fen,
        "items": [ItemIn(**i) for i in r.items],
        "reason": r.reason,
        "reason_label": reason.label if reason else r.reason,
        "note": r.note,
        "applied_at": r.applied_at,
        "due_at": r.due_at,
        "remaining_seconds": max(0, int((r.due_at - ctx.now).total_seconds()))
        if r.due_at
        else None,
        "decided_rule": r.decided_rule,
        "decided_strategy": r.decided_strategy,
        "reject_reason": r.reject_reason,
        "refund_id": r.refund_id,
        "refund_error": r.refund_error,
        "refund_attempts": r.refund_attempts,
        "refund_retry_at": r.refund_retry_at,
        "change_request": r.change_request,
    }


def detail_out(ctx: Ctx, r: AfterSaleRequest, masked: bool = True) -> RequestDetail:
    session = ctx.session
    return RequestDetail(
        **_fields(ctx, r, masked),
        history=[
            HistoryOut(
                action=h.action,
                from_status=h.from_status,
                to_status=h.to_status,
                rule=h.rule,
                strategy=h.strategy,
                actor=h.actor,
                note=h.note,
                at=h.at,
            )
            for h in aftersales.history(session, r)
        ],
        evidence=[evidence_out(e) for e in aftersales.evidence_of(session, r)],
        packages=packages_out(session, r.shop_id, r.order_id),
    )


def evidence_out(e: Evidence) -> EvidenceOut:
    return EvidenceOut(
        id=e.id,
        party=e.party,
        filename=e.filename,
        content_type=e.content_type,
        size_bytes=e.size_bytes,
        sha256=e.sha256,
        created_at=e.created_at,
    )


def packages_out(session: Session, shop_id: int, order_id: int) -> list[PackageOut]:
    return [package_out(session, p) for p in logistics.packages_of(session, shop_id, order_id)]


def package_out(session: Session, p: Package) -> PackageOut:
    rows = logistics.package_items(session, p.shop_id, [p.id])
    return PackageOut(
        id=p.id,
        order_id=p.order_id,
        seq=p.seq,
        carrier=p.carrier,
        tracking_no=p.tracking_no,
        status=p.status,
        interception=p.interception,
        interception_fail_reason=p.interception_fail_reason,
        fee_fen=p.fee_fen,
        fee_status=p.fee_status,
        items=[ItemIn(order_item_id=i.order_item_id, qty=i.qty) for i in rows],
    )


def strategies_out(session: Session, shop_id: int) -> list[StrategyOut]:
    return [
        StrategyOut(
            code=code,
            label=STRATEGY_LABELS[code],
            rule=STRATEGY_RULES[code],
            created=row is not None,
            enabled=bool(row and row.enabled),
            threshold_fen=row.threshold_fen if row else None,
        )
        for code, row in strategies.list_strategies(session, shop_id).items()
    ]


def batch_out(results: list[BatchResult]) -> BatchOut:
    ok = sum(1 for r in results if r.ok)
    items = [BatchItemOut(**r.__dict__) for r in results]
    return BatchOut(results=items, succeeded=ok, failed=len(results) - ok)


def completion_time_out(got: CompletionTime) -> CompletionTimeOut:
    return CompletionTimeOut(**got.__dict__)


def cancel_shipment_out(
    ctx: Ctx, order_id: int, cancelled: list[Package], req: AfterSaleRequest | None
) -> CancelShipmentOut:
    return CancelShipmentOut(
        order_id=order_id,
        cancelled_package_ids=[p.id for p in cancelled],
        request=request_out(ctx, req) if req is not None else None,
    )

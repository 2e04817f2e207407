"""Orders, products, violations and the O9 rating → API shapes (SPEC §3; issue 15 M5: every
context's response mapping lives in its ``mappers.py``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from xiaodian.orders import service
from xiaodian.orders.models import PENALTY_LABELS, STATUS_LABELS, Order, OrderViolation, Product
from xiaodian.orders.product_rules import BAN_RULE, PRODUCT_STATUS_LABELS, product_status
from xiaodian.orders.schemas import (
    DailyCount,
    HistoryOut,
    OrderDetail,
    OrderItemOut,
    OrderSummary,
    ProductOut,
    RatingOut,
    RefundOut,
    ShipBatchOut,
    ShipRowOut,
    ViolationOut,
)
from xiaodian.orders.service import Rating


def product_out(p: Product, default_hours: int) -> ProductOut:
    status = product_status(p)
    banned = p.banned_at is not None
    return ProductOut(
        id=p.id,
        title=p.title,
        price_fen=p.price_fen,
        stock=p.stock,
        ship_within_hours=p.ship_within_hours,
        effective_ship_within_hours=p.ship_within_hours or default_hours,
        status=status,
        status_label=PRODUCT_STATUS_LABELS[status],
        listed=p.delisted_at is None,
        delisted_at=p.delisted_at,
        banned=banned,
        banned_at=p.banned_at,
        ban_reason=p.ban_reason,
        ban_rule=BAN_RULE if banned else None,
        ban_order_id=p.ban_order_id if banned else None,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def summary_out(o: Order, *, masked: bool = True) -> OrderSummary:
    return OrderSummary(**_summary_fields(o, masked))


def _summary_fields(o: Order, masked: bool) -> dict[str, object]:
    return {
        "id": o.id,
        "order_no": o.order_no,
        "status": o.status,
        "status_label": STATUS_LABELS.get(o.status, o.status),
        "buyer_name": o.buyer_name,
        "buyer_phone": service.mask_phone(o.buyer_phone) if masked else o.buyer_phone,
        "payment_route": o.payment_route,
        "goods_fen": o.goods_fen,
        "discount_fen": o.discount_fen,
        "paid_fen": o.paid_fen,
        "refunded_fen": o.refunded_fen,
        "after_sale": o.after_sale,
        "violation_count": o.violation_count,
        "created_at": o.created_at,
        "paid_at": o.paid_at,
        "ship_by": o.ship_by,
        "shipped_at": o.shipped_at,
        "carrier": o.carrier,
        "tracking_no": o.tracking_no,
        "closed_at": o.closed_at,
        "close_reason": o.close_reason,
    }


def violation_out(v: OrderViolation, order_no: str) -> ViolationOut:
    return ViolationOut(
        id=v.id,
        order_id=v.order_id,
        order_no=order_no,
        seq=v.seq,
        due_at=v.due_at,
        judged_at=v.judged_at,
        penalty_day=v.penalty_day,
        penalty_fen=v.penalty_fen,
        penalty_status=v.penalty_status,
        penalty_status_label=PENALTY_LABELS.get(v.penalty_status, v.penalty_status),
        penalty_decided_at=v.penalty_decided_at,
        ledger_txn_id=v.ledger_txn_id,
    )


def detail_out(session: Session, o: Order, *, masked: bool = False) -> OrderDetail:
    return OrderDetail(
        **_summary_fields(o, masked),
        buyer_id=o.buyer_id,
        address=o.address,
        completed_at=o.completed_at,
        refund_agreed_at=o.refund_agreed_at,
        next_judge_at=o.next_judge_at,
        auto_close_at=o.auto_close_at,
        items=[
            OrderItemOut(
                order_item_id=i.id,
                product_id=i.product_id,
                title=i.title,
                qty=i.qty,
                unit_price_fen=i.unit_price_fen,
                amount_fen=i.amount_fen,
            )
            for i in service.order_items(session, o)
        ],
        history=[
            HistoryOut(
                from_status=h.from_status,
                to_status=h.to_status,
                rule=h.rule,
                actor=h.actor,
                note=h.note,
                at=h.at,
            )
            for h in service.order_history(session, o)
        ],
        refunds=[
            RefundOut(
                id=r.id,
                amount_fen=r.amount_fen,
                reason=r.reason,
                rule=r.rule,
                original_route=r.original_route,
                route=r.route,
                fell_back=r.fell_back,
                failure_reason=r.failure_reason,
                created_at=r.created_at,
            )
            for r in service.order_refunds(session, o)
        ],
        violations=[violation_out(v, o.order_no) for v in service.order_violations(session, o)],
    )


def batch_out(rows: list[service.ShipRow]) -> ShipBatchOut:
    out = [
        ShipRowOut(
            row=r.row,
            order_no=r.order_no,
            carrier=r.carrier,
            tracking_no=r.tracking_no,
            result="shipped" if r.result == "shipped" else "error",
            code=r.code,
            message_zh=r.message_zh,
            message_en=r.message_en,
        )
        for r in rows
    ]
    shipped = sum(1 for r in out if r.result == "shipped")
    return ShipBatchOut(total=len(out), shipped=shipped, errors=len(out) - shipped, rows=out)


def rating_out(r: Rating) -> RatingOut:
    """O9: the service's rating as the API shows it (same field names; its days are ``daily``)."""
    fields = {name: getattr(r, name) for name in RatingOut.model_fields if name != "daily"}
    daily = [DailyCount.model_validate(d, from_attributes=True) for d in r.days]
    return RatingOut(**fields, daily=daily)

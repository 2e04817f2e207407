"""After-sale requests (A1, A3–A6): apply, modify, withdraw, agree, reject, refund.

Every state change is one conditional ``UPDATE … WHERE status IN (allowed)``: when a merchant
action, a strategy and the 48 h sweep race for the same request, exactly one wins and the
others see "state changed" — a request is never refunded twice. Each change writes a history
row and emits ``aftersale.<action>`` (webhooks, X1) naming the rule (and strategy) that made it.

The SPEC sections that stand alone are modules of their own, re-exported here: refunds (A6)
``refunds.py``, evidence uploads (A1/A4) ``evidence.py``, the shared state change and history
``records.py``; the decisions are ``rules.py``.

Strategies (A2) react to ``aftersale.created`` / ``aftersale.modified`` and to logistics events
through ``subscribers.py``; this module does not know them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import experience, rules

# M3: the SPEC sections in their own modules; callers and tests keep using service.
from xiaodian.aftersales.evidence import LINK_PREFIX as LINK_PREFIX
from xiaodian.aftersales.evidence import buyer_upload as buyer_upload
from xiaodian.aftersales.evidence import check_evidence_file as check_evidence_file
from xiaodian.aftersales.evidence import evidence_bytes as evidence_bytes
from xiaodian.aftersales.evidence import link_evidence as link_evidence
from xiaodian.aftersales.evidence import merchant_upload as merchant_upload
from xiaodian.aftersales.evidence import save_evidence as save_evidence
from xiaodian.aftersales.models import (
    KIND_LABELS,
    OPEN_STATUSES,
    STATUS_LABELS,
    AfterSaleRequest,
    Evidence,
    RequestHistory,
    RequestKind,
    RequestStatus,
)
from xiaodian.aftersales.reasons import BUYER_REASONS, REJECT_REASONS
from xiaodian.aftersales.records import get_request as get_request
from xiaodian.aftersales.records import record as record
from xiaodian.aftersales.records import transition
from xiaodian.aftersales.refunds import next_refund_retry as next_refund_retry
from xiaodian.aftersales.refunds import pay_refund as pay_refund
from xiaodian.aftersales.refunds import retry_due_refunds as retry_due_refunds
from xiaodian.clock import local_day_start
from xiaodian.context import Ctx
from xiaodian.db import get_owned, is_postgres
from xiaodian.errors import Conflict, NotFound, ValidationFailed, XiaodianError, field_error
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.carriers import find_carrier, normalize_tracking
from xiaodian.orders.models import AfterSale, Order

S = RequestStatus

# ----- lookups -----------------------------------------------------------------------------


def buyer_request(session: Session, buyer_id: int, request_id: int) -> AfterSaleRequest:
    row = session.get(AfterSaleRequest, request_id)
    if row is None or row.buyer_id != buyer_id:
        raise NotFound("售后单", "After-sale request", request_id)
    return row


def history(session: Session, req: AfterSaleRequest) -> list[RequestHistory]:
    return list(
        session.scalars(
            select(RequestHistory)
            .where(RequestHistory.shop_id == req.shop_id, RequestHistory.request_id == req.id)
            .order_by(RequestHistory.id)
        )
    )


def evidence_of(session: Session, req: AfterSaleRequest) -> list[Evidence]:
    return list(
        session.scalars(
            select(Evidence)
            .where(Evidence.shop_id == req.shop_id, Evidence.request_id == req.id)
            .order_by(Evidence.id)
        )
    )


def get_evidence(session: Session, shop_id: int, evidence_id: int) -> Evidence:
    return get_owned(session, Evidence, shop_id, evidence_id, ("举证材料", "Evidence"))


def open_request_for(session: Session, shop_id: int, order_id: int) -> AfterSaleRequest | None:
    return session.scalars(
        select(AfterSaleRequest).where(
            AfterSaleRequest.shop_id == shop_id,
            AfterSaleRequest.order_id == order_id,
            AfterSaleRequest.status.in_(OPEN_STATUSES),
        )
    ).first()


@dataclass(frozen=True)
class RequestFilter:
    """A3 workbench search: order no., customer name, customer phone, apply date."""

    kind: str | None = None
    status: str | None = None
    order_no: str | None = None
    buyer_name: str | None = None
    buyer_phone: str | None = None
    apply_date: date | None = None  # the day the buyer applied (Asia/Shanghai)


def filtered_query(shop_id: int, f: RequestFilter, tz: str) -> Select[AfterSaleRequest]:
    query = (
        select(AfterSaleRequest)
        .join(Order, (Order.id == AfterSaleRequest.order_id) & (Order.shop_id == shop_id))
        .where(AfterSaleRequest.shop_id == shop_id)
    )
    if f.kind:
        query = query.where(AfterSaleRequest.kind == f.kind)
    if f.status:
        query = query.where(AfterSaleRequest.status == f.status)
    if f.order_no:
        query = query.where(Order.order_no == f.order_no.strip())
    if f.buyer_name:
        query = query.where(Order.buyer_name.startswith(f.buyer_name.strip(), autoescape=True))
    if f.buyer_phone:
        phone = f.buyer_phone.strip()
        query = query.where(
            Order.buyer_phone == phone
            if len(phone) == 11
            else Order.buyer_phone.endswith(phone, autoescape=True)
        )
    if f.apply_date:
        from datetime import UTC

        noon = datetime(f.apply_date.year, f.apply_date.month, f.apply_date.day, 4, tzinfo=UTC)
        start = local_day_start(noon, tz)
        query = query.where(
            AfterSaleRequest.applied_at >= start,
            AfterSaleRequest.applied_at < start + timedelta(days=1),
        )
    return query


def list_requests(
    session: Session,
    shop_id: int,
    f: RequestFilter,
    *,
    tz: str = "Asia/Shanghai",
    before_id: int | None = None,
    limit: int = 20,
) -> list[tuple[AfterSaleRequest, Order]]:
    query = filtered_query(shop_id, f, tz).add_columns(Order).order_by(AfterSaleRequest.id.desc())
    if before_id is not None:
        query = query.where(AfterSaleRequest.id < before_id)
    return [(r, o) for r, o in session.execute(query.limit(limit))]


def count_pending_shipped(session: Session, shop_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                AfterSaleRequest.shop_id == shop_id,
                AfterSaleRequest.kind == RequestKind.SHIPPED_REFUND,
                AfterSaleRequest.status == S.PENDING,
            )
        )
        or 0
    )


def nearest_pending_due(session: Session, shop_id: int) -> datetime | None:
    """U3: the earliest A3 deadline among the requests ``count_pending_shipped`` counts (the
    dashboard's 48 h countdown); ``None`` when none waits."""
    due: datetime | None = session.scalar(
        select(func.min(AfterSaleRequest.due_at)).where(
            AfterSaleRequest.shop_id == shop_id,
            AfterSaleRequest.kind == RequestKind.SHIPPED_REFUND,
            AfterSaleRequest.status == S.PENDING,
        )
    )
    return due


# ----- A1 apply, A5 modify / withdraw ------------------------------------------------------


@dataclass(frozen=True)
class ItemQty:
    order_item_id: int
    qty: int


def max_refundable(session: Session, order: Order, items: list[ItemQty]) -> int:
    """What the buyer paid for these items: their share of the paid amount (discounts spread
    pro rata, rounded down; all items at full quantity = everything paid), never more than is
    still refundable on the order."""
    by_id = {i.id: i for i in orders.order_items(session, order)}
    chosen = sum(by_id[i.order_item_id].unit_price_fen * i.qty for i in items)
    whole = all(
        sum(i.qty for i in items if i.order_item_id == item.id) == item.qty
        for item in by_id.values()
    )
    share = order.paid_fen if whole else order.paid_fen * chosen // max(order.goods_fen, 1)
    return max(0, min(share, order.paid_fen - order.refunded_fen))


def _refunded_qty(session: Session, order: Order) -> dict[int, int]:
    done: dict[int, int] = {}
    for items in session.scalars(
        select(AfterSaleRequest.items).where(
            AfterSaleRequest.shop_id == order.shop_id,
            AfterSaleRequest.order_id == order.id,
            AfterSaleRequest.status == S.REFUNDED,
        )
    ):
        for item in items:
            key = int(item["order_item_id"])
            done[key] = done.get(key, 0) + int(item["qty"])
    return done


def _validate(
    session: Session,
    order: Order,
    kind: str,
    items: list[ItemQty],
    amount_fen: int,
    reason: str,
    image_ids: list[int],
) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if kind not in BUYER_REASONS:
        return [field_error("kind", f"未知售后类型 {kind}", f"Unknown kind {kind}")]
    if reason not in BUYER_REASONS[kind]:
        choices = "、".join(r.label for r in BUYER_REASONS[kind].values())
        errors.append(
            field_error(
                "reason",
                f"请选择申请原因：{choices}",
                f"Choose a reason: {list(BUYER_REASONS[kind])}",
            )
        )
    elif BUYER_REASONS[kind][reason].images_required and not image_ids:
        label = BUYER_REASONS[kind][reason].label
        errors.append(
            field_error("images", f"原因「{label}」须上传图片凭证", f"{reason} needs photos")
        )
    by_id = {i.id: i for i in orders.order_items(session, order)}
    done = _refunded_qty(session, order)
    if not items:
        errors.append(field_error("items", "请选择退款商品", "Choose the items to refund"))
    if len({i.order_item_id for i in items}) != len(items):
        errors.append(field_error("items", "同一商品请合并数量", "List each item once"))
    for i in items:
        item = by_id.get(i.order_item_id)
        if item is None:
            errors.append(
                field_error(
                    "items",
                    f"订单中没有商品 {i.order_item_id}",
                    f"Item {i.order_item_id} is not in this order",
                )
            )
        elif not 1 <= i.qty <= item.qty - done.get(item.id, 0):
            left = item.qty - done.get(item.id, 0)
            errors.append(
                field_error(
                    "items",
                    f"「{item.title}」可退数量为 1–{left}",
                    f"Item {item.id}: quantity must be 1–{left}",
                )
            )
    if errors:
        return errors
    maximum = max_refundable(session, order, items)
    if not isinstance(amount_fen, int) or not 1 <= amount_fen <= maximum:
        errors.append(
            field_error(
                "amount_fen",
                f"退款金额不能超过 {yuan_label(maximum)}（所选商品实付），"
                f"须在 ¥0.01 到 {yuan_label(maximum)} 之间",
                f"Refund amount must be between 1 and {maximum} fen (paid for these items)",
            )
            | {"max_fen": maximum}
        )
    return errors


def _lock_order(session: Session, order: Order) -> None:
    """Serialize applications on one order (SQLite serializes writers already)."""
    if is_postgres(session):
        session.execute(
            select(Order.id)
            .where(Order.id == order.id, Order.shop_id == order.shop_id)
            .with_for_update()
        ).all()


def _attach_images(
    ctx: Ctx, shop_id: int, buyer_id: int, request_id: int, image_ids: list[int]
) -> None:
    for evidence_id in image_ids:
        ev = ctx.session.get(Evidence, evidence_id)
        if (
            ev is None
            or ev.shop_id != shop_id
            or ev.party != "buyer"
            or ev.uploaded_by != f"buyer:{buyer_id}"
            or ev.request_id not in (None, request_id)
        ):
            raise ValidationFailed(
                "invalid_images",
                f"图片凭证 {evidence_id} 不存在或已被使用",
                f"Image {evidence_id} not found or already used",
                field="images",
            )
        ev.request_id = request_id


def apply(
    ctx: Ctx,
    buyer: Buyer,
    order_id: int,
    *,
    kind: str,
    items: list[ItemQty],
    amount_fen: int,
    reason: str,
    note: str = "",
    image_ids: list[int] | None = None,
) -> AfterSaleRequest:
    """A1: the buyer applies. Amount ≤ what was paid for the chosen items (the error states the
    maximum). One open request per order. A 已发货仅退款 request gets the A3 deadline."""
    image_ids = image_ids or []
    order = orders.buyer_order(ctx.session, buyer.id, order_id)
    _lock_order(ctx.session, order)
    ctx.session.refresh(order)
    if kind in BUYER_REASONS:
        refusal = rules.kind_refusal(order, kind)
        if refusal is not None:
            raise refusal
    errors = _validate(ctx.session, order, kind, items, amount_fen, reason, image_ids)
    if errors:
        raise ValidationFailed(
            "invalid_aftersale", "售后申请信息有误", "Invalid after-sale request", errors=errors
        )
    if open_request_for(ctx.session, order.shop_id, order.id) is not None:
        raise Conflict(
            "aftersale_in_progress",
            "该订单已有进行中的售后单",
            "This order already has an open after-sale request",
            rule="A1",
        )
    req = AfterSaleRequest(
        shop_id=order.shop_id,
        order_id=order.id,
        buyer_id=buyer.id,
        kind=kind,
        status=S.PENDING,
        amount_fen=amount_fen,
        items=[{"order_item_id": i.order_item_id, "qty": i.qty} for i in items],
        reason=reason,
        note=note.strip()[:500],
        applied_at=ctx.now,
        updated_at=ctx.now,
        due_at=_deadline(ctx, kind),
        reject_note="",
        refund_error="",
    )
    ctx.session.add(req)
    ctx.session.flush()
    _attach_images(ctx, order.shop_id, buyer.id, req.id, image_ids)
    orders.set_after_sale(ctx, order.shop_id, order.id, AfterSale.IN_PROGRESS, "A1")
    label = BUYER_REASONS[kind][reason].label
    record(ctx, req, "created", None, S.PENDING, "A1", note=f"{KIND_LABELS[kind]}:{label}")
    ctx.session.refresh(req)
    return req


def _deadline(ctx: Ctx, kind: str) -> datetime | None:
    """A3 (``rules.merchant_deadline``) from now."""
    return rules.merchant_deadline(kind, ctx.now, ctx.settings.aftersales.merchant_sla_hours)


_CHANGE_AFTER_AGREEMENT = {S.AGREED_ON_REFUSAL, S.AWAITING_RETURN}


def withdraw(ctx: Ctx, buyer_id: int, request_id: int, note: str = "") -> AfterSaleRequest:
    """A5: while pending the buyer withdraws at once; after the merchant agreed (waiting for
    refusal / for the return) it becomes a change request the merchant must approve."""
    req = buyer_request(ctx.session, buyer_id, request_id)
    if req.status == S.PENDING:
        _close_without_refund(ctx, req, {S.PENDING}, S.WITHDRAWN, "withdrawn", "A5", note)
        return req
    if req.status in _CHANGE_AFTER_AGREEMENT:
        return _ask_change(ctx, req, {"type": "withdraw", "note": note[:200]})
    raise _not_now(req, "撤销", "withdraw")


def modify(
    ctx: Ctx,
    buyer_id: int,
    request_id: int,
    *,
    items: list[ItemQty] | None = None,
    amount_fen: int | None = None,
    reason: str | None = None,
    note: str | None = None,
) -> AfterSaleRequest:
    """A5: modify items/amount/reason. Pending → applied at once (the A3 deadline restarts);
    after agreement → a change request the merchant approves."""
    req = buyer_request(ctx.session, buyer_id, request_id)
    change: dict[str, Any] = {
        "type": "modify",
        "items": [{"order_item_id": i.order_item_id, "qty": i.qty} for i in items]
        if items is not None
        else req.items,
        "amount_fen": req.amount_fen if amount_fen is None else amount_fen,
        "reason": req.reason if reason is None else reason,
        "note": req.note if note is None else note[:500],
    }
    order = orders.get_order(ctx.session, req.shop_id, req.order_id)
    errors = _validate(
        ctx.session,
        order,
        req.kind,
        [ItemQty(int(i["order_item_id"]), int(i["qty"])) for i in change["items"]],
        change["amount_fen"],
        change["reason"],
        [e.id for e in evidence_of(ctx.session, req) if e.party == "buyer"],
    )
    if errors:
        raise ValidationFailed(
            "invalid_aftersale", "售后申请信息有误", "Invalid after-sale request", errors=errors
        )
    if req.status == S.PENDING:
        _apply_modification(ctx, req, change, {S.PENDING}, "A5")
        return req
    if req.status in _CHANGE_AFTER_AGREEMENT:
        return _ask_change(ctx, req, change)
    raise _not_now(req, "修改", "modify")


def _apply_modification(
    ctx: Ctx, req: AfterSaleRequest, change: dict[str, Any], allowed: set[str], rule: str
) -> None:
    transition(
        ctx,
        req,
        allowed,
        S.PENDING,
        "modified",
        rule,
        note=f"金额 {yuan_label(change['amount_fen'])}",
        values={
            "items": change["items"],
            "amount_fen": change["amount_fen"],
            "reason": change["reason"],
            "note": change["note"],
            "change_request": None,
            "due_at": _deadline(ctx, req.kind),
            "decided_at": None,
            "decided_rule": None,
            "decided_strategy": None,
        },
    )


def _ask_change(ctx: Ctx, req: AfterSaleRequest, change: dict[str, Any]) -> AfterSaleRequest:
    if req.change_request:
        raise Conflict(
            "change_pending",
            "已有待商家确认的撤销/修改申请",
            "A withdraw/modify request is already waiting for the merchant",
            rule="A5",
        )
    what = "撤销" if change["type"] == "withdraw" else "修改"
    transition(
        ctx,
        req,
        {req.status},
        req.status,
        "change_requested",
        "A5",
        note=f"买家申请{what}售后，待商家同意",
        values={"change_request": change},
    )
    return req


def approve_change(ctx: Ctx, shop_id: int, request_id: int) -> AfterSaleRequest:
    """A5: the merchant agrees to the buyer's withdraw/modify after agreement."""
    req = get_request(ctx.session, shop_id, request_id)
    change = req.change_request
    if not change or req.status not in _CHANGE_AFTER_AGREEMENT:
        raise Conflict("no_change_request", "没有待确认的撤销/修改申请", "No change request")
    if change["type"] == "withdraw":
        _close_without_refund(
            ctx, req, {req.status}, S.WITHDRAWN, "withdrawn", "A5", "商家同意买家撤销"
        )
    else:
        _apply_modification(ctx, req, change, {req.status}, "A5")
    return req


def decline_change(ctx: Ctx, shop_id: int, request_id: int) -> AfterSaleRequest:
    req = get_request(ctx.session, shop_id, request_id)
    if not req.change_request:
        raise Conflict("no_change_request", "没有待确认的撤销/修改申请", "No change request")
    transition(
        ctx,
        req,
        {req.status},
        req.status,
        "change_declined",
        "A5",
        note="商家不同意撤销/修改",
        values={"change_request": None},
    )
    return req


# ----- merchant decisions (A3, A4, A6) ----------------------------------------------------


def agree(
    ctx: Ctx,
    shop_id: int,
    request_id: int,
    *,
    rule: str = "A3",
    strategy: str | None = None,
    note: str = "",
) -> AfterSaleRequest:
    """同意退款: refund-only requests are refunded at once by the original route (A6); a
    退货退款 request first waits for the goods (待买家退货)."""
    req = get_request(ctx.session, shop_id, request_id)
    if req.kind == RequestKind.RETURN_REFUND and req.status == S.PENDING:
        transition(
            ctx,
            req,
            {S.PENDING},
            S.AWAITING_RETURN,
            "agreed_return",
            rule,
            strategy=strategy,
            note=note or "同意退货，待买家寄回",
            values=_decided(ctx, rule, strategy),
        )
        return req
    allowed: set[str] = {S.PENDING, S.AGREED_ON_REFUSAL, S.BUYER_RETURNED}
    if req.status in allowed:
        transition(
            ctx,
            req,
            allowed,
            S.AGREED,
            "agreed",
            rule,
            strategy=strategy,
            note=note or "同意退款",
            values={**_decided(ctx, rule, strategy), "change_request": None},
        )
    elif req.status == S.AGREED:  # a refund that failed earlier is retried now
        _lock_request(ctx.session, req)
        if req.status != S.AGREED:  # the retry sweep paid it meanwhile
            raise _not_now(req, "同意退款", "agree")
    else:
        raise _not_now(req, "同意退款", "agree")
    pay_refund(ctx, req, rule, strategy)
    return req


def _lock_request(session: Session, req: AfterSaleRequest) -> None:
    """Row-lock an already agreed request before paying it again, so a merchant's retry and
    the retry sweep never both call the payment provider for it (SQLite serializes writers
    already); then read its current state."""
    if is_postgres(session):
        session.execute(
            select(AfterSaleRequest.id)
            .where(AfterSaleRequest.id == req.id, AfterSaleRequest.shop_id == req.shop_id)
            .with_for_update()
        ).all()
    session.refresh(req)


def agree_on_refusal(
    ctx: Ctx,
    shop_id: int,
    request_id: int,
    *,
    rule: str = "A2.4",
    strategy: str | None = None,
) -> AfterSaleRequest:
    """拒签后退款: agree to refund once the buyer refuses delivery; the request waits for the
    logistics status (subscribers complete it on 拒签)."""
    req = get_request(ctx.session, shop_id, request_id)
    if req.kind != RequestKind.SHIPPED_REFUND:
        raise Conflict(
            "not_shipped_refund",
            "仅已发货仅退款可同意拒签后退款",
            "Only shipped_refund requests can be agreed on refusal",
            rule="A2.4",
        )
    if req.status != S.PENDING:
        raise _not_now(req, "同意拒签后退款", "agree on refusal")
    transition(
        ctx,
        req,
        {S.PENDING},
        S.AGREED_ON_REFUSAL,
        "agreed_on_refusal",
        rule,
        strategy=strategy,
        note="同意买家拒签后退款，等待物流状态",
        values=_decided(ctx, rule, strategy),
    )
    return req


def reopen_after_delivery(ctx: Ctx, req: AfterSaleRequest, note: str) -> None:
    """A2.4: the parcel was signed for instead of refused — the merchant decides by it; the
    A3 deadline starts again from now."""
    transition(
        ctx,
        req,
        {S.AGREED_ON_REFUSAL},
        S.PENDING,
        "reopened",
        "A2.4",
        note=note,
        values={"due_at": _deadline(ctx, req.kind)},
    )


def reject(
    ctx: Ctx,
    shop_id: int,
    request_id: int,
    *,
    reason: str,
    evidence_ids: list[int],
    note: str = "",
) -> AfterSaleRequest:
    """A4: rejecting needs a reason from the list and the evidence that reason demands."""
    req = get_request(ctx.session, shop_id, request_id)
    rejection = REJECT_REASONS.get(reason)
    errors: list[dict[str, Any]] = []
    if rejection is None:
        choices = "、".join(r.label for r in REJECT_REASONS.values())
        errors.append(
            field_error(
                "reason",
                f"请选择拒绝原因：{choices}",
                f"Choose a rejection reason: {list(REJECT_REASONS)}",
            )
        )
    evidence: list[Evidence] = []
    for evidence_id in dict.fromkeys(evidence_ids):
        ev = ctx.session.get(Evidence, evidence_id)
        if ev is None or ev.shop_id != shop_id or ev.request_id != req.id or ev.party != "merchant":
            errors.append(
                field_error(
                    "evidence_ids",
                    f"举证材料 {evidence_id} 不属于该售后单",
                    f"Evidence {evidence_id} is not this request's",
                )
            )
        else:
            evidence.append(ev)
    if rejection is not None:
        if len(evidence) < rejection.min_evidence:
            errors.append(
                field_error(
                    "evidence_ids",
                    f"拒绝原因「{rejection.label}」须上传至少 {rejection.min_evidence} 份举证材料："
                    f"{rejection.hint}",
                    f"Reason {reason} needs at least {rejection.min_evidence} evidence file(s)",
                )
            )
        if rejection.note_required and not note.strip():
            errors.append(field_error("note", "请填写拒绝说明", "A note is required"))
    if errors:
        raise ValidationFailed(
            "rejection_needs_evidence",
            "拒绝售后须选择拒绝原因并上传对应的举证材料",
            "Rejecting needs a reason and the evidence it demands",
            errors=errors,
            rule="A4",
        )
    assert rejection is not None
    if req.status not in (S.PENDING, S.AGREED_ON_REFUSAL, S.BUYER_RETURNED):
        raise _not_now(req, "拒绝", "reject")
    for ev in evidence:
        ev.used = True
    _close_without_refund(
        ctx,
        req,
        {S.PENDING, S.AGREED_ON_REFUSAL, S.BUYER_RETURNED},
        S.REJECTED,
        "rejected",
        "A4",
        f"{rejection.label}{(':' + note.strip()) if note.strip() else ''}",
        values={"reject_reason": reason, "reject_note": note.strip()[:500]},
    )
    return req


def ship_return(
    ctx: Ctx, buyer_id: int, request_id: int, *, carrier: str, tracking_no: str
) -> AfterSaleRequest:
    """退货退款: the buyer sends the goods back with a tracking number."""
    req = buyer_request(ctx.session, buyer_id, request_id)
    found = find_carrier(carrier)
    tracking = normalize_tracking(tracking_no)
    if found is None or not found.pattern.match(tracking):
        raise ValidationFailed(
            "invalid_return_shipment",
            "退货物流信息有误（快递公司或单号格式）",
            "Invalid return carrier or tracking number",
            field="tracking_no",
        )
    if req.status != S.AWAITING_RETURN:
        raise _not_now(req, "填写退货物流", "ship the return")
    transition(
        ctx,
        req,
        {S.AWAITING_RETURN},
        S.BUYER_RETURNED,
        "return_shipped",
        "A1",
        note=f"{found.name} {tracking}",
        values={"return_carrier": found.code, "return_tracking_no": tracking},
    )
    return req


def operate(
    ctx: Ctx,
    shop_id: int,
    request_id: int,
    action: str,
    *,
    reason: str = "",
    evidence_ids: list[int] | None = None,
    note: str = "",
) -> AfterSaleRequest:
    """One merchant action by name (open API, console, batch)."""
    if action in ("agree", "confirm_return"):
        return agree(ctx, shop_id, request_id, rule="A3", note=note)
    if action == "agree_on_refusal":
        return agree_on_refusal(ctx, shop_id, request_id, rule="A2.4")
    if action == "reject":
        return reject(
            ctx, shop_id, request_id, reason=reason, evidence_ids=evidence_ids or [], note=note
        )
    if action == "approve_change":
        return approve_change(ctx, shop_id, request_id)
    if action == "decline_change":
        return decline_change(ctx, shop_id, request_id)
    raise ValidationFailed(
        "unknown_action", f"未知操作 {action}", f"Unknown action {action}", field="action"
    )


@dataclass(frozen=True)
class BatchResult:
    request_id: int
    ok: bool
    status: str | None
    code: str | None = None
    message_zh: str = ""
    message_en: str = ""


def batch(
    ctx: Ctx, shop_id: int, request_ids: list[int], action: str, **kwargs: Any
) -> list[BatchResult]:
    """A3 batch: each request in its own savepoint, so one failure does not undo the rest."""
    results: list[BatchResult] = []
    for request_id in dict.fromkeys(request_ids):
        try:
            with ctx.session.begin_nested():
                req = operate(ctx, shop_id, request_id, action, **kwargs)
            results.append(BatchResult(request_id, True, req.status))
        except XiaodianError as exc:
            results.append(
                BatchResult(request_id, False, None, exc.code, exc.message_zh, exc.message_en)
            )
    return results


# ----- A3.2 仅退款自主完结时长 ---------------------------------------------------------------

REFUND_ONLY_KINDS = (RequestKind.UNSHIPPED_REFUND, RequestKind.SHIPPED_REFUND)
DECISION_ACTIONS = ("agreed", "agreed_on_refusal", "rejected")


def refund_completion_time(
    session: Session, shop_id: int, now: datetime, window_days: int
) -> experience.CompletionTime:
    """A3.2: the shop's refund-only requests whose first decision (agree, agree on refusal,
    reject) falls in the window, handed to ``experience.completion_time`` which decides what
    counts and computes count, average and median."""
    start = now - timedelta(days=window_days)
    first = (
        select(
            RequestHistory.request_id.label("request_id"),
            func.min(RequestHistory.id).label("history_id"),
        )
        .where(RequestHistory.shop_id == shop_id, RequestHistory.action.in_(DECISION_ACTIONS))
        .group_by(RequestHistory.request_id)
        .subquery()
    )
    rows = session.execute(
        select(
            AfterSaleRequest.applied_at,
            RequestHistory.at,
            RequestHistory.rule,
            RequestHistory.actor,
        )
        .join(first, first.c.request_id == AfterSaleRequest.id)
        .join(RequestHistory, RequestHistory.id == first.c.history_id)
        .where(
            AfterSaleRequest.shop_id == shop_id,
            AfterSaleRequest.kind.in_(REFUND_ONLY_KINDS),
            RequestHistory.at >= start,
            RequestHistory.at <= now,
        )
    ).all()
    decisions = [experience.FirstDecision(a, d, rule, actor) for a, d, rule, actor in rows]
    return experience.completion_time(decisions, now, window_days)


# ----- sweeps' and subscribers' helpers ----------------------------------------------------


def convert_to_shipped(ctx: Ctx, shop_id: int, order_id: int) -> None:
    """The merchant shipped while a 未发货仅退款 request was pending: it becomes 已发货仅退款
    (the A3 deadline starts now) and the assistant evaluates it."""
    req = open_request_for(ctx.session, shop_id, order_id)
    if req is None or req.kind != RequestKind.UNSHIPPED_REFUND or req.status != S.PENDING:
        return
    transition(
        ctx,
        req,
        {S.PENDING},
        S.PENDING,
        "modified",
        "A1",
        note="商家已发货，转为已发货仅退款",
        values={"kind": RequestKind.SHIPPED_REFUND, "due_at": _deadline(ctx, "shipped_refund")},
    )


def note_only(
    ctx: Ctx, req: AfterSaleRequest, action: str, rule: str, strategy: str | None, note: str
) -> None:
    """A history row and event without a status change (e.g. interception requested)."""
    record(ctx, req, action, req.status, req.status, rule, strategy=strategy, note=note)


def close_for_closed_order(ctx: Ctx, shop_id: int, order_id: int, rule: str) -> None:
    """O5 closed the order and refunded everything that was left: an open request on it has
    nothing left to refund, so it closes (and can no longer be agreed or rejected)."""
    req = open_request_for(ctx.session, shop_id, order_id)
    if req is None:
        return
    _close_without_refund(
        ctx, req, set(OPEN_STATUSES), S.CLOSED, "closed", rule, "订单已自动关闭并全额退款"
    )


def _close_without_refund(
    ctx: Ctx,
    req: AfterSaleRequest,
    allowed: set[str],
    to: str,
    action: str,
    rule: str,
    note: str,
    values: dict[str, Any] | None = None,
) -> None:
    transition(
        ctx,
        req,
        allowed,
        to,
        action,
        rule,
        note=note,
        values={**(values or {}), "change_request": None, "decided_at": ctx.now},
    )
    order = orders.get_order(ctx.session, req.shop_id, req.order_id)
    restored = (
        AfterSale.NONE
        if order.refunded_fen == 0
        else AfterSale.REFUNDED
        if order.refunded_fen >= order.paid_fen
        else AfterSale.PARTIALLY_REFUNDED
    )
    orders.set_after_sale(ctx, req.shop_id, order.id, restored, rule)


def _decided(ctx: Ctx, rule: str, strategy: str | None) -> dict[str, Any]:
    return {"decided_at": ctx.now, "decided_rule": rule, "decided_strategy": strategy}


def _not_now(req: AfterSaleRequest, zh: str, en: str) -> Conflict:
    label = STATUS_LABELS.get(req.status, req.status)
    return Conflict(
        "aftersale_wrong_state",
        f"售后单状态为「{label}」，不能{zh}",
        f"The request is {req.status}; cannot {en}",
    )


# ----- F1 平台介入 --------------------------------------------------------------------------


def platform_overturn(ctx: Ctx, shop_id: int, request_id: int, note: str) -> AfterSaleRequest:
    """F1 (issue 17): a platform operator overturns the merchant's rejection (A4) — the request
    becomes 已同意退款 and is refunded through the usual path (A6, ``pay_refund``); its history
    and events carry the operator as actor. Refused while another request of the order is open
    (the buyer applied again: that one is handled instead)."""
    req = get_request(ctx.session, shop_id, request_id)
    if req.status != S.REJECTED:
        raise _not_now(req, "平台介入", "overturn")
    other = open_request_for(ctx.session, shop_id, req.order_id)
    if other is not None and other.id != req.id:
        raise Conflict(
            "aftersale_open_elsewhere",
            f"该订单有进行中的售后单 {other.id}，请处理该售后单",
            f"Request {other.id} of this order is open; handle that one",
            rule="A4",
        )
    transition(
        ctx,
        req,
        {S.REJECTED},
        S.AGREED,
        "platform_overturned",
        "A4",
        note=f"平台介入：支持买家退款{('：' + note.strip()) if note.strip() else ''}",
        values={**_decided(ctx, "A4", None), "change_request": None},
    )
    orders.set_after_sale(ctx, req.shop_id, req.order_id, AfterSale.IN_PROGRESS, "A4")
    pay_refund(ctx, req, "A4", None)
    return req


# ----- F1 the buyer asks for 平台介入 --------------------------------------------------------

INTERVENTION_NOTE_MAX = 200


def request_intervention(
    ctx: Ctx, buyer_id: int, request_id: int, note: str = ""
) -> AfterSaleRequest:
    """F1 (issue 17): the buyer asks the platform to step in (申请平台介入) on a request the
    merchant rejected (A4). Recorded as the history action ``intervention_requested`` — the
    event ``aftersale.intervention_requested`` with rule A4 and the buyer as actor; the
    operator's 平台介入 queue lists such requests first (``platform.rejected_aftersales``) and
    the operator's decision (``platform.intervene``) is unchanged. Once per request: asking
    again, or after the platform decided, is refused. The merchant gets a 站内通知."""
    req = buyer_request(ctx.session, buyer_id, request_id)
    if req.status != S.REJECTED:
        raise _not_now(req, "申请平台介入", "request platform intervention")
    text = (note or "").strip()
    if len(text) > INTERVENTION_NOTE_MAX:
        raise ValidationFailed(
            "invalid_intervention_note",
            f"说明最多{INTERVENTION_NOTE_MAX}字",
            f"Note: at most {INTERVENTION_NOTE_MAX} characters",
            field="note",
        )
    seen = set(
        ctx.session.scalars(
            select(RequestHistory.action).where(
                RequestHistory.shop_id == req.shop_id,
                RequestHistory.request_id == req.id,
                RequestHistory.action.in_(("intervention_requested", "platform_upheld")),
            )
        )
    )
    if "platform_upheld" in seen:
        raise Conflict(
            "intervention_decided",
            "平台已介入处理该售后单，不能再次申请",
            "The platform has already decided this request",
            rule="A4",
        )
    if "intervention_requested" in seen:
        raise Conflict(
            "intervention_already_requested",
            "已申请平台介入，请等待平台处理",
            "Platform intervention was already requested; wait for the decision",
            rule="A4",
        )
    record(
        ctx,
        req,
        "intervention_requested",
        req.status,
        req.status,
        "A4",
        note=f"买家申请平台介入{('：' + text) if text else ''}",
    )
    notify.notice(
        ctx,
        req.shop_id,
        category="aftersale",
        title=f"买家对售后单 {req.id} 申请了平台介入",
        body=text or "买家不认可拒绝结果，平台将介入处理。",
        link=f"/console/aftersales/{req.id}",
        rule="A4",
    )
    return req


def intervention_requests(session: Session, request_ids: list[int]) -> dict[int, RequestHistory]:
    """F1: the buyer's 申请平台介入 per request (for the operator's queue and the buyer's
    page), by request id."""
    if not request_ids:
        return {}
    rows = session.scalars(
        select(RequestHistory).where(
            RequestHistory.request_id.in_(request_ids),
            RequestHistory.action == "intervention_requested",
        )
    )
    return {row.request_id: row for row in rows}


def buyer_requests(session: Session, buyer_id: int, limit: int = 200) -> list[AfterSaleRequest]:
    """F8: the buyer's after-sale requests, newest first (the buyer pages)."""
    return list(
        session.scalars(
            select(AfterSaleRequest)
            .where(AfterSaleRequest.buyer_id == buyer_id)
            .order_by(AfterSaleRequest.id.desc())
            .limit(limit)
        )
    )

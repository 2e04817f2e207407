"""After-sale requests (A1, A3–A6): apply, modify, withdraw, agree, reject, refund.

Every state change is one conditional ``UPDATE … WHERE status IN (allowed)``: when a merchant
action, a strategy and the 48 h sweep race for the same request, exactly one wins and the
others see "state changed" — a request is never refunded twice. Each change writes a history
row and emits ``aftersale.<action>`` (webhooks, X1) naming the rule (and strategy) that made it.

Strategies (A2) react to ``aftersale.created`` / ``aftersale.modified`` and to logistics events
through ``subscribers.py``; this module does not know them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import experience
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
from xiaodian.clock import local_day_start, to_local
from xiaodian.context import Ctx
from xiaodian.db import get_owned, is_postgres
from xiaodian.errors import Conflict, NotFound, ValidationFailed, XiaodianError, field_error
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.carriers import find_carrier, normalize_tracking
from xiaodian.orders.models import AfterSale, Order, OrderStatus
from xiaodian.orders.payments import PaymentProviderError

S = RequestStatus

# ----- lookups -----------------------------------------------------------------------------


def get_request(session: Session, shop_id: int, request_id: int) -> AfterSaleRequest:
    """The shop's request; another shop's is NotFound (X2)."""
    return get_owned(
        session, AfterSaleRequest, shop_id, request_id, ("售后单", "After-sale request")
    )


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


# ----- evidence uploads (A1 buyer photos, A4 merchant 举证) --------------------------------

_IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def check_evidence_file(
    filename: str,
    data: bytes,
    *,
    max_bytes: int,
    allow_pdf: bool,
    max_pixels: int = 40_000_000,
    in_flight: int = 2,
) -> tuple[str, str]:
    """Judge a file by its content, never its name: a JPEG/PNG that decodes (decompression-bomb
    safe) or, for merchants, a PDF. Returns (content_type, extension)."""
    kinds = "jpg/png 图片或 PDF" if allow_pdf else "jpg/png 图片"
    if not data:
        raise ValidationFailed(
            "evidence_empty", "上传的文件为空", "The uploaded file is empty", field="file"
        )
    if len(data) > max_bytes:
        raise ValidationFailed(
            "evidence_too_large",
            f"文件「{filename}」超过 {max_bytes // (1024 * 1024)} MB",
            f"File {filename!r} is larger than {max_bytes} bytes",
            field="file",
        )
    if data.startswith(b"%PDF-"):
        if allow_pdf and b"%%EOF" in data[-1024:]:
            return "application/pdf", "pdf"
        raise ValidationFailed(
            "evidence_bad_type",
            f"文件「{filename}」须为{kinds}",
            f"File {filename!r} must be a JPEG/PNG image" + (" or a PDF" if allow_pdf else ""),
            field="file",
        )
    bad_type = ValidationFailed(
        "evidence_bad_type",
        f"文件「{filename}」须为{kinds}（按文件内容判断）",
        f"File {filename!r} must be a JPEG/PNG image" + (" or a PDF" if allow_pdf else ""),
        field="file",
    )
    from xiaodian import imaging  # Pillow loads with the first upload, not with tick (K5)

    try:  # S8: format and dimensions from the header; only what passed is decoded
        header = imaging.read_header(data)
        fmt = header.format
        if fmt not in _IMAGE_TYPES:
            raise bad_type
        if header.pixels > max_pixels:
            raise ValidationFailed(
                "evidence_bad_type", "图片尺寸过大", "Image dimensions too large", field="file"
            )
        imaging.decode(data, max_pixels=max_pixels, in_flight=in_flight, mode=None)
    except imaging.ImageRefused as exc:
        if exc.reason == "bomb":
            raise ValidationFailed(
                "evidence_bad_type", "图片尺寸过大", "Image dimensions too large", field="file"
            ) from exc
        raise bad_type from exc
    return _IMAGE_TYPES[fmt], "jpg" if fmt == "JPEG" else "png"


def save_evidence(
    ctx: Ctx,
    shop_id: int,
    *,
    party: str,
    filename: str,
    data: bytes,
    request_id: int | None = None,
    uploaded_by: str | None = None,
) -> Evidence:
    rules = ctx.settings.aftersales
    content_type, ext = check_evidence_file(
        filename,
        data,
        max_bytes=rules.evidence_max_bytes,
        allow_pdf=party == "merchant",
        max_pixels=rules.evidence_max_pixels,
        in_flight=ctx.settings.limits.image_decodes_in_flight,
    )
    if request_id is not None:
        count = ctx.session.scalar(
            select(func.count()).where(
                Evidence.shop_id == shop_id,
                Evidence.request_id == request_id,
                Evidence.party == party,
            )
        )
        if int(count or 0) >= rules.evidence_max_files:
            raise Conflict(
                "evidence_too_many",
                f"每个售后单最多上传 {rules.evidence_max_files} 个举证文件",
                f"At most {rules.evidence_max_files} evidence files per request",
            )
    digest = hashlib.sha256(data).hexdigest()
    key = f"{shop_id}/{digest}.{ext}"
    path = Path(rules.evidence_dir) / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    row = Evidence(
        shop_id=shop_id,
        request_id=request_id,
        party=party,
        uploaded_by=uploaded_by or ctx.actor,
        filename=(_SAFE_NAME.sub("_", filename).strip("_") or f"evidence.{ext}")[:120],
        content_type=content_type,
        size_bytes=len(data),
        sha256=digest,
        storage_key=key,
        used=False,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return row


def buyer_upload(ctx: Ctx, buyer: Buyer, order_id: int, filename: str, data: bytes) -> Evidence:
    order = orders.buyer_order(ctx.session, buyer.id, order_id)
    return save_evidence(
        ctx,
        order.shop_id,
        party="buyer",
        filename=filename,
        data=data,
        uploaded_by=f"buyer:{buyer.id}",
    )


def merchant_upload(
    ctx: Ctx, shop_id: int, request_id: int, filename: str, data: bytes
) -> Evidence:
    req = get_request(ctx.session, shop_id, request_id)
    return save_evidence(
        ctx, shop_id, party="merchant", filename=filename, data=data, request_id=req.id
    )


def evidence_bytes(ctx: Ctx, ev: Evidence) -> bytes:
    if ev.storage_key.startswith(LINK_PREFIX):
        raise NotFound("举证文件（外部链接举证，请打开链接查看）", "Evidence file (a link)", ev.id)
    return (Path(ctx.settings.aftersales.evidence_dir) / ev.storage_key).read_bytes()


LINK_PREFIX = "link:"
_LINK_URL = re.compile(r"^https?://[^\s]{1,190}$")


def link_evidence(
    ctx: Ctx, shop_id: int, request_id: int, links: list[tuple[str, str, str]]
) -> list[Evidence]:
    """A4 evidence given as links instead of uploads — (kind, url, description) each, as the
    抖店 dialect's ``evidence[{type, url, desc}]`` sends it (issue 12, D3). The links are
    recorded as the merchant's evidence for the request (never fetched), so ``reject`` applies
    its own rule (the reason's minimum evidence) to them like to uploaded files."""
    req = get_request(ctx.session, shop_id, request_id)
    rules = ctx.settings.aftersales
    bad = [url for _, url, _ in links if not _LINK_URL.match(url)]
    if bad:
        raise ValidationFailed(
            "evidence_bad_link",
            f"举证链接须为 http(s) 地址且不超过190个字符：{bad[0][:60]}",
            "Evidence links must be http(s) URLs of at most 190 characters",
            field="evidence",
        )
    count = ctx.session.scalar(
        select(func.count()).where(
            Evidence.shop_id == shop_id, Evidence.request_id == req.id, Evidence.party == "merchant"
        )
    )
    if int(count or 0) + len(links) > rules.evidence_max_files:
        raise Conflict(
            "evidence_too_many",
            f"每个售后单最多上传 {rules.evidence_max_files} 个举证文件",
            f"At most {rules.evidence_max_files} evidence files per request",
        )
    rows = []
    for kind, url, desc in links:
        row = Evidence(
            shop_id=shop_id,
            request_id=req.id,
            party="merchant",
            uploaded_by=ctx.actor,
            filename=(desc.strip() or url.rsplit("/", 1)[-1] or "link")[:120],
            content_type=f"{kind}/link"[:40],
            size_bytes=0,
            sha256=hashlib.sha256(url.encode()).hexdigest(),
            storage_key=LINK_PREFIX + url,
            used=False,
            created_at=ctx.now,
        )
        ctx.session.add(row)
        rows.append(row)
    ctx.session.flush()
    return rows


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


def _check_kind_for_order(order: Order, kind: str) -> None:
    if order.paid_at is None or order.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.CLOSED):
        raise Conflict(
            "order_not_refundable",
            "订单未支付或已关闭，不能申请售后",
            "The order is unpaid or closed; no after-sale",
            rule="A1",
        )
    shipped = order.status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED)
    if kind == RequestKind.UNSHIPPED_REFUND and shipped:
        raise Conflict(
            "order_already_shipped",
            "订单已发货，请申请已发货仅退款或退货退款",
            "The order has shipped; apply for shipped_refund or return_refund",
            rule="A1",
        )
    if kind != RequestKind.UNSHIPPED_REFUND and not shipped:
        raise Conflict(
            "order_not_shipped",
            "订单未发货，请申请未发货仅退款",
            "The order has not shipped; apply for unshipped_refund",
            rule="A1",
        )


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
        _check_kind_for_order(order, kind)
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
    if kind != RequestKind.SHIPPED_REFUND:
        return None
    return ctx.now + timedelta(hours=ctx.settings.aftersales.merchant_sla_hours)


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
    _transition(
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
    _transition(
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
    _transition(
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
        _transition(
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
        _transition(
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
                # One reference per request and amount: a retry after a provider timeout is
                # the same refund to the provider (a modified amount is a new one).
                reference=f"aftersale-refund:{req.id}:{req.amount_fen}",
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
    _transition(
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
    rules = ctx.settings.aftersales
    reason = (exc.message_zh if isinstance(exc, XiaodianError) else str(exc)) or type(exc).__name__
    ctx.session.refresh(req)
    attempts = req.refund_attempts + 1
    retry_at = None
    if attempts < rules.refund_max_attempts:
        retry_at = ctx.now + timedelta(seconds=rules.refund_retry_seconds)
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
    _transition(
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
    _transition(
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
    _transition(
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
    _transition(
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
    _transition(
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


def _transition(
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
    if int(getattr(result, "rowcount", 0) or 0) != 1:
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
    _transition(
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

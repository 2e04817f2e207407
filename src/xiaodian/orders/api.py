"""Open API for ERP/ISV (SPEC §3): products, order search (O1) and detail, shipping one order
or a batch file (O3), violations with penalty status (O6–O8), late-shipment rating (O9); and
the buyer API (/buyer/v1) to place, pay and confirm orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from xiaodian.api.deps import BuyerDep, CtxDep, OrdersApp, PageDep, read_upload
from xiaodian.orders import service
from xiaodian.orders.models import (
    PENALTY_LABELS,
    STATUS_LABELS,
    Order,
    OrderViolation,
    PenaltyStatus,
    Product,
)
from xiaodian.orders.product_rules import (
    BAN_RULE,
    PRODUCT_STATUS_LABELS,
    ProductStatus,
    product_status,
)
from xiaodian.orders.schemas import (
    DailyCount,
    HistoryOut,
    OrderDetail,
    OrderFilter,
    OrderItemOut,
    OrdersPage,
    OrderSummary,
    PlaceOrderIn,
    ProductIn,
    ProductOut,
    ProductPatch,
    ProductsPage,
    RatingOut,
    RefundOut,
    ShipBatchOut,
    ShipIn,
    ShipRowOut,
    StockAdjustIn,
    ViolationOut,
    ViolationsPage,
)
from xiaodian.orders.service import Rating

router = APIRouter(tags=["orders 订单"])


# ----- products (U1 商品管理) ---------------------------------------------------------------
# Writes need orders.ship (like shipping), reads orders.view; every route is the caller's
# shop only (another shop's product id → 404). 下架/上架 are their own POST routes; PATCH
# edits fields only.


@router.post("/api/v1/products", response_model=ProductOut, status_code=201)
def create_product(body: ProductIn, ctx: CtxDep, principal: OrdersApp) -> ProductOut:
    principal.require("orders.ship")
    product = service.create_product(
        ctx,
        principal.shop_id,
        title=body.title,
        price_fen=body.price_fen,
        stock=body.stock,
        ship_within_hours=body.ship_within_hours,
        listed=body.listed,
    )
    return product_out(product, ctx.settings.orders.ship_within_hours)


@router.get("/api/v1/products", response_model=ProductsPage)
def list_products(
    ctx: CtxDep,
    principal: OrdersApp,
    page: PageDep,
    status: Annotated[
        ProductStatus | None, Query(description="on_sale | delisted | banned")
    ] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=60, description="名称包含")] = None,
) -> ProductsPage:
    principal.require("orders.view")
    rows = service.list_products(
        ctx.session,
        principal.shop_id,
        before_id=page.before_id,
        limit=page.limit,
        status=status,
        q=q,
    )
    items = [product_out(p, ctx.settings.orders.ship_within_hours) for p in rows]
    return ProductsPage(
        items=items, next_before_id=items[-1].id if len(items) == page.limit else None
    )


@router.get("/api/v1/products/{product_id}", response_model=ProductOut)
def get_product(product_id: int, ctx: CtxDep, principal: OrdersApp) -> ProductOut:
    principal.require("orders.view")
    product = service.get_product(ctx.session, principal.shop_id, product_id)
    return product_out(product, ctx.settings.orders.ship_within_hours)


@router.patch("/api/v1/products/{product_id}", response_model=ProductOut)
def patch_product(
    product_id: int, body: ProductPatch, ctx: CtxDep, principal: OrdersApp
) -> ProductOut:
    """U1 编辑商品: only the fields sent change (``ship_within_hours: null`` → the shop default,
    O4). Orders already placed keep their price, title and ship-by time. To take a product
    off sale use ``POST /api/v1/products/{id}/delist``; to put it back, ``/list``."""
    principal.require("orders.ship")
    product = service.update_product(ctx, principal.shop_id, product_id, body.changes())
    return product_out(product, ctx.settings.orders.ship_within_hours)


@router.post("/api/v1/products/{product_id}/delist", response_model=ProductOut)
def delist_product(product_id: int, ctx: CtxDep, principal: OrdersApp) -> ProductOut:
    """U1 下架: buyers can no longer order it; placed orders are untouched. Repeating it
    changes nothing. There is no hard delete: orders keep referring to their products."""
    principal.require("orders.ship")
    product = service.delist_product(ctx, principal.shop_id, product_id)
    return product_out(product, ctx.settings.orders.ship_within_hours)


@router.post("/api/v1/products/{product_id}/list", response_model=ProductOut)
def list_product(product_id: int, ctx: CtxDep, principal: OrdersApp) -> ProductOut:
    """U1 上架: on sale again. A product banned by the platform (O8) is refused with 409
    ``banned_cannot_list`` — only a platform operator lifts a ban."""
    principal.require("orders.ship")
    product = service.list_product(ctx, principal.shop_id, product_id)
    return product_out(product, ctx.settings.orders.ship_within_hours)


@router.post("/api/v1/products/{product_id}/stock", response_model=ProductOut)
def adjust_stock(
    product_id: int, body: StockAdjustIn, ctx: CtxDep, principal: OrdersApp
) -> ProductOut:
    """U1 库存调整: ``delta`` units added (or removed when negative) atomically; the stock
    never goes below 0 (422 ``invalid_stock_adjustment``)."""
    principal.require("orders.ship")
    product = service.adjust_stock(ctx, principal.shop_id, product_id, body.delta)
    return product_out(product, ctx.settings.orders.ship_within_hours)


# ----- orders (merchant / ERP) -------------------------------------------------------------


@router.get("/api/v1/orders", response_model=OrdersPage)
def search_orders(
    filters: Annotated[OrderFilter, Query()],
    ctx: CtxDep,
    principal: OrdersApp,
    page: PageDep,
) -> OrdersPage:
    """O1: orders matching every given filter, newest first; keyset paging by ``before_id``."""
    principal.require("orders.view")
    rows = service.search_orders(
        ctx.session, principal.shop_id, filters, before_id=page.before_id, limit=page.limit
    )
    items = [summary_out(o) for o in rows]
    return OrdersPage(
        items=items, next_before_id=items[-1].id if len(items) == page.limit else None
    )


@router.get("/api/v1/orders/violations", response_model=ViolationsPage)
def list_violations(
    ctx: CtxDep,
    principal: OrdersApp,
    page: PageDep,
    penalty_status: Annotated[PenaltyStatus | None, Query()] = None,
    order_id: Annotated[int | None, Query(ge=1)] = None,
) -> ViolationsPage:
    """订单-违规处理 (O6–O8): judgments with their deadline, judgment time and penalty status."""
    principal.require("orders.view")
    rows = service.list_violations(
        ctx.session,
        principal.shop_id,
        penalty_status=penalty_status,
        order_id=order_id,
        before_id=page.before_id,
        limit=page.limit,
    )
    items = [violation_out(v, no) for v, no in rows]
    return ViolationsPage(
        items=items, next_before_id=items[-1].id if len(items) == page.limit else None
    )


@router.get("/api/v1/orders/rating", response_model=RatingOut)
def get_rating(ctx: CtxDep, principal: OrdersApp) -> RatingOut:
    """O9: late-shipment rate and rating score over the rolling window; per day the
    judgments and the rolling rate."""
    principal.require("orders.view")
    return rating_out(service.rating(ctx.session, principal.shop_id, ctx.now, ctx.settings))


_MULTIPART_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post("/api/v1/orders/ship_batch", response_model=ShipBatchOut, openapi_extra=_MULTIPART_DOC)
async def ship_batch(request: Request, ctx: CtxDep, principal: OrdersApp) -> ShipBatchOut:
    """O3 批量发货: multipart field ``file``, a CSV or XLSX with columns 订单号, 快递公司,
    快递单号; a result per row (shipped, or error with its reason).

    The form is read here, after the signature check has read (and verified) the raw body."""
    principal.require("orders.ship")
    upload = await read_upload(request, max_bytes=service.BATCH_MAX_BYTES)
    rows = service.ship_batch(ctx, principal.shop_id, upload.filename, upload.content)
    return batch_out(rows)


@router.get("/api/v1/orders/{order_id}", response_model=OrderDetail)
def get_order(order_id: int, ctx: CtxDep, principal: OrdersApp) -> OrderDetail:
    principal.require("orders.view")
    order = service.get_order(ctx.session, principal.shop_id, order_id)
    return detail_out(ctx.session, order)


@router.post("/api/v1/orders/{order_id}/ship", response_model=OrderDetail)
def ship_order(order_id: int, body: ShipIn, ctx: CtxDep, principal: OrdersApp) -> OrderDetail:
    """O3: ship with carrier + tracking number (validated per carrier)."""
    principal.require("orders.ship")
    order = service.ship_order(
        ctx, principal.shop_id, order_id, carrier=body.carrier, tracking_no=body.tracking_no
    )
    return detail_out(ctx.session, order)


# ----- buyer API ---------------------------------------------------------------------------


@router.post("/buyer/v1/orders", response_model=OrderDetail, status_code=201)
def buyer_place_order(body: PlaceOrderIn, ctx: CtxDep, buyer: BuyerDep) -> OrderDetail:
    order = service.place_order(
        ctx,
        buyer,
        body.shop_id,
        items=[(i.product_id, i.qty) for i in body.items],
        address=body.address,
        payment_route=body.payment_route,
        discount_fen=body.discount_fen,
        receiver_name=body.receiver_name,
        receiver_phone=body.receiver_phone,
    )
    return detail_out(ctx.session, order, masked=False)


@router.post("/buyer/v1/orders/{order_id}/pay", response_model=OrderDetail)
def buyer_pay(order_id: int, ctx: CtxDep, buyer: BuyerDep) -> OrderDetail:
    order = service.pay_order(ctx, buyer.id, order_id)
    return detail_out(ctx.session, order, masked=False)


@router.post("/buyer/v1/orders/{order_id}/confirm", response_model=OrderDetail)
def buyer_confirm(order_id: int, ctx: CtxDep, buyer: BuyerDep) -> OrderDetail:
    order = service.confirm_receipt(ctx, buyer.id, order_id)
    return detail_out(ctx.session, order, masked=False)


@router.get("/buyer/v1/orders/{order_id}", response_model=OrderDetail)
def buyer_get(order_id: int, ctx: CtxDep, buyer: BuyerDep) -> OrderDetail:
    order = service.buyer_order(ctx.session, buyer.id, order_id)
    return detail_out(ctx.session, order, masked=False)


# ----- shapes ------------------------------------------------------------------------------


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

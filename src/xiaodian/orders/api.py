"""Open API for ERP/ISV (SPEC §3): products, order search (O1) and detail, shipping one order
or a batch file (O3), violations with penalty status (O6–O8), late-shipment rating (O9); and
the buyer API (/buyer/v1) to place, pay and confirm orders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from xiaodian.api.deps import BuyerDep, CtxDep, OrdersApp, PageDep, read_upload
from xiaodian.orders import service
from xiaodian.orders.mappers import (
    batch_out,
    detail_out,
    product_out,
    rating_out,
    summary_out,
    violation_out,
)
from xiaodian.orders.models import PenaltyStatus
from xiaodian.orders.product_rules import ProductStatus
from xiaodian.orders.schemas import (
    OrderDetail,
    OrderFilter,
    OrdersPage,
    PlaceOrderIn,
    ProductIn,
    ProductOut,
    ProductPatch,
    ProductsPage,
    RatingOut,
    ShipBatchOut,
    ShipIn,
    StockAdjustIn,
    ViolationsPage,
)

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

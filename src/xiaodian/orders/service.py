"""Orders: products, placing and paying, search, shipping, refunds, violations, rating
(SPEC §3, O1 and O3–O9). One service call = one unit of work on ``ctx.session``.

Functions other contexts call:

* ``filtered_query(shop_id, filters)`` — O1/O2: the SELECT a filter stands for (export streams it).
* ``search_query(shop_id, filters, product_ids, ...)`` — O1: the list's page, the exact SELECT
  ``search_orders`` runs (bench/orders_search.py times it as raw SQL).
* ``mark_refund_agreed(ctx, shop_id, order_id, reason=..., rule="A6")`` — an agreed refund on an
  unshipped order stops late-shipment judgment.
* ``refund(ctx, shop_id, order_id, amount_fen, reason, rule)`` — refunds by the original payment
  route, falling back to the platform balance (O5, A6); the outcome is recorded.
* ``set_after_sale(ctx, shop_id, order_id, state, rule)`` — after-sales marks a request open.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from xml.etree import ElementTree

from sqlalchemy import Select, and_, func, literal_column, select, update
from sqlalchemy.orm import Session

from xiaodian.accounts.models import Buyer
from xiaodian.clock import to_local
from xiaodian.context import Ctx
from xiaodian.db import get_owned, rowcount, serial_plans
from xiaodian.errors import Conflict, NotFound, ValidationFailed, XiaodianError
from xiaodian.errors import field_error as _field
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.orders import product_rules, rules
from xiaodian.orders.carriers import find_carrier, normalize_tracking
from xiaodian.orders.models import (
    AFTER_SALE_LABELS,
    FALLBACK_ROUTE,
    PAYMENT_ROUTES,
    PHONE_TAIL_DIGITS,
    PHONE_TAIL_SQL,
    ROUTE_LABELS,
    STATUS_LABELS,
    AfterSale,
    Order,
    OrderItem,
    OrderRefund,
    OrderStatus,
    OrderStatusChange,
    OrderViolation,
    Product,
    ShopReviewFlag,
)
from xiaodian.orders.payments import gateway
from xiaodian.orders.products import EDITABLE_FIELDS as EDITABLE_FIELDS
from xiaodian.orders.products import adjust_stock as adjust_stock
from xiaodian.orders.products import ban_order_nos as ban_order_nos
from xiaodian.orders.products import count_products as count_products

# Products (U1) and the rating (O9) live in their own modules (M3); re-exported here.
from xiaodian.orders.products import create_product as create_product
from xiaodian.orders.products import delist_product as delist_product
from xiaodian.orders.products import effective_ship_hours as effective_ship_hours
from xiaodian.orders.products import get_product as get_product
from xiaodian.orders.products import list_product as list_product
from xiaodian.orders.products import list_products as list_products
from xiaodian.orders.products import start_ship_clock as start_ship_clock
from xiaodian.orders.products import take_stock as take_stock
from xiaodian.orders.products import unban_product as unban_product
from xiaodian.orders.products import update_product as update_product
from xiaodian.orders.rating import Rating as Rating
from xiaodian.orders.rating import RatingDay as RatingDay
from xiaodian.orders.rating import rating as rating
from xiaodian.timeorder import before, newest_first


class OrderQuery(Protocol):
    """O1: what a filter gives ``filtered_query`` (the API's ``orders.schemas.OrderFilter`` is
    one). A protocol, so that the service imports no API shape (issue 15 M5; and the pydantic
    models load with the API, not with tick, K5)."""

    status: OrderStatus | None
    order_no: str | None
    product: str | None
    buyer_name: str | None
    buyer_phone: str | None
    created_from: datetime | None
    created_to: datetime | None
    paid_from: datetime | None
    paid_to: datetime | None
    shipped_from: datetime | None
    shipped_to: datetime | None
    ship_by_from: datetime | None
    ship_by_to: datetime | None
    after_sale: AfterSale | None
    violation: Literal["none", "violated", "max_judged"] | None


_PHONE = re.compile(r"^1\d{10}$")


# ----- placing and paying (buyer side) -----------------------------------------------------


def place_order(
    ctx: Ctx,
    buyer: Buyer,
    shop_id: int,
    *,
    items: list[tuple[int, int]],
    address: str,
    payment_route: str,
    discount_fen: int = 0,
    receiver_name: str | None = None,
    receiver_phone: str | None = None,
) -> Order:
    """A buyer places an order: stock is taken atomically per item (a conditional UPDATE), and
    a banned product (O8 商品封禁) or one taken off sale (U1 下架) cannot be bought."""
    errors = []
    if payment_route not in PAYMENT_ROUTES:
        errors.append(
            _field(
                "payment_route",
                f"不支持的支付方式 {payment_route}",
                f"Unknown payment route {payment_route}",
            )
        )
    if not items:
        errors.append(_field("items", "至少购买一件商品", "At least one item"))
    if any(qty < 1 for _, qty in items):
        errors.append(_field("items", "购买数量至少为1", "Quantity must be ≥ 1"))
    if len({pid for pid, _ in items}) != len(items):
        errors.append(_field("items", "同一商品请合并数量", "List each product once"))
    if len(address.strip()) < 2:
        errors.append(_field("address", "请填写收货地址", "Address is required"))
    phone = (receiver_phone or buyer.phone or "").strip()
    if not _PHONE.match(phone):
        errors.append(_field("receiver_phone", "收货手机号须为11位", "Phone must be 11 digits"))
    if discount_fen < 0:
        errors.append(_field("discount_fen", "优惠金额不能为负", "Discount cannot be negative"))
    if errors:
        raise ValidationFailed("invalid_order", "下单信息有误", "Invalid order", errors=errors)

    from xiaodian.platform.service import refuse_if_sanctioned  # F1: 停业整改 / 清退

    refuse_if_sanctioned(ctx.session, shop_id)
    session = ctx.session
    lines: list[tuple[Product, int]] = []
    for product_id, qty in items:
        product = get_owned(session, Product, shop_id, product_id, ("商品", "Product"))
        refusal = product_rules.purchase_refusal(product)  # O8 封禁, U1 下架
        if refusal is not None:
            raise refusal
        if not take_stock(session, shop_id, product_id, qty):
            raise Conflict(
                "out_of_stock",
                f"商品「{product.title}」库存不足",
                f"Product {product_id} is out of stock",
            )
        session.refresh(product)
        lines.append((product, qty))
    goods = sum(product.price_fen * qty for product, qty in lines)
    if discount_fen > goods:
        raise ValidationFailed(
            "invalid_order",
            "优惠金额不能超过商品金额",
            "Discount exceeds goods amount",
            errors=[_field("discount_fen", "优惠金额不能超过商品金额", "Discount > goods")],
        )
    order = Order(
        shop_id=shop_id,
        order_no=new_order_no(session, ctx.now),
        buyer_id=buyer.id,
        buyer_name=(receiver_name or buyer.nickname).strip()[:60],
        buyer_phone=phone,
        address=address.strip()[:300],
        payment_route=payment_route,
        goods_fen=goods,
        discount_fen=discount_fen,
        paid_fen=0,
        refunded_fen=0,
        status=OrderStatus.PENDING_PAYMENT,
        after_sale=AfterSale.NONE,
        violation_count=0,
        close_reason="",
        created_at=ctx.now,
        auto_close_at=rules.auto_close_at(ctx.now, ctx.settings.orders.auto_close_days),
    )
    session.add(order)
    session.flush()
    for product, qty in lines:
        session.add(
            OrderItem(
                shop_id=shop_id,
                order_id=order.id,
                product_id=product.id,
                title=product.title,
                qty=qty,
                unit_price_fen=product.price_fen,
                amount_fen=product.price_fen * qty,
            )
        )
    record_history(ctx, order, None, OrderStatus.PENDING_PAYMENT, None, "买家下单")
    notify.emit(ctx, shop_id, "order.placed", order_event(order))
    return order


def pay_order(ctx: Ctx, buyer_id: int, order_id: int) -> Order:
    """The buyer pays: the gateway charges the route, the money is held in escrow
    (EXTERNAL → ORDER_ESCROW, key ``order-pay:<id>``) and the ship-by clock starts (O4)."""
    order = _buyer_order(ctx.session, buyer_id, order_id)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise Conflict(
            "not_payable",
            f"订单状态为{STATUS_LABELS[order.status]}，不能支付",
            f"Order is {order.status}; it cannot be paid",
        )
    amount = order.goods_fen - order.discount_fen
    if amount > 0:
        result = gateway(ctx).charge(
            order.shop_id, order.payment_route, amount, f"order-pay:{order.id}"
        )
        if not result.ok:
            raise Conflict(
                "payment_failed", f"支付失败：{result.reason}", f"Payment failed: {result.reason}"
            )
        ledger.move(
            ctx,
            order.shop_id,
            source=Account.EXTERNAL,
            target=Account.ORDER_ESCROW,
            amount_fen=amount,
            key=f"order-pay:{order.id}",
            kind="order_payment",
            memo=f"订单 {order.order_no} 支付",
            ref_type="order",
            ref_id=order.id,
        )
    products = ctx.session.scalars(
        select(Product)
        .join(OrderItem, OrderItem.product_id == Product.id)
        .where(OrderItem.order_id == order.id, OrderItem.shop_id == order.shop_id)
    )
    order.paid_fen = amount
    hours, ship_by = start_ship_clock(ctx, order, products)
    _set_status(ctx, order, OrderStatus.AWAITING_SHIPMENT, "O4", f"买家已支付，{hours}小时内发货")
    notify.emit(
        ctx,
        order.shop_id,
        "order.paid",
        {**order_event(order), "ship_by": ship_by.isoformat()},
        rule="O4",
    )
    return order


def confirm_receipt(ctx: Ctx, buyer_id: int, order_id: int) -> Order:
    order = _buyer_order(ctx.session, buyer_id, order_id)
    if order.status != OrderStatus.SHIPPED:
        raise Conflict("not_shipped", "订单未发货，不能确认收货", "Order is not shipped")
    order.completed_at = ctx.now
    _set_status(ctx, order, OrderStatus.COMPLETED, None, "买家确认收货")
    notify.emit(ctx, order.shop_id, "order.completed", order_event(order))
    return order


def buyer_order(session: Session, buyer_id: int, order_id: int) -> Order:
    return _buyer_order(session, buyer_id, order_id)


def buyer_orders(session: Session, buyer_id: int, limit: int = 100) -> list[Order]:
    """F8 (issue 17): the buyer's orders across shops, newest first (the buyer pages)."""
    return list(
        session.scalars(
            select(Order).where(Order.buyer_id == buyer_id).order_by(Order.id.desc()).limit(limit)
        )
    )


def _buyer_order(session: Session, buyer_id: int, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.buyer_id != buyer_id:
        raise NotFound("订单", "Order", order_id)
    return order


def new_order_no(session: Session, now: datetime) -> str:
    """19 digits: yymmdd (Asia/Shanghai) + 13 random digits; unique (retried on collision)."""
    prefix = to_local(now, "Asia/Shanghai").strftime("%y%m%d")
    for _ in range(10):
        candidate = prefix + f"{secrets.randbelow(10**13):013d}"
        if session.scalar(select(Order.id).where(Order.order_no == candidate)) is None:
            return candidate
    raise Conflict("order_no_exhausted", "订单号生成失败，请重试", "Could not allocate an order no")


# ----- O1 search ---------------------------------------------------------------------------


def get_order(session: Session, shop_id: int, order_id: int) -> Order:
    return get_owned(session, Order, shop_id, order_id, ("订单", "Order"))


def get_order_by_no(session: Session, shop_id: int, order_no: str) -> Order:
    order = session.scalars(
        select(Order).where(Order.shop_id == shop_id, Order.order_no == order_no)
    ).first()
    if order is None:
        raise NotFound("订单", "Order", order_no)
    return order


def filtered_query(
    shop_id: int, filters: OrderQuery, product_ids: list[int] | None = None
) -> Select[Order]:
    """O1 (and O2): the orders of one shop a filter selects, ORDER BY id DESC — the export's
    order (its batches are id ranges) and doudian's base query (which re-orders). The list
    reads newest first by business time (U6): ``search_query`` re-orders this SELECT by
    ``created_at DESC, id DESC`` and pages it. Every condition is index-backed with
    ``shop_id`` first, and the indexes of the equality filters end in ``created_at, id`` so
    the list's first page is an ordered index scan (issue 16).

    ``product_ids``: the 商品 filter already resolved (``matching_product_ids``). A search
    passes them so the planner sees real ids and their frequency; an export may leave the
    lookup as a subquery."""
    f = filters
    conditions: list[Any] = [Order.shop_id == shop_id]
    if f.status is not None:
        conditions.append(Order.status == f.status.value)
    if f.order_no:
        conditions.append(Order.order_no == f.order_no)
    if f.product:
        ids = product_ids if product_ids is not None else product_ids_query(shop_id, f.product)
        conditions.append(
            Order.id.in_(
                select(OrderItem.order_id).where(
                    OrderItem.shop_id == shop_id, OrderItem.product_id.in_(ids)
                )
            )
        )
    if f.buyer_name:
        conditions.append(Order.buyer_name.startswith(f.buyer_name, autoescape=True))
    if f.buyer_phone:
        if len(f.buyer_phone) == 11:
            conditions.append(Order.buyer_phone == f.buyer_phone)
        elif len(f.buyer_phone) == PHONE_TAIL_DIGITS:
            conditions.append(phone_tail() == f.buyer_phone)
        else:
            conditions.append(Order.buyer_phone.endswith(f.buyer_phone, autoescape=True))
    for column, lo, hi in (
        (Order.created_at, f.created_from, f.created_to),
        (Order.paid_at, f.paid_from, f.paid_to),
        (Order.shipped_at, f.shipped_from, f.shipped_to),
        (Order.ship_by, f.ship_by_from, f.ship_by_to),
    ):
        if lo is not None:
            conditions.append(column >= lo)
        if hi is not None:
            conditions.append(column < hi)
    if f.after_sale is not None:
        conditions.append(Order.after_sale == f.after_sale.value)
    if f.violation == "none":
        conditions.append(Order.violation_count == 0)
    elif f.violation == "violated":
        conditions.append(Order.violation_count > 0)
    elif f.violation == "max_judged":
        # The first term lets SQLite use the partial index ix_orders_shop_violated too.
        conditions.append(Order.violation_count > 0)
        conditions.append(Order.violation_count >= _MAX_JUDGMENTS_FILTER)
    return select(Order).where(and_(*conditions)).order_by(Order.id.desc())


def product_ids_query(shop_id: int, product: str) -> Select[Any]:
    """O1 商品 filter: a product id, or part of a product's (current) title."""
    if product.isdigit():
        return select(Product.id).where(Product.shop_id == shop_id, Product.id == int(product))
    return select(Product.id).where(
        Product.shop_id == shop_id, Product.title.contains(product, autoescape=True)
    )


def matching_product_ids(session: Session, shop_id: int, filters: OrderQuery) -> list[int] | None:
    """The 商品 filter's product ids (a shop's products are few), or None without that filter.
    With the ids known, a rare or absent product is found through the (shop, product) index
    on order items instead of walking the shop's orders."""
    if not filters.product:
        return None
    return list(session.scalars(product_ids_query(shop_id, filters.product)))


def phone_tail() -> Any:
    """手机号后四位, as the expression index ix_orders_shop_phone_tail has it."""
    return literal_column(PHONE_TAIL_SQL.replace("buyer_phone", "orders.buyer_phone"))


# Filters are settings-free (export reuses them outside a request); "max judged" is O7's 3.
_MAX_JUDGMENTS_FILTER = 3


def search_orders(
    session: Session,
    shop_id: int,
    filters: OrderQuery,
    *,
    before_id: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Order]:
    """O1 (U4: ``offset`` for the console's numbered pages; the API pages by ``before_id``).
    The page is planned serially (``db.serial_plans``: a page never pays for parallel
    workers)."""
    product_ids = matching_product_ids(session, shop_id, filters)
    query = search_query(
        shop_id, filters, product_ids, before_id=before_id, limit=limit, offset=offset
    )
    with serial_plans(session):
        return list(session.scalars(query))


def search_query(
    shop_id: int,
    filters: OrderQuery,
    product_ids: list[int] | None = None,
    *,
    before_id: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> Select[Order]:
    """O1: the final SELECT of one page of the order list — ``filtered_query``'s conditions,
    newest business time first with ties by id (U6, ``timeorder.newest_first``), after the
    row ``before_id`` when given, ``limit``/``offset``. ``search_orders`` runs exactly this,
    and bench/orders_search.py compiles it as its raw-SQL anchor (issue 16).

    The indexes each equality filter uses end in ``(created_at, id)`` (migration
    ``orders_0004``), so a first page reads ``limit`` index entries in order instead of
    sorting the filter's rows or filtering a walk of the whole shop."""
    query = (
        filtered_query(shop_id, filters, product_ids)
        .order_by(None)
        .order_by(*newest_first(Order.created_at, Order.id))
    )
    if before_id is not None:
        query = query.where(before(Order.created_at, Order.id, before_id))
    return query.limit(limit).offset(offset)


def count_orders(session: Session, shop_id: int, filters: OrderQuery) -> int:
    """U4: how many orders the filter selects (the list's 共 N 条; U3's to-do counts)."""
    product_ids = matching_product_ids(session, shop_id, filters)
    query = filtered_query(shop_id, filters, product_ids).order_by(None)
    counted = select(func.count()).select_from(query.with_only_columns(Order.id).subquery())
    return int(session.scalar(counted) or 0)


def order_items(session: Session, order: Order) -> list[OrderItem]:
    return list(
        session.scalars(
            select(OrderItem)
            .where(OrderItem.shop_id == order.shop_id, OrderItem.order_id == order.id)
            .order_by(OrderItem.id)
        )
    )


def order_history(session: Session, order: Order) -> list[OrderStatusChange]:
    return list(
        session.scalars(
            select(OrderStatusChange)
            .where(
                OrderStatusChange.shop_id == order.shop_id, OrderStatusChange.order_id == order.id
            )
            .order_by(OrderStatusChange.id)
        )
    )


def order_refunds(session: Session, order: Order) -> list[OrderRefund]:
    return list(
        session.scalars(
            select(OrderRefund)
            .where(OrderRefund.shop_id == order.shop_id, OrderRefund.order_id == order.id)
            .order_by(OrderRefund.id)
        )
    )


def order_violations(session: Session, order: Order) -> list[OrderViolation]:
    return list(
        session.scalars(
            select(OrderViolation)
            .where(OrderViolation.shop_id == order.shop_id, OrderViolation.order_id == order.id)
            .order_by(OrderViolation.seq)
        )
    )


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


# ----- O3 shipping -------------------------------------------------------------------------


def ship_order(ctx: Ctx, shop_id: int, order_id: int, *, carrier: str, tracking_no: str) -> Order:
    """O3: an order counts as shipped only once a valid tracking number is uploaded here.
    Shipping clears the late-shipment (O6/O7) and auto-close (O5) deadlines."""
    order = get_order(ctx.session, shop_id, order_id)
    return _ship(ctx, order, carrier, tracking_no)


def _ship(ctx: Ctx, order: Order, carrier_name: str, tracking_text: str) -> Order:
    carrier = find_carrier(carrier_name)
    tracking = normalize_tracking(tracking_text)
    errors = []
    if carrier is None:
        errors.append(
            _field(
                "carrier", f"不支持的快递公司：{carrier_name}", f"Unknown carrier: {carrier_name}"
            )
        )
    elif not carrier.pattern.match(tracking):
        errors.append(
            _field(
                "tracking_no",
                f"{carrier.name}快递单号格式不正确（例如 {carrier.example}）",
                f"Invalid {carrier.code} tracking number (e.g. {carrier.example})",
            )
        )
    if errors:
        raise ValidationFailed(
            "invalid_shipment", "发货信息有误", "Invalid shipment", errors=errors, rule="O3"
        )
    assert carrier is not None
    refusal = rules.ship_refusal(order)
    if refusal is not None:
        raise refusal
    # Conditional on the status the sweeps also test, so a judgment and a shipment serialize.
    changed = rowcount(
        ctx.session.execute(
            update(Order)
            .where(
                Order.id == order.id,
                Order.shop_id == order.shop_id,
                Order.status == OrderStatus.AWAITING_SHIPMENT,
            )
            .values(
                status=OrderStatus.SHIPPED,
                shipped_at=ctx.now,
                carrier=carrier.code,
                tracking_no=tracking,
                next_judge_at=None,
                auto_close_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    )
    if changed != 1:
        raise Conflict(
            "not_shippable", "订单状态已变化，不能发货", "Order changed; cannot ship", rule="O3"
        )
    ctx.session.refresh(order)
    record_history(
        ctx,
        order,
        OrderStatus.AWAITING_SHIPMENT,
        OrderStatus.SHIPPED,
        "O3",
        f"{carrier.name} {tracking}",
    )
    late = order.ship_by is not None and ctx.now > order.ship_by
    notify.emit(
        ctx,
        order.shop_id,
        "order.shipped",
        {**order_event(order), "carrier": carrier.code, "tracking_no": tracking, "late": late},
        rule="O3",
    )
    return order


@dataclass
class ShipRow:
    row: int
    order_no: str
    carrier: str
    tracking_no: str
    result: str  # shipped | error
    code: str = ""
    message_zh: str = ""
    message_en: str = ""


BATCH_MAX_ROWS = 5000
BATCH_MAX_BYTES = 5 * 1024 * 1024
_COLUMNS = {"订单号": "order_no", "快递公司": "carrier", "快递单号": "tracking_no"}


def ship_batch(ctx: Ctx, shop_id: int, filename: str, content: bytes) -> list[ShipRow]:
    """O3 batch import 批量发货: a CSV or XLSX with columns 订单号, 快递公司, 快递单号.
    Each row ships in its own savepoint: a bad row reports its reason and changes nothing."""
    rows = parse_ship_file(filename, content)
    results: list[ShipRow] = []
    for number, record in rows:
        out = ShipRow(
            row=number,
            order_no=record["order_no"],
            carrier=record["carrier"],
            tracking_no=record["tracking_no"],
            result="shipped",
        )
        try:
            with ctx.session.begin_nested():
                if not out.order_no:
                    raise ValidationFailed(
                        "invalid_shipment",
                        "订单号不能为空",
                        "Order no. is required",
                        field="订单号",
                    )
                order = get_order_by_no(ctx.session, shop_id, out.order_no)
                _ship(ctx, order, out.carrier, out.tracking_no)
        except XiaodianError as exc:
            detail = exc.errors[0] if exc.errors else None
            out.result = "error"
            out.code = exc.code
            out.message_zh = detail["message_zh"] if detail else exc.message_zh
            out.message_en = detail["message_en"] if detail else exc.message_en
        results.append(out)
    return results


def parse_ship_file(filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """Rows (1-based line number in the file, with the header as row 1) of a shipping file."""
    if len(content) > BATCH_MAX_BYTES:
        raise ValidationFailed(
            "file_too_large", "文件不能超过5MB", "File must be ≤ 5 MB", field="file"
        )
    name = filename.lower()
    if name.endswith(".xlsx"):
        table = _read_xlsx(content)
    elif name.endswith(".csv") or name.endswith(".txt"):
        table = _read_csv(content)
    else:
        raise ValidationFailed(
            "bad_file_type",
            "仅支持 CSV 或 XLSX 文件",
            "Only CSV or XLSX files are accepted",
            field="file",
        )
    if not table:
        raise ValidationFailed("empty_file", "文件为空", "The file is empty", field="file")
    header = [cell.strip().lstrip("\ufeff") for cell in table[0]]
    missing = [col for col in _COLUMNS if col not in header]
    if missing:
        raise ValidationFailed(
            "missing_columns",
            f"缺少列：{'、'.join(missing)}",
            f"Missing columns: {', '.join(missing)}",
            field="file",
            errors=[_field(col, "缺少此列", "column missing") for col in missing],
        )
    index = {key: header.index(col) for col, key in _COLUMNS.items()}
    out: list[tuple[int, dict[str, str]]] = []
    for number, raw in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue
        record = {key: (raw[i].strip() if i < len(raw) else "") for key, i in index.items()}
        out.append((number, record))
    if len(out) > BATCH_MAX_ROWS:
        raise ValidationFailed(
            "too_many_rows",
            f"一次最多导入{BATCH_MAX_ROWS}行",
            f"At most {BATCH_MAX_ROWS} rows per file",
            field="file",
        )
    return out


def _read_csv(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValidationFailed("bad_encoding", "无法识别文件编码", "Unknown encoding", field="file")
    return [row for row in csv.reader(io.StringIO(text))]


_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _read_xlsx(content: bytes) -> list[list[str]]:
    """The first worksheet of an XLSX file as text cells (stdlib only: zip + XML)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            names = set(book.namelist())
            if sum(info.file_size for info in book.infolist()) > 50 * BATCH_MAX_BYTES:
                raise ValidationFailed(
                    "file_too_large", "文件解压后过大", "File too large", field="file"
                )
            shared: list[str] = []
            if "xl/sharedStrings.xml" in names:
                root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
                for si in root.findall("m:si", _NS):
                    shared.append("".join(t.text or "" for t in si.iter(f"{{{_NS['m']}}}t")))
            sheet = _first_sheet(book, names)
            root = ElementTree.fromstring(book.read(sheet))
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError) as exc:
        raise ValidationFailed(
            "bad_xlsx", "XLSX 文件无法读取", "Unreadable XLSX file", field="file"
        ) from exc
    table: list[list[str]] = []
    for row in root.iter(f"{{{_NS['m']}}}row"):
        cells: dict[int, str] = {}
        for position, cell in enumerate(row.findall("m:c", _NS)):
            ref = cell.get("r", "")
            column = _column_index(ref) if ref else position
            kind = cell.get("t", "")
            if kind == "inlineStr":
                value = "".join(t.text or "" for t in cell.iter(f"{{{_NS['m']}}}t"))
            else:
                v = cell.find("m:v", _NS)
                value = v.text or "" if v is not None else ""
                if kind == "s" and value.isdigit() and int(value) < len(shared):
                    value = shared[int(value)]
                elif kind == "" and re.fullmatch(r"\d+\.0+", value):
                    value = value.split(".")[0]
            cells[column] = value
        width = max(cells) + 1 if cells else 0
        table.append([cells.get(i, "") for i in range(width)])
    return table


def _first_sheet(book: zipfile.ZipFile, names: set[str]) -> str:
    if "xl/workbook.xml" in names and "xl/_rels/workbook.xml.rels" in names:
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        first = workbook.find("m:sheets/m:sheet", _NS)
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        if first is not None:
            rid = first.get(_REL_NS)
            for rel in rels:
                if rel.get("Id") == rid:
                    target = rel.get("Target", "").lstrip("/")
                    return target if target.startswith("xl/") else f"xl/{target}"
    return "xl/worksheets/sheet1.xml"


def _column_index(ref: str) -> int:
    index = 0
    for char in ref:
        if not char.isalpha():
            break
        index = index * 26 + (ord(char.upper()) - 64)
    return index - 1


# ----- after-sales hooks, refunds (A6, O5) -------------------------------------------------


def set_after_sale(ctx: Ctx, shop_id: int, order_id: int, state: str, rule: str | None) -> Order:
    """After-sales marks the order's after-sale state (e.g. in_progress when a request opens)."""
    if state not in {s.value for s in AfterSale}:
        raise ValidationFailed(
            "invalid_after_sale",
            f"未知售后状态 {state}",
            f"Unknown after-sale state {state}",
            field="after_sale",
        )
    order = get_order(ctx.session, shop_id, order_id)
    if order.after_sale != state:
        names = AFTER_SALE_LABELS  # U5: the note reads 无售后 → 售后中, never the codes
        note = f"售后状态：{names[order.after_sale]} → {names[state]}"
        record_history(ctx, order, order.status, order.status, rule, note)
        order.after_sale = state
    return order


def mark_refund_agreed(
    ctx: Ctx, shop_id: int, order_id: int, *, reason: str = "", rule: str = "A6"
) -> Order:
    """A6/O7: the merchant agreed a refund with the buyer; on an unshipped order this stops
    late-shipment judgment (no further 发货超时判定 for it)."""
    order = get_order(ctx.session, shop_id, order_id)
    if order.status not in (OrderStatus.AWAITING_SHIPMENT, OrderStatus.SHIPPED):
        raise Conflict(
            "not_refundable",
            f"订单状态为{STATUS_LABELS[order.status]}，不能退款",
            f"Order is {order.status}; no refund can be agreed",
            rule=rule,
        )
    ctx.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.shop_id == shop_id)
        .values(refund_agreed_at=ctx.now, next_judge_at=None, after_sale=AfterSale.REFUND_AGREED)
        .execution_options(synchronize_session=False)
    )
    ctx.session.refresh(order)
    record_history(ctx, order, order.status, order.status, rule, f"已同意退款 {reason}".strip())
    notify.emit(
        ctx, shop_id, "order.refund_agreed", {**order_event(order), "reason": reason}, rule=rule
    )
    return order


def refund(
    ctx: Ctx,
    shop_id: int,
    order_id: int,
    amount_fen: int,
    reason: str,
    rule: str | None,
    reference: str | None = None,
) -> OrderRefund:
    """Refund by the original payment route; if the gateway refuses, refund to the buyer's
    platform balance instead (O5, A6). The outcome — route used, fallback, failure reason —
    is recorded on ``order_refunds`` and in the ledger (ORDER_ESCROW → EXTERNAL or
    → BUYER_PLATFORM_BALANCE). A full refund of an unshipped order closes it.

    A caller that may retry the same refund (after a provider timeout or a rollback) passes a
    ``reference`` of its own: the provider and the ledger then see one refund, never two."""
    order = get_order(ctx.session, shop_id, order_id)
    return refund_order(ctx, order, amount_fen, reason, rule, reference=reference)


def refund_order(
    ctx: Ctx,
    order: Order,
    amount_fen: int,
    reason: str,
    rule: str | None,
    close_reason: str = "refunded",
    reference: str | None = None,
) -> OrderRefund:
    """``reference`` is what the payment provider and the ledger see as the idempotency key;
    by default one per refund row. A caller that may retry the same refund after a rollback
    (O5 auto-close) passes a key derived from the order, so the retry can never pay twice."""
    refusal = rules.refund_amount_refusal(
        order.paid_at, order.paid_fen - order.refunded_fen, amount_fen, rule
    )
    if refusal is not None:
        raise refusal
    session = ctx.session
    row = OrderRefund(
        shop_id=order.shop_id,
        order_id=order.id,
        amount_fen=amount_fen,
        reason=reason[:200],
        rule=rule,
        original_route=order.payment_route,
        route=order.payment_route,
        fell_back=False,
        failure_reason="",
        created_at=ctx.now,
    )
    session.add(row)
    session.flush()
    reference = reference or f"order-refund:{row.id}"
    result = gateway(ctx).refund(order.shop_id, order.payment_route, amount_fen, reference)
    target = Account.EXTERNAL
    if not result.ok:
        row.route, row.fell_back, row.failure_reason = FALLBACK_ROUTE, True, result.reason[:200]
        target = Account.BUYER_PLATFORM_BALANCE
    posted = ledger.move(
        ctx,
        order.shop_id,
        source=Account.ORDER_ESCROW,
        target=target,
        amount_fen=amount_fen,
        key=reference,
        kind="order_refund",
        rule=rule,
        memo=f"订单 {order.order_no} 退款（{row.route}）",
        ref_type="order",
        ref_id=order.id,
    )
    row.ledger_txn_id = posted.txn.id
    order.refunded_fen += amount_fen
    full = order.refunded_fen >= order.paid_fen
    order.after_sale = AfterSale.REFUNDED if full else AfterSale.PARTIALLY_REFUNDED
    if full and order.status == OrderStatus.AWAITING_SHIPMENT:
        order.closed_at = ctx.now
        order.close_reason = close_reason
        order.next_judge_at = None
        order.auto_close_at = None
        _set_status(
            ctx,
            order,
            OrderStatus.CLOSED,
            rule,
            f"全额退款后关闭（{ROUTE_LABELS.get(row.route, row.route)}）",
        )
    else:
        record_history(
            ctx,
            order,
            order.status,
            order.status,
            rule,
            f"退款 {yuan_label(amount_fen)}({row.route})",
        )
    session.flush()
    notify.emit(
        ctx,
        order.shop_id,
        "order.refunded",
        {
            **order_event(order),
            "refund_id": row.id,
            "amount_fen": amount_fen,
            "route": row.route,
            "original_route": row.original_route,
            "fell_back": row.fell_back,
            "failure_reason": row.failure_reason,
            "reason": reason,
        },
        rule=rule,
    )
    return row


# ----- O6–O8 violations, reviews -----------------------------------------------------------


def list_violations(
    session: Session,
    shop_id: int,
    *,
    penalty_status: str | None = None,
    order_id: int | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[tuple[OrderViolation, str]]:
    """订单-违规处理: the shop's late-shipment judgments, newest first, with penalty status."""
    query = (
        select(OrderViolation, Order.order_no)
        .join(Order, Order.id == OrderViolation.order_id)
        .where(OrderViolation.shop_id == shop_id, Order.shop_id == shop_id)
        .order_by(OrderViolation.id.desc())
        .limit(limit)
    )
    if penalty_status:
        query = query.where(OrderViolation.penalty_status == penalty_status)
    if order_id is not None:
        query = query.where(OrderViolation.order_id == order_id)
    if before_id is not None:
        query = query.where(OrderViolation.id < before_id)
    return [(v, no) for v, no in session.execute(query)]


def list_review_flags(session: Session, shop_id: int | None = None) -> list[ShopReviewFlag]:
    query = select(ShopReviewFlag).order_by(ShopReviewFlag.id.desc())
    if shop_id is not None:
        query = query.where(ShopReviewFlag.shop_id == shop_id)
    return list(session.scalars(query))


REVIEW_DECISIONS = {"no_action": "不处理", "suspend": "停业整顿", "clear_out": "清退"}


def decide_review(ctx: Ctx, flag_id: int, decision: str, note: str = "") -> ShopReviewFlag:
    """O8: a platform operator decides a review flag (never automatic)."""
    if decision not in REVIEW_DECISIONS:
        raise ValidationFailed(
            "invalid_decision",
            f"未知处理结果 {decision}",
            f"Unknown decision {decision}",
            field="decision",
        )
    flag = ctx.session.get(ShopReviewFlag, flag_id)
    if flag is None:
        raise NotFound("平台审核", "Review flag", flag_id)
    if flag.status == "decided":
        raise Conflict("already_decided", "该审核已处理", "This review was already decided")
    flag.status, flag.decision, flag.note = "decided", decision, note[:300]
    flag.decided_by, flag.decided_at = ctx.actor, ctx.now
    notify.emit(
        ctx,
        flag.shop_id,
        "shop.review_decided",
        {"flag_id": flag.id, "order_id": flag.order_id, "decision": decision},
        rule="O8",
    )
    return flag


# ----- helpers -----------------------------------------------------------------------------


def _set_status(ctx: Ctx, order: Order, to: str, rule: str | None, note: str) -> None:
    before = order.status
    order.status = to
    record_history(ctx, order, before, to, rule, note)


def record_history(
    ctx: Ctx, order: Order, from_status: str | None, to_status: str, rule: str | None, note: str
) -> None:
    """One row of the order's status history (also a note on an unchanged status)."""
    ctx.session.add(
        OrderStatusChange(
            shop_id=order.shop_id,
            order_id=order.id,
            from_status=from_status,
            to_status=to_status,
            rule=rule,
            actor=ctx.actor,
            note=note[:300],
            at=ctx.now,
        )
    )


def order_event(order: Order) -> dict[str, Any]:
    """The fields every order event carries."""
    return {"order_id": order.id, "order_no": order.order_no, "status": order.status}

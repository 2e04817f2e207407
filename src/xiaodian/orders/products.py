"""Products 商品管理 (issue 13 U1; O4 ship-by per product, O8 bans): create, edit, 上架/下架,
stock, the stock take and ship-by clock of an order, and the platform's unban. Split from
``service.py`` by SPEC section (issue 15 M3); ``service.py`` re-exports every public name."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, literal_column, select, update
from sqlalchemy.orm import Session

from xiaodian.config import Settings
from xiaodian.context import Ctx
from xiaodian.db import get_owned, rowcount
from xiaodian.errors import Conflict, ValidationFailed
from xiaodian.errors import field_error as _field
from xiaodian.notify import service as notify
from xiaodian.orders import product_rules, rules
from xiaodian.orders.models import (
    Order,
    Product,
)

# ----- products ----------------------------------------------------------------------------


def create_product(
    ctx: Ctx,
    shop_id: int,
    *,
    title: str,
    price_fen: int,
    stock: int,
    ship_within_hours: int | None = None,
    listed: bool = True,
) -> Product:
    """A new product, on sale unless ``listed`` is False (U1: saved as 已下架)."""
    values = {
        "title": title,
        "price_fen": price_fen,
        "stock": stock,
        "ship_within_hours": ship_within_hours,
    }
    errors = product_rules.field_problems(values)
    if errors:
        raise ValidationFailed("invalid_product", "商品信息有误", "Invalid product", errors=errors)
    title = title.strip()
    product = Product(
        shop_id=shop_id,
        title=title,
        price_fen=price_fen,
        stock=stock,
        ship_within_hours=ship_within_hours,
        ban_reason="",
        delisted_at=None if listed else ctx.now,
        created_at=ctx.now,
    )
    ctx.session.add(product)
    ctx.session.flush()
    notify.emit(ctx, shop_id, "product.created", {"product_id": product.id, "title": title})
    return product


EDITABLE_FIELDS = ("title", "price_fen", "stock", "ship_within_hours")


def update_product(
    ctx: Ctx,
    shop_id: int,
    product_id: int,
    changes: dict[str, Any],
    *,
    expected_stock: int | None = None,
) -> Product:
    """U1 编辑商品: change some of ``EDITABLE_FIELDS`` (``ship_within_hours=None`` → the shop
    default, O4). Orders already placed keep their title, price and ship-by time.

    ``expected_stock``: the stock the editor saw (console form); when an order took stock
    meanwhile, a new absolute stock is refused rather than overwriting the sale."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    product = get_product(ctx.session, shop_id, product_id)
    errors = product_rules.field_problems(changes)
    if (
        "stock" in changes
        and expected_stock is not None
        and product.stock != expected_stock
        and changes["stock"] != product.stock
    ):
        errors.append(
            _field(
                "stock",
                f"库存已变化（现为 {product.stock}），请确认后重新填写",
                f"Stock changed meanwhile (now {product.stock}); check and enter it again",
            )
        )
    if errors:
        raise ValidationFailed("invalid_product", "商品信息有误", "Invalid product", errors=errors)
    changed = {}
    for name, value in changes.items():
        value = value.strip() if name == "title" else value
        if getattr(product, name) != value:
            setattr(product, name, value)
            changed[name] = value
    if changed:
        product.updated_at = ctx.now
        ctx.session.flush()
        notify.emit(ctx, shop_id, "product.updated", {"product_id": product.id, "changed": changed})
    return product


def list_product(ctx: Ctx, shop_id: int, product_id: int) -> Product:
    """U1 上架: on sale again; a banned product is refused (O8, ``listing_refusal``)."""
    product = get_product(ctx.session, shop_id, product_id)
    refusal = product_rules.listing_refusal(product)
    if refusal is not None:
        raise refusal
    if product.delisted_at is not None:
        product.delisted_at = None
        product.updated_at = ctx.now
        notify.emit(ctx, shop_id, "product.listed", {"product_id": product.id})
    return product


def delist_product(ctx: Ctx, shop_id: int, product_id: int) -> Product:
    """U1 下架: buyers can no longer order it (``purchase_refusal``); orders already placed
    are not touched. Allowed for a banned product too; delisting twice changes nothing."""
    product = get_product(ctx.session, shop_id, product_id)
    if product.delisted_at is None:
        product.delisted_at = ctx.now
        product.updated_at = ctx.now
        notify.emit(ctx, shop_id, "product.delisted", {"product_id": product.id})
    return product


def adjust_stock(ctx: Ctx, shop_id: int, product_id: int, delta: int) -> Product:
    """U1 库存调整: add (or with a negative ``delta`` remove) units in one conditional UPDATE,
    so an order taking stock at the same time is never overwritten."""
    product = get_product(ctx.session, shop_id, product_id)
    refusal = product_rules.stock_after(product.stock, delta)
    if refusal is not None:
        raise refusal
    taken = rowcount(
        ctx.session.execute(
            update(Product)
            .where(
                Product.id == product_id,
                Product.shop_id == shop_id,
                Product.stock + delta >= 0,
                Product.stock + delta <= product_rules.STOCK_MAX,
            )
            .values(stock=Product.stock + delta, updated_at=ctx.now)
            .execution_options(synchronize_session=False)
        )
    )
    ctx.session.refresh(product)
    if taken != 1:  # an order took stock between the read and the update
        refusal = product_rules.stock_after(product.stock, delta)
        raise refusal or Conflict("stock_changed", "库存已变化，请重试", "Stock changed; retry")
    notify.emit(
        ctx,
        shop_id,
        "product.stock_adjusted",
        {"product_id": product.id, "delta": delta, "stock": product.stock},
    )
    return product


def get_product(session: Session, shop_id: int, product_id: int) -> Product:
    product: Product = get_owned(session, Product, shop_id, product_id, ("商品", "Product"))
    return product


def list_products(
    session: Session,
    shop_id: int,
    *,
    before_id: int | None = None,
    limit: int = 20,
    status: str | None = None,
    q: str | None = None,
    offset: int = 0,
) -> list[Product]:
    """Newest first; ``status`` (``ProductStatus``) and ``q`` (part of the name) filter; keyset
    paging by ``before_id`` (API) or ``offset`` (console pages with totals)."""
    query = _products_query(shop_id, status, q).order_by(Product.id.desc())
    if before_id is not None:
        query = query.where(Product.id < before_id)
    return list(session.scalars(query.offset(offset).limit(limit)))


def count_products(session: Session, shop_id: int, *, q: str | None = None) -> dict[str, int]:
    """U1 totals: products per status (on_sale, delisted, banned) and ``all``, name filter
    applied — one grouped read."""
    status = case(
        (Product.banned_at.is_not(None), literal_column("'banned'")),
        (Product.delisted_at.is_not(None), literal_column("'delisted'")),
        else_=literal_column("'on_sale'"),
    )
    inner = _products_query(shop_id, None, q).with_only_columns(status.label("status")).subquery()
    rows = session.execute(select(inner.c.status, func.count()).group_by(inner.c.status)).all()
    counts = {s.value: 0 for s in product_rules.ProductStatus}
    counts.update({str(name): int(n) for name, n in rows})
    counts["all"] = sum(counts.values())
    return counts


def _products_query(shop_id: int, status: str | None, q: str | None) -> Select[Any]:
    query: Select[Any] = select(Product).where(Product.shop_id == shop_id)
    if q:
        query = query.where(Product.title.contains(q, autoescape=True))
    if status == product_rules.ProductStatus.BANNED:
        query = query.where(Product.banned_at.is_not(None))
    elif status == product_rules.ProductStatus.DELISTED:
        query = query.where(Product.banned_at.is_(None), Product.delisted_at.is_not(None))
    elif status == product_rules.ProductStatus.ON_SALE:
        query = query.where(Product.banned_at.is_(None), Product.delisted_at.is_(None))
    return query


def ban_order_nos(session: Session, shop_id: int, products: list[Product]) -> dict[int, str]:
    """The order numbers behind the O8 bans of ``products`` (order id → order no)."""
    ids = {p.ban_order_id for p in products if p.ban_order_id is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(Order.id, Order.order_no).where(Order.shop_id == shop_id, Order.id.in_(ids))
    )
    return {int(i): str(no) for i, no in rows}


def effective_ship_hours(product: Product, settings: Settings) -> int:
    """O4: the product's promise, else the default (48 h after payment) — ``rules``."""
    return rules.effective_ship_hours(product, settings.orders.ship_within_hours)


def take_stock(
    session: Session, shop_id: int, product_id: int, qty: int, *, on_sale_only: bool = True
) -> bool:
    """Take ``qty`` units atomically: one conditional UPDATE that holds only while there is
    enough stock and the product is not banned (O8) — and, for a purchase, not taken off sale
    (U1 下架). True if taken; a caller refuses with its own words when not. Placing an order
    and creating a prize order (L2) both take stock here."""
    conditions = [
        Product.id == product_id,
        Product.shop_id == shop_id,
        Product.stock >= qty,
        Product.banned_at.is_(None),
    ]
    if on_sale_only:
        conditions.append(Product.delisted_at.is_(None))
    taken = rowcount(
        session.execute(
            update(Product)
            .where(*conditions)
            .values(stock=Product.stock - qty)
            .execution_options(synchronize_session=False)
        )
    )
    return taken == 1


def start_ship_clock(ctx: Ctx, order: Order, products: Iterable[Product]) -> tuple[int, datetime]:
    """O4: the order is paid now and must ship within the longest promise of its products;
    its first late-shipment judgment (O6) is due at that instant. Returns the hours (for the
    history note) and the ship-by instant. A paid order and a prize order (L2) start their
    clock here."""
    hours = rules.ship_hours(products, ctx.settings.orders.ship_within_hours)
    ship_by = rules.ship_by(ctx.now, hours)
    order.paid_at = ctx.now
    order.ship_by = ship_by
    order.next_judge_at = ship_by
    return hours, ship_by


def unban_product(ctx: Ctx, shop_id: int, product_id: int, note: str = "") -> Product:
    """O8: a banned product is sellable again only when the platform unbans it."""
    product = get_product(ctx.session, shop_id, product_id)
    if product.banned_at is None:
        raise Conflict("not_banned", "商品未被封禁", "Product is not banned")
    product.banned_at = None
    product.ban_reason = ""
    notify.emit(
        ctx, shop_id, "product.unbanned", {"product_id": product.id, "note": note}, rule="O8"
    )
    return product

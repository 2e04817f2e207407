"""U1 商品管理: pure decisions about a product — its status (在售/已下架/已封禁), whether the
merchant may list it again, whether a buyer may buy it, whether field values are acceptable,
and what a merchant is told about an O8 ban (which rule, when, who lifts it, what to do).

No database here; ``orders.service`` does the writes (``update_product``, ``list_product``,
``delist_product``, ``adjust_stock``) and asks these functions first.

* O4: ``ship_within_hours`` is the product's own promise (pre-sale); empty = the shop default.
* O8: a banned product cannot be bought, and the merchant cannot list it again: only a platform
  operator lifts a ban (``unban_product``). Editing stays allowed — 整改 is editing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from xiaodian.errors import Conflict, ValidationFailed, XiaodianError
from xiaodian.errors import field_error as _field

TITLE_MAX = 120
PRICE_MAX_FEN = 10**10  # 1 亿元
STOCK_MAX = 10**9
SHIP_HOURS_MAX = 24 * 90  # O4: a pre-sale promise of at most 90 days
BAN_RULE = "O8"
_FULL_WIDTH = str.maketrans({"(": "（", ")": "）", ",": "，", ":": "："})


class ProductStatus(StrEnum):
    ON_SALE = "on_sale"  # 在售
    DELISTED = "delisted"  # 已下架 (the merchant took it off sale)
    BANNED = "banned"  # 已封禁 (O8; wins over 下架)


PRODUCT_STATUS_LABELS: dict[str, str] = {
    ProductStatus.ON_SALE: "在售",
    ProductStatus.DELISTED: "已下架",
    ProductStatus.BANNED: "已封禁",
}


class _ProductLike(Protocol):
    id: int
    title: str
    banned_at: datetime | None
    delisted_at: datetime | None


def product_status(product: _ProductLike) -> ProductStatus:
    """已封禁 when banned (O8) whatever the listing; else 已下架 when delisted; else 在售."""
    if product.banned_at is not None:
        return ProductStatus.BANNED
    if product.delisted_at is not None:
        return ProductStatus.DELISTED
    return ProductStatus.ON_SALE


def listing_refusal(product: _ProductLike) -> XiaodianError | None:
    """U1 上架: a banned product cannot be listed again by the merchant (O8) — only the
    platform lifts a ban. ``None``: it may be listed (listing a listed product changes
    nothing)."""
    if product.banned_at is not None:
        return Conflict(
            "banned_cannot_list",
            "商品已被平台封禁（规则 O8），商家不能自行上架。请先整改并提交申诉，"
            "由平台运营人员解除封禁后再上架。",
            "This product is banned by the platform (rule O8); the merchant cannot list it. "
            "Fix the cause and appeal: only a platform operator can lift the ban.",
            rule=BAN_RULE,
        )
    return None


def banned_refusal(product: _ProductLike, *, prize: bool = False) -> XiaodianError | None:
    """O8: a banned product can be neither bought nor given as a lucky-bag prize (L2) — the
    ban check, written once (the stock UPDATE repeats it in SQL, ``service.take_stock``)."""
    if product.banned_at is None:
        return None
    if prize:
        return Conflict(
            "product_banned",
            f"奖品「{product.title}」已被封禁，暂不可兑换",
            f"Prize product {product.id} is banned",
            rule=BAN_RULE,
        )
    return Conflict(
        "product_banned",
        f"商品「{product.title}」已被封禁，暂不可购买",
        f"Product {product.id} is banned",
        rule=BAN_RULE,
    )


def purchase_refusal(product: _ProductLike) -> XiaodianError | None:
    """A buyer may buy only a product on sale: banned (O8) or delisted (U1 下架) → refused."""
    banned = banned_refusal(product)
    if banned is not None:
        return banned
    if product.delisted_at is not None:
        return Conflict(
            "product_delisted",
            f"商品「{product.title}」已下架，暂不可购买",
            f"Product {product.id} is not on sale (delisted)",
        )
    return None


def field_problems(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Field errors for the given product fields (create: all of them; edit: the changed
    ones). Keys: ``title``, ``price_fen``, ``stock``, ``ship_within_hours`` (``None`` = the
    shop default, O4)."""
    errors = []
    if "title" in values:
        title = str(values["title"]).strip()
        if not 1 <= len(title) <= TITLE_MAX:
            errors.append(
                _field(
                    "title",
                    f"商品名称须为 1–{TITLE_MAX} 个字符",
                    f"Title must be 1–{TITLE_MAX} characters",
                )
            )
    if "price_fen" in values:
        price = values["price_fen"]
        if price < 0:
            errors.append(_field("price_fen", "价格不能为负", "Price cannot be negative"))
        elif price > PRICE_MAX_FEN:
            errors.append(
                _field(
                    "price_fen",
                    f"价格不能超过 {PRICE_MAX_FEN // 100:,} 元",
                    f"Price cannot exceed {PRICE_MAX_FEN // 100:,} yuan",
                )
            )
    if "stock" in values:
        stock = values["stock"]
        if stock < 0:
            errors.append(_field("stock", "库存不能为负", "Stock cannot be negative"))
        elif stock > STOCK_MAX:
            errors.append(
                _field("stock", f"库存不能超过 {STOCK_MAX:,}", f"Stock cannot exceed {STOCK_MAX:,}")
            )
    hours = values.get("ship_within_hours")
    if hours is not None and not 1 <= hours <= SHIP_HOURS_MAX:
        errors.append(
            _field(
                "ship_within_hours",
                f"承诺发货时间须为 1–{SHIP_HOURS_MAX} 小时（最长 90 天）",
                f"Ship-within must be 1–{SHIP_HOURS_MAX} hours (90 days at most)",
            )
        )
    return errors


def stock_after(stock: int, delta: int) -> XiaodianError | None:
    """U1 库存调整: the stock after adding ``delta`` must stay within 0…STOCK_MAX."""
    if delta == 0:
        return _stock_error("调整数量不能为 0", "The adjustment cannot be 0")
    after = stock + delta
    if after < 0:
        return _stock_error(
            f"库存不足：当前库存 {stock}，不能减少 {-delta}",
            f"Stock is {stock}; it cannot be reduced by {-delta}",
        )
    if after > STOCK_MAX:
        return _stock_error(f"库存不能超过 {STOCK_MAX:,}", f"Stock cannot exceed {STOCK_MAX:,}")
    return None


def _stock_error(zh: str, en: str) -> XiaodianError:
    return ValidationFailed(
        "invalid_stock_adjustment", zh, en, errors=[_field("delta", zh, en)], field="delta"
    )


@dataclass(frozen=True)
class BanNotice:
    """What the merchant is told about an O8 ban: which rule, when, why, who lifts it and
    what the merchant does (整改, then 申诉)."""

    rule: str
    banned_at: datetime
    reason: str
    order_id: int | None
    lifted_by: str
    steps: tuple[str, ...]


def ban_notice(
    banned_at: datetime | None, reason: str, order_id: int | None, order_no: str | None = None
) -> BanNotice | None:
    if banned_at is None:
        return None
    order = f"订单 {order_no}" if order_no else "引起封禁的订单"
    return BanNotice(
        rule=BAN_RULE,
        banned_at=banned_at,
        reason=(reason or "订单发货超时次数过多（O8 商品封禁）").translate(_FULL_WIDTH),
        order_id=order_id,
        lifted_by="只有平台运营人员可以解除封禁，商家不能自行上架。",
        steps=(
            f"整改：尽快处理{order}（发货，或与买家协商退款），避免再次发货超时。",
            "申诉：整改后联系平台运营人员说明情况、申请解除封禁；解封后即可重新上架。",
        ),
    )

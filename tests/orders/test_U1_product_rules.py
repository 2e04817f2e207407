"""U1 商品管理: the pure decisions of ``orders.product_rules`` (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from xiaodian.orders import product_rules as r

T = datetime(2026, 11, 6, 2, 0, tzinfo=UTC)


@dataclass
class P:
    id: int = 7
    title: str = "保温杯"
    banned_at: datetime | None = None
    delisted_at: datetime | None = None


def test_U1_status_ban_wins_over_delisting() -> None:
    assert r.product_status(P()) == r.ProductStatus.ON_SALE
    assert r.product_status(P(delisted_at=T)) == r.ProductStatus.DELISTED
    assert r.product_status(P(banned_at=T, delisted_at=T)) == r.ProductStatus.BANNED
    assert [r.PRODUCT_STATUS_LABELS[s] for s in r.ProductStatus] == ["在售", "已下架", "已封禁"]


def test_U1_listing_and_purchase_refusals() -> None:
    assert r.listing_refusal(P()) is None and r.listing_refusal(P(delisted_at=T)) is None
    refusal = r.listing_refusal(P(banned_at=T))
    assert refusal is not None and (refusal.code, refusal.status, refusal.rule) == (
        "banned_cannot_list",
        409,
        "O8",
    )
    assert r.purchase_refusal(P()) is None
    banned = r.purchase_refusal(P(banned_at=T, delisted_at=T))
    assert banned is not None and banned.code == "product_banned"
    delisted = r.purchase_refusal(P(delisted_at=T))
    assert delisted is not None and delisted.code == "product_delisted"
    assert "，" in delisted.message_zh and "," not in delisted.message_zh


def test_U1_field_problems_bounds() -> None:
    ok = {"title": "杯", "price_fen": 0, "stock": 0, "ship_within_hours": None}
    assert r.field_problems(ok) == []
    assert r.field_problems({**ok, "ship_within_hours": r.SHIP_HOURS_MAX}) == []
    bad = {
        "title": " " * 3,
        "price_fen": r.PRICE_MAX_FEN + 1,
        "stock": -1,
        "ship_within_hours": 0,
    }
    fields = [e["field"] for e in r.field_problems(bad)]
    assert fields == ["title", "price_fen", "stock", "ship_within_hours"]
    assert r.field_problems({"price_fen": 5}) == []  # an edit checks only what it changes


def test_U1_stock_after_never_below_zero() -> None:
    assert r.stock_after(5, -5) is None and r.stock_after(0, 10) is None
    below = r.stock_after(5, -6)
    assert below is not None and below.errors[0]["field"] == "delta"
    assert "当前库存 5" in below.message_zh
    assert r.stock_after(5, 0) is not None
    assert r.stock_after(r.STOCK_MAX, 1) is not None


def test_U1_ban_notice_names_rule_time_and_unban_path() -> None:
    assert r.ban_notice(None, "", None) is None
    notice = r.ban_notice(T, "订单发货超时累计超过2次（O8 商品封禁）", 3, "2611021234567890123")
    assert notice is not None
    assert (notice.rule, notice.banned_at, notice.order_id) == ("O8", T, 3)
    assert notice.reason == "订单发货超时累计超过2次（O8 商品封禁）"
    assert "平台运营人员" in notice.lifted_by
    assert notice.steps[0].startswith("整改") and "2611021234567890123" in notice.steps[0]
    assert notice.steps[1].startswith("申诉")

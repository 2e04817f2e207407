"""API shapes for orders (SPEC §3). Money is int fen; times are aware UTC on the wire (a time
given without an offset is read as Asia/Shanghai, the merchant's calendar)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from xiaodian.orders.filters import OrderFilter as OrderFilter
from xiaodian.orders.filters import ViolationState as ViolationState
from xiaodian.strict import RequestModel, StrictInt

_SHANGHAI = ZoneInfo("Asia/Shanghai")


class ProductIn(RequestModel):
    """U1 新建商品. ``listed: false`` saves it as 已下架 (not sellable until 上架)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=120, description="商品名称")
    price_fen: StrictInt = Field(ge=0, le=10**10, description="价格（分）")
    stock: StrictInt = Field(ge=0, le=10**9, description="库存")
    ship_within_hours: StrictInt | None = Field(
        None, ge=1, le=24 * 90, description="O4: promise override (e.g. pre-sale)"
    )
    listed: bool = Field(True, description="上架 (true) or save as 已下架 (false)")


class ProductPatch(RequestModel):
    """U1 编辑商品 (partial): only the fields sent change. ``ship_within_hours: null`` goes
    back to the shop default promise (O4). Listing is not edited here: use
    ``POST /api/v1/products/{id}/delist`` (下架) and ``/list`` (上架)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"price_fen": 4_990, "stock": 120},
                {"title": "预售月饼礼盒", "ship_within_hours": 240},
                {"ship_within_hours": None},
            ]
        },
    )

    title: str | None = Field(None, min_length=1, max_length=120, description="商品名称")
    price_fen: StrictInt | None = Field(None, ge=0, le=10**10, description="价格（分）")
    stock: StrictInt | None = Field(None, ge=0, le=10**9, description="库存 (absolute)")
    ship_within_hours: StrictInt | None = Field(
        None, ge=1, le=24 * 90, description="O4 承诺发货时间（小时）；null = shop default"
    )

    @model_validator(mode="after")
    def _not_null(self) -> ProductPatch:
        nulled = [
            name
            for name in ("title", "price_fen", "stock")
            if name in self.model_fields_set and getattr(self, name) is None
        ]
        if nulled:
            raise PydanticCustomError(
                "not_nullable", "cannot be null: {fields}", {"fields": ", ".join(nulled)}
            )
        return self

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class StockAdjustIn(RequestModel):
    """U1 库存调整: add (positive) or remove (negative) units; never below 0."""

    model_config = ConfigDict(extra="forbid")

    delta: StrictInt = Field(ge=-(10**9), le=10**9, description="增减数量, e.g. 50 or -3")


class ProductOut(BaseModel):
    id: int
    title: str
    price_fen: int
    stock: int
    ship_within_hours: int | None
    effective_ship_within_hours: int
    status: str = Field(description="on_sale 在售 | delisted 已下架 | banned 已封禁 (O8)")
    status_label: str
    listed: bool = Field(description="false after 下架 (delisted_at set)")
    delisted_at: datetime | None
    banned: bool
    banned_at: datetime | None
    ban_reason: str
    ban_rule: str | None = Field(description="O8 when banned")
    ban_order_id: int | None = Field(description="the order whose late shipments banned it")
    created_at: datetime
    updated_at: datetime | None


class ProductsPage(BaseModel):
    items: list[ProductOut]
    next_before_id: int | None


class OrderItemIn(RequestModel):
    product_id: StrictInt = Field(ge=1)
    qty: StrictInt = Field(ge=1, le=999)


class PlaceOrderIn(RequestModel):
    shop_id: StrictInt = Field(ge=1)
    items: list[OrderItemIn] = Field(min_length=1, max_length=50)
    address: str = Field(min_length=2, max_length=300)
    payment_route: str = Field(description="wechat | alipay | douyin_pay | bank_card")
    discount_fen: StrictInt = Field(0, ge=0)
    receiver_name: str | None = Field(None, min_length=1, max_length=60)
    receiver_phone: str | None = Field(None, pattern=r"^1\d{10}$")


class OrderItemOut(BaseModel):
    order_item_id: int = Field(
        description="this line's id: what an after-sale application names in items[] (K8)"
    )
    product_id: int
    title: str
    qty: int
    unit_price_fen: int
    amount_fen: int


class OrderSummary(BaseModel):
    id: int
    order_no: str
    status: str
    status_label: str
    buyer_name: str
    buyer_phone: str = Field(description="masked in lists: 138****0001")
    payment_route: str
    goods_fen: int
    discount_fen: int
    paid_fen: int
    refunded_fen: int
    after_sale: str
    violation_count: int
    created_at: datetime
    paid_at: datetime | None
    ship_by: datetime | None
    shipped_at: datetime | None
    carrier: str | None
    tracking_no: str | None
    closed_at: datetime | None
    close_reason: str


class OrdersPage(BaseModel):
    items: list[OrderSummary]
    next_before_id: int | None


class HistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    rule: str | None
    actor: str
    note: str
    at: datetime


class RefundOut(BaseModel):
    id: int
    amount_fen: int
    reason: str
    rule: str | None
    original_route: str
    route: str
    fell_back: bool
    failure_reason: str
    created_at: datetime


class ViolationOut(BaseModel):
    id: int
    order_id: int
    order_no: str
    seq: int
    due_at: datetime
    judged_at: datetime
    penalty_day: datetime
    penalty_fen: int
    penalty_status: str
    penalty_status_label: str
    penalty_decided_at: datetime | None
    ledger_txn_id: int | None


class ViolationsPage(BaseModel):
    items: list[ViolationOut]
    next_before_id: int | None


class OrderDetail(OrderSummary):
    buyer_id: int
    address: str
    completed_at: datetime | None
    refund_agreed_at: datetime | None
    next_judge_at: datetime | None
    auto_close_at: datetime | None
    items: list[OrderItemOut]
    history: list[HistoryOut]
    refunds: list[RefundOut]
    violations: list[ViolationOut]


class ShipIn(RequestModel):
    carrier: str = Field(min_length=1, max_length=20, description="快递公司: code or name")
    tracking_no: str = Field(min_length=1, max_length=40, description="快递单号")


class ShipRowOut(BaseModel):
    row: int
    order_no: str
    carrier: str
    tracking_no: str
    result: Literal["shipped", "error"]
    code: str = ""
    message_zh: str = ""
    message_en: str = ""


class ShipBatchOut(BaseModel):
    total: int
    shipped: int
    errors: int
    rows: list[ShipRowOut]


class DailyCount(BaseModel):
    day: str  # YYYY-MM-DD, Asia/Shanghai
    judgments: int
    late_orders: int = Field(description="rolling window ending with this day")
    base_orders: int = Field(description="rolling window ending with this day")
    late_rate: float = Field(description="rolling late-shipment rate at the end of this day")


class RatingOut(BaseModel):
    window_days: int
    window_start: datetime
    window_end: datetime
    late_orders: int
    base_orders: int
    late_rate: float = Field(description="late_orders / base_orders (0 when no base)")
    judgments: int
    score: int = Field(
        description="O9: score_full − points per judgment × judgments − rate points (≥ 0)"
    )
    score_full: int
    judgment_points: int
    rate_points: int
    daily: list[DailyCount]

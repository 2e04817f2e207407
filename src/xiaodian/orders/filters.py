"""The O1 order filter (订单筛选): what the order list, the API, the console and the O2 export
select orders by. A domain value, not an API shape only: the export stores it as JSON and reads
it back here (issue 15 M5: the services import it from this module, not from ``schemas``).
Times given without an offset are read as Asia/Shanghai, the merchant's calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from xiaodian.orders.models import AfterSale, OrderStatus
from xiaodian.strict import RequestModel

_SHANGHAI = ZoneInfo("Asia/Shanghai")

ViolationState = Literal["none", "violated", "max_judged"]


class OrderFilter(RequestModel):
    """O1: what the merchant filters orders by. ``service.filtered_query`` turns it into one
    SELECT; O2 export streams exactly that SELECT. Time ranges are [from, to)."""

    status: OrderStatus | None = Field(None, description="订单状态")
    order_no: str | None = Field(None, min_length=1, max_length=19, description="订单号")
    product: str | None = Field(
        None, min_length=1, max_length=60, description="商品: an id (digits) or a title substring"
    )
    buyer_name: str | None = Field(
        None, min_length=1, max_length=60, description="买家姓名（前缀）"
    )
    buyer_phone: str | None = Field(None, min_length=4, max_length=20, description="买家手机号")
    created_from: datetime | None = Field(None, description="下单时间 from (inclusive)")
    created_to: datetime | None = Field(None, description="下单时间 to (exclusive)")
    paid_from: datetime | None = Field(None, description="支付时间 from")
    paid_to: datetime | None = Field(None, description="支付时间 to")
    shipped_from: datetime | None = Field(None, description="发货时间 from")
    shipped_to: datetime | None = Field(None, description="发货时间 to")
    ship_by_from: datetime | None = Field(None, description="承诺发货时间 from (U3 即将超时)")
    ship_by_to: datetime | None = Field(None, description="承诺发货时间 to (U3 即将超时)")
    after_sale: AfterSale | None = Field(None, description="售后状态")
    violation: ViolationState | None = Field(
        None, description="违规状态: none 无违规, violated 有发货超时, max_judged 已判定3次"
    )

    @field_validator(
        "created_from",
        "created_to",
        "paid_from",
        "paid_to",
        "shipped_from",
        "shipped_to",
        "ship_by_from",
        "ship_by_to",
    )
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=_SHANGHAI)
        return value

    @field_validator("order_no", "product", "buyer_name", "buyer_phone")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _ranges(self) -> OrderFilter:
        bad = [
            name
            for name in ("created", "paid", "shipped", "ship_by")
            if (lo := getattr(self, f"{name}_from")) is not None
            and (hi := getattr(self, f"{name}_to")) is not None
            and lo >= hi
        ]
        if bad:
            # Its own error type, so the API can word it in Chinese too (see the report).
            raise PydanticCustomError(
                "time_range",
                "time range must have from < to: {ranges}",
                {"ranges": ", ".join(bad)},
            )
        return self

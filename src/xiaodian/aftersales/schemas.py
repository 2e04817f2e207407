"""API shapes for after-sales (SPEC §4). Money is int fen; times are aware UTC."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xiaodian.aftersales.models import RequestKind, RequestStatus, StrategyCode
from xiaodian.strict import RequestModel, StrictInt


class ItemIn(RequestModel):
    order_item_id: StrictInt = Field(ge=1)
    qty: StrictInt = Field(ge=1, le=100_000)


class ApplyIn(RequestModel):
    """A1: 未发货仅退款 / 已发货仅退款 / 退货退款 with items, amount, reason, images."""

    model_config = ConfigDict(extra="forbid")

    order_id: StrictInt = Field(ge=1)
    kind: RequestKind
    items: list[ItemIn] = Field(min_length=1, max_length=100)
    amount_fen: StrictInt = Field(ge=1, le=10**12)
    reason: str = Field(min_length=1, max_length=32)
    note: str = Field("", max_length=500)
    image_ids: list[StrictInt] = Field(default_factory=list, max_length=9)


class ModifyIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemIn] | None = Field(None, min_length=1, max_length=100)
    amount_fen: StrictInt | None = Field(None, ge=1, le=10**12)
    reason: str | None = Field(None, min_length=1, max_length=32)
    note: str | None = Field(None, max_length=500)


class WithdrawIn(RequestModel):
    note: str = Field("", max_length=200)


class InterventionIn(RequestModel):
    """F1: the buyer's 申请平台介入 on a rejected request (an optional note)."""

    note: str = Field("", max_length=200)


class ReturnShipmentIn(RequestModel):
    carrier: str = Field(min_length=1, max_length=20)
    tracking_no: str = Field(min_length=1, max_length=40)


Action = Literal[
    "agree", "reject", "agree_on_refusal", "confirm_return", "approve_change", "decline_change"
]


class OperateIn(RequestModel):
    """One merchant action. ``reject`` needs ``reason`` and ``evidence_ids`` (A4)."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    reason: str = Field("", max_length=32, description="A4 rejection reason code")
    evidence_ids: list[StrictInt] = Field(default_factory=list, max_length=20)
    note: str = Field("", max_length=500)


class InterceptionIn(RequestModel):
    """A3.1 快递拦截 by hand: ``carrier`` asks the carrier adapter (平台拦截, the merchant pays
    the interception fee on success); ``offline`` records an interception the merchant made by
    contacting the carrier itself (线下联系快递, ``note`` required)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["carrier", "offline"]
    note: str = Field("", max_length=200)


class BatchIn(OperateIn):
    request_ids: list[StrictInt] = Field(min_length=1, max_length=200)


class BatchItemOut(BaseModel):
    request_id: int
    ok: bool
    status: str | None
    code: str | None
    message_zh: str
    message_en: str


class BatchOut(BaseModel):
    results: list[BatchItemOut]
    succeeded: int
    failed: int


class HistoryOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    rule: str | None
    strategy: str | None
    actor: str
    note: str
    at: datetime


class EvidenceOut(BaseModel):
    id: int
    party: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class PackageOut(BaseModel):
    id: int
    order_id: int
    seq: int
    carrier: str
    tracking_no: str
    status: str
    interception: str
    interception_fail_reason: str
    fee_fen: int
    fee_status: str
    items: list[ItemIn]


class RequestOut(BaseModel):
    id: int
    order_id: int
    order_no: str
    buyer_name: str
    buyer_phone: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    amount_fen: int
    items: list[ItemIn]
    reason: str
    reason_label: str
    note: str
    applied_at: datetime
    due_at: datetime | None
    remaining_seconds: int | None = Field(None, description="A3: time left before 48 h")
    decided_rule: str | None
    decided_strategy: str | None
    reject_reason: str | None
    refund_id: int | None
    refund_error: str
    refund_attempts: int = Field(0, description="A6: failed refund attempts so far")
    refund_retry_at: datetime | None = Field(
        None, description="A6: when a failed refund is tried again (null: not scheduled)"
    )
    change_request: dict[str, Any] | None


class RequestDetail(RequestOut):
    history: list[HistoryOut]
    evidence: list[EvidenceOut]
    packages: list[PackageOut]


class RequestsPage(BaseModel):
    items: list[RequestOut]
    next_before_id: int | None


class RequestQuery(BaseModel):
    kind: RequestKind | None = None
    status: RequestStatus | None = None
    order_no: str | None = Field(None, min_length=1, max_length=19)
    buyer_name: str | None = Field(None, min_length=1, max_length=60)
    buyer_phone: str | None = Field(None, min_length=4, max_length=20)
    apply_date: date | None = Field(None, description="the day the buyer applied (Asia/Shanghai)")


class StrategyIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    code: StrategyCode
    enabled: bool = True
    threshold_fen: StrictInt | None = Field(None, ge=1, le=10**10)


class StrategyOut(BaseModel):
    code: str
    label: str
    rule: str
    created: bool
    enabled: bool
    threshold_fen: int | None


class CancelShipmentIn(RequestModel):
    order_id: StrictInt = Field(ge=1)


class CancelShipmentOut(BaseModel):
    order_id: int
    cancelled_package_ids: list[int]
    request: RequestOut | None


class SplitIn(RequestModel):
    carrier: str = Field(min_length=1, max_length=20)
    tracking_no: str = Field(min_length=1, max_length=40)
    items: list[ItemIn] = Field(min_length=1, max_length=100)


class CarrierEventIn(BaseModel):
    event: Literal[
        "in_transit",
        "out_for_delivery",
        "delivered",
        "refused",
        "returned",
        "intercept_succeeded",
        "intercept_failed",
    ]
    note: str = Field("", max_length=200)


class InterceptionFaultIn(BaseModel):
    fail: bool = True


class CompletionTimeOut(BaseModel):
    """A3.2 仅退款自主完结时长 over the window (hours; null averages when no request counted)."""

    window_days: int
    window_start: datetime
    window_end: datetime
    count: int
    average_hours: float | None
    median_hours: float | None

"""API shapes for shop red packets (SPEC §1, R1–R8)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictBool

from xiaodian.strict import RequestModel, StrictInt


class IssueIn(RequestModel):
    buyer_douyin_ids: list[str] = Field(
        min_length=1, description="R1: one buyer or a batch (抖音号; at most max_batch_rows)"
    )
    amount_fen: StrictInt = Field(ge=1, description="R1: amount of each packet, fen")
    validity_seconds: StrictInt | None = Field(
        None, ge=1, description="R2: validity from issuance; default 3 days (259200)"
    )
    request_id: str | None = Field(
        None, min_length=1, max_length=80, description="retrying with it issues once"
    )
    note: str = Field("", max_length=200)
    remind: StrictBool = Field(
        True, description="R7 (F7): remind the buyers before these packets expire"
    )
    remind_lead_hours: StrictInt | None = Field(
        None,
        ge=1,
        le=720,
        description="R7 (F7): how many hours before the end to remind; null = the shop's default",
    )


class IssueRowOut(BaseModel):
    row: int
    douyin_id: str
    ok: bool
    redpacket_id: int | None
    code: str
    message_zh: str
    message_en: str


class IssueOut(BaseModel):
    batch_id: int
    issued: int
    rejected: int
    total_fen: int
    replayed: bool
    rows: list[IssueRowOut]


class RedPacketOut(BaseModel):
    id: int
    buyer_id: int
    amount_fen: int
    remaining_fen: int
    spent_fen: int
    reclaimed_fen: int
    returned_to_balance_fen: int
    status: str = Field(description="valid | expiring | expired | reclaimed | used_up")
    status_label: str
    validity_seconds: int
    issued_at: datetime
    expires_at: datetime
    extension_count: int
    remind_enabled: bool = Field(description="R7: reminder chosen at issuance (on/off)")
    remind_lead_hours: int | None = Field(
        description="R7: lead chosen at issuance, hours; null = the shop's default"
    )
    remind_at: datetime | None
    reminded_at: datetime | None


class StatusTotalOut(BaseModel):
    status: str
    label: str
    count: int
    amount_fen: int
    remaining_fen: int


class TotalsOut(BaseModel):
    count: int
    issued_fen: int
    spent_fen: int
    remaining_fen: int
    reclaimed_fen: int
    returned_to_balance_fen: int
    usage_permille: int = Field(description="R8 使用率 = spent / issued, ‰")
    by_status: list[StatusTotalOut]


class RedPacketsPage(BaseModel):
    items: list[RedPacketOut]
    next_before_id: int | None
    totals: TotalsOut


class LogOut(BaseModel):
    kind: str
    amount_fen: int
    order_id: int | None
    rule: str
    note: str
    actor: str
    at: datetime


class RedPacketDetail(RedPacketOut):
    history: list[LogOut]


class ExtendIn(RequestModel):
    extension_seconds: StrictInt = Field(
        ge=1, description="R6: at most the packet's original validity length"
    )


class BulkIn(RequestModel):
    ids: list[StrictInt] = Field(min_length=1, description="at most max_batch_rows")


class BulkExtendIn(BulkIn):
    extension_seconds: StrictInt = Field(ge=1)


class ItemResultOut(BaseModel):
    redpacket_id: int
    ok: bool
    code: str
    message_zh: str
    message_en: str


class BulkOut(BaseModel):
    succeeded: int
    failed: int
    results: list[ItemResultOut]


class UsagePointOut(BaseModel):
    day: str
    issued_fen: int
    spent_fen: int
    usage_permille: int


class StatsOut(BaseModel):
    totals: TotalsOut
    usage: list[UsagePointOut]


class SettingsIn(RequestModel):
    remind_lead_hours: StrictInt | None = Field(
        None, ge=1, le=720, description="R7: reminder lead; null = the default (24 h)"
    )


class SettingsOut(BaseModel):
    remind_lead_hours: int


class CheckoutItemIn(RequestModel):
    product_id: StrictInt = Field(ge=1)
    qty: StrictInt = Field(ge=1, le=9999)


class CheckoutIn(RequestModel):
    items: list[CheckoutItemIn] = Field(min_length=1, max_length=50)
    address: str = Field(min_length=2, max_length=300)
    payment_route: str = Field(description="wechat | alipay | douyin_pay | bank_card")
    redpacket_id: StrictInt | None = Field(None, ge=1, description="R3: the packet to use")
    redpacket_amount_fen: StrictInt | None = Field(
        None, ge=1, description="R3: how much of it; default as much as possible"
    )
    receiver_name: str | None = Field(None, min_length=1, max_length=60)
    receiver_phone: str | None = Field(None, pattern=r"^1\d{10}$")


class CheckoutOut(BaseModel):
    order_id: int
    order_no: str
    goods_fen: int
    discount_fen: int = Field(description="paid by the red packet")
    to_pay_fen: int = Field(description="what the buyer pays next with POST …/pay")
    redpacket_id: int | None
    redpacket_remaining_fen: int | None


class BuyerRedPacketOut(BaseModel):
    id: int
    shop_id: int
    amount_fen: int
    remaining_fen: int
    status: str
    status_label: str
    expires_at: datetime

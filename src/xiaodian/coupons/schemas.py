"""API shapes for coupons (C1–C7). Images travel base64-encoded inside the signed JSON body
(the open-API signature covers the body bytes, so JSON keeps signing simple for ERPs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from xiaodian.coupons.models import INT_FIELD_MAX
from xiaodian.strict import RequestModel, StrictInt

_B64_MAX = 4_000_000  # characters; the decoded image is checked against the 1 MB rule

# Bounds that keep every number inside its column, so a request is refused with a clear 422
# before PostgreSQL could raise an overflow: ids are BIGINT, limits/days/percent INTEGER
# (models.INT_FIELD_MAX), money BIGINT fen (10^12 fen = 100 亿元, as in other contexts).
BIGINT_MAX = 2**63 - 1
FEN_MAX = 10**12
_ID_LIST_MAX = 1000

Id = Annotated[StrictInt, Field(ge=1, le=BIGINT_MAX, description="object id")]
IntField = Annotated[StrictInt, Field(ge=-INT_FIELD_MAX, le=INT_FIELD_MAX)]
Fen = Annotated[StrictInt, Field(ge=-FEN_MAX, le=FEN_MAX, description="fen (1 yuan = 100 fen)")]


class CouponIn(RequestModel):
    """C1 通用券. Every field is required; they are optional here only so that the service
    can report every missing field at once."""

    title: str | None = Field(None, description="卡券标题, ≤ 15 characters")
    merchant_name: str | None = Field(None, description="商家名称, ≤ 10 characters")
    product_image_base64: str | None = Field(
        None,
        max_length=_B64_MAX,
        description="JPEG/PNG, < 1 MB; 686×176 recommended (F8: other sizes are "
        "accepted with a warning in `warnings`)",
    )
    logo_base64: str | None = Field(
        None, max_length=_B64_MAX, description="JPEG/PNG, 132×132, < 1 MB"
    )
    condition_kind: Literal["discount", "amount_off"] | None = None
    discount_percent: IntField | None = Field(None, description="95 = 95折 (pay 95 %)")
    discount_cap_fen: Fen | None = Field(None, description="最多减, fen")
    threshold_fen: Fen | None = Field(None, description="满, fen (0 = no threshold)")
    amount_off_fen: Fen | None = Field(None, description="减, fen")
    store_ids: list[Id] | None = Field(
        None, max_length=_ID_LIST_MAX, description="usable stores; null = all"
    )
    usage_text: str | None = Field(None, description="使用条件 text")
    validity_kind: Literal["fixed", "relative"] | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = Field(None, description="inclusive: the last valid instant")
    valid_days: IntField | None = Field(None, description="relative: valid N days from claim")
    service_phone: str | None = Field(None, description="客服电话")
    claim_instructions: str | None = Field(None, description="领取说明")


class ReasonOut(BaseModel):
    rule: str | None = None
    code: str | None = None
    field: str | None = None
    message_zh: str
    message_en: str


class CouponOut(BaseModel):
    id: int
    status: str
    status_label: str
    title: str
    merchant_name: str
    product_image_url: str
    logo_url: str
    condition_kind: str
    condition_summary: str
    discount_percent: int | None
    discount_cap_fen: int | None
    threshold_fen: int | None
    amount_off_fen: int | None
    store_ids: list[int] | None
    usage_text: str
    validity_kind: str
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    service_phone: str
    claim_instructions: str
    warnings: list[ReasonOut] = Field(
        description="F8: accepted but worth a look, e.g. a product image that is not the "
        "recommended 686×176 (field product_image)"
    )
    created_at: datetime
    review_due_at: datetime
    reviewed_at: datetime | None
    reject_reasons: list[ReasonOut] = Field(description="only once status is rejected")


class ReviewIn(RequestModel):
    decision: Literal["approve", "reject"]
    reason: str = Field("", max_length=500)


_PER_USER = "用户参与限制 每人限领: how many of EACH coupon of the campaign one buyer may claim"
_TOTAL = (
    "卡券发放数量限制 发放总量：how many coupons the campaign issues in total, all its coupons "
    "together (C3)"
)


class CampaignIn(RequestModel):
    name: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    store_ids: list[Id] | None = Field(
        None, max_length=_ID_LIST_MAX, description="null = all stores (不限门店)"
    )
    coupon_ids: list[Id] = Field(default_factory=list, max_length=_ID_LIST_MAX)
    per_user_limit: IntField | None = Field(None, description=_PER_USER)
    total_limit: IntField | None = Field(None, description=_TOTAL)


class CampaignPatch(RequestModel):
    name: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    per_user_limit: IntField | None = Field(None, description=_PER_USER)
    total_limit: IntField | None = Field(None, description=_TOTAL)


class CampaignCouponOut(BaseModel):
    coupon_id: int
    title: str
    claimed: int = Field(description="claims of this coupon (counted in the campaign's total)")


class CampaignOut(BaseModel):
    id: int
    name: str
    status: str
    status_label: str
    starts_at: datetime
    ends_at: datetime
    store_ids: list[int] | None
    per_user_limit: int = Field(description=_PER_USER)
    total_limit: int = Field(description=_TOTAL)
    claimed: int = Field(description="issued so far, all coupons together (≤ total_limit)")
    coupons: list[CampaignCouponOut]
    online_at: datetime | None
    offline_at: datetime | None
    offline_reason: str | None


class HomepageCouponOut(BaseModel):
    campaign_id: int
    campaign_name: str
    coupon_id: int
    title: str
    merchant_name: str
    condition_summary: str
    usage_text: str
    claim_instructions: str
    service_phone: str
    product_image_url: str
    logo_url: str
    per_user_limit: int
    remaining: int
    ends_at: datetime


class ClaimIn(RequestModel):
    campaign_id: Id
    coupon_id: Id


class ClaimOut(BaseModel):
    id: int
    code: str
    code_display: str
    qr_payload: str
    qr_url: str
    status: str
    coupon_id: int
    campaign_id: int
    title: str
    valid_from: datetime
    valid_until: datetime
    claimed_at: datetime
    verified_at: datetime | None


class StaffTokenOut(BaseModel):
    staff_id: int
    token: str = Field(description="bearer token for the staff app API (/staff/v1); shown once")


class StaffMeOut(BaseModel):
    id: int
    shop_id: int
    douyin_id: str
    name: str
    store_ids: list[int] | None


class CodeIn(RequestModel):
    code: str = Field(min_length=1, max_length=200, description="券码, or the scanned QR payload")


class StaffVerifyIn(RequestModel):
    code: str = Field(min_length=1, max_length=200)
    store_id: Id


class PrepareIn(RequestModel):
    code: str | None = Field(None, max_length=200, description="券码 as typed")
    qr_payload: str | None = Field(None, max_length=500, description="scanned QR text")
    staff_id: Id | None = Field(None, description="limit usable stores to this staff's scope")


class RefusalOut(BaseModel):
    code: str
    message_zh: str
    message_en: str


class VerificationOut(BaseModel):
    id: int
    claim_id: int
    code: str
    store_id: int
    staff_id: int | None
    channel: str
    status: str
    client_request_id: str | None
    verified_at: datetime
    cancelled_at: datetime | None
    cancel_deadline: datetime
    replayed: bool = False


class PrepareOut(BaseModel):
    claim: ClaimOut
    coupon: CouponOut
    usable_store_ids: list[int]
    usable: bool
    refusal: RefusalOut | None
    verify_token: str
    verify_token_expires_at: datetime


class V2VerifyIn(RequestModel):
    verify_token: str = Field(min_length=1, max_length=200)
    store_id: Id
    client_request_id: str = Field(min_length=1, max_length=64, description="idempotency key")
    staff_id: Id | None = None


class V2CancelIn(RequestModel):
    verification_id: Id


class ClaimQueryOut(BaseModel):
    claim: ClaimOut
    verifications: list[VerificationOut]

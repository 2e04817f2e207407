"""Coupons 卡券 and verification 核销 (SPEC §5, C1–C7).

Tables (every one carries ``shop_id``, indexed, and every query filters by it):

* ``coupon_images`` — the product image and merchant logo bytes (C1), stored as BLOBs keyed by
  their SHA-256. Why BLOBs and not files: DESIGN scales out by adding *stateless* API and worker
  processes on one PostgreSQL; files on one host's disk would break that (and backups, and
  transactional rollback: a refused coupon would leave an orphan file). Images are < 1 MB and a
  coupon has two, so the database carries them comfortably.
* ``coupons`` — the 通用券 template and its review state (C1, C2).
* ``coupon_campaigns`` / ``coupon_campaign_stores`` / ``coupon_campaign_coupons`` — 店铺主页领券
  活动 (C3); ``coupon_campaigns.claimed`` is the campaign's *total issuance counter* (C3/C4:
  ``total_limit`` caps every coupon of the campaign together); the campaign-coupon row counts
  its own coupon for display.
* ``coupon_claim_counters`` — per (campaign coupon, buyer) claim counter (C4 per-user limit,
  which counts per coupon of the campaign: 每人每种券限领).
* ``coupon_claims`` — one claimed coupon with its unique code (C4) and verification state (C6).
* ``coupon_verifications`` — one verification (C6/C7), cancellable within the window (C7).
* ``coupon_staff_tokens`` — staff-app bearer tokens for verifier staff (C5); a bound phone
  (F4) holds one in its cookie.
* ``coupon_staff_links`` — one-time links that bind a verifier's phone (F4).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.shard import (
    TENANT,
    TENANT_IDENTITY,
    tenant_fk,
    tenant_identity,
    tenant_pk,
    tenant_unique,
)

# INTEGER columns (limits, days, percent) take at most this from a request: far above any real
# campaign, far below int4's 2,147,483,647, so PostgreSQL never sees an overflow.
INT_FIELD_MAX = 1_000_000_000


class CouponStatus:
    REVIEWING = "reviewing"  # 审核中
    ACTIVE = "active"  # 有效中
    REJECTED = "rejected"  # 审核失败

    LABELS: ClassVar[dict[str, str]] = {REVIEWING: "审核中", ACTIVE: "有效中", REJECTED: "审核失败"}


class CampaignStatus:
    SCHEDULED = "scheduled"  # 未开始
    ONLINE = "online"  # 进行中（已上线）
    OFFLINE = "offline"  # 已下线

    LABELS: ClassVar[dict[str, str]] = {SCHEDULED: "未开始", ONLINE: "已上线", OFFLINE: "已下线"}


class ClaimStatus:
    UNUSED = "unused"  # 未使用
    VERIFIED = "verified"  # 已核销

    LABELS: ClassVar[dict[str, str]] = {UNUSED: "未使用", VERIFIED: "已核销"}


class CouponImage(Base):
    __tablename__ = "coupon_images"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("shop_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Coupon(Base):
    """通用券 (C1) and its review (C2)."""

    __tablename__ = "coupons"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_coupons_shop_status", "shop_id", "status"),
        Index("ix_coupons_finalize", "status", "finalize_at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CouponStatus.REVIEWING)
    title: Mapped[str] = mapped_column(String(60))
    merchant_name: Mapped[str] = mapped_column(String(40))
    product_image_sha: Mapped[str] = mapped_column(String(64))
    logo_sha: Mapped[str] = mapped_column(String(64))
    # Usage conditions: kind "discount" (percent 95 = 95折, cap in fen) or "amount_off"
    # (满 threshold 减 amount, fen). store_ids None = every store.
    condition_kind: Mapped[str] = mapped_column(String(16))
    discount_percent: Mapped[int | None] = mapped_column(Integer)
    discount_cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    threshold_fen: Mapped[int | None] = mapped_column(BigInteger)
    amount_off_fen: Mapped[int | None] = mapped_column(BigInteger)
    store_ids: Mapped[list[int] | None] = mapped_column(JsonType)
    usage_text: Mapped[str] = mapped_column(Text)
    # Validity: "fixed" [valid_from, valid_until] (both inclusive) or "relative" N days.
    validity_kind: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_days: Mapped[int | None] = mapped_column(Integer)
    service_phone: Mapped[str] = mapped_column(String(24))
    claim_instructions: Mapped[str] = mapped_column(Text)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(40))
    # C2 review.
    review_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    auto_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    decision: Mapped[str | None] = mapped_column(String(16))  # "approve" | "reject"
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the outcome takes effect (None: waiting for a human).
    finalize_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reject_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)


class Campaign(Base):
    """店铺主页领券活动 (C3)."""

    __tablename__ = "coupon_campaigns"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_coupon_campaigns_shop_status", "shop_id", "status"),
        Index("ix_coupon_campaigns_status_starts", "status", "starts_at"),
        Index("ix_coupon_campaigns_status_ends", "status", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    all_stores: Mapped[bool] = mapped_column(Boolean)
    per_user_limit: Mapped[int] = mapped_column(Integer)  # per buyer, per coupon
    total_limit: Mapped[int] = mapped_column(Integer)  # all coupons of the campaign together
    # Total issuance counter (C4), raised only by a conditional UPDATE (claimed < total_limit).
    claimed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16))
    online_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offline_reason: Mapped[str | None] = mapped_column(String(16))  # "ended" | "manual"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignStore(Base):
    __tablename__ = "coupon_campaign_stores"
    __shard__ = TENANT
    __mapper_args__ = tenant_identity("campaign_id", "store_id")
    __table_args__ = (
        tenant_pk("campaign_id", "store_id"),
        *tenant_fk("coupon_campaign_stores", "campaign_id", "coupon_campaigns"),
        *tenant_fk("coupon_campaign_stores", "store_id", "stores"),
    )

    campaign_id: Mapped[int] = mapped_column(BigId)
    store_id: Mapped[int] = mapped_column(BigId)
    shop_id: Mapped[int] = mapped_column(BigInteger, index=True)


class CampaignCoupon(Base):
    """One coupon offered by a campaign; ``claimed`` counts this coupon's claims (display and
    per-coupon statistics — the limit is on ``Campaign.claimed``)."""

    __tablename__ = "coupon_campaign_coupons"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("coupon_campaign_coupons", "campaign_id", "coupon_campaigns"),
        *tenant_fk("coupon_campaign_coupons", "coupon_id", "coupons"),
        *tenant_unique("campaign_id", "coupon_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger, index=True)
    campaign_id: Mapped[int] = mapped_column(BigId, index=True)
    coupon_id: Mapped[int] = mapped_column(BigId, index=True)
    claimed: Mapped[int] = mapped_column(Integer, default=0)


class ClaimCounter(Base):
    """Per-user claim count of one campaign coupon (C4), guarded by a conditional UPDATE."""

    __tablename__ = "coupon_claim_counters"
    __shard__ = TENANT
    __mapper_args__ = tenant_identity("campaign_coupon_id", "buyer_id")
    __table_args__ = (
        tenant_pk("campaign_coupon_id", "buyer_id"),
        *tenant_fk("coupon_claim_counters", "campaign_coupon_id", "coupon_campaign_coupons"),
    )

    campaign_coupon_id: Mapped[int] = mapped_column(BigId)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    shop_id: Mapped[int] = mapped_column(BigInteger, index=True)
    claimed: Mapped[int] = mapped_column(Integer, default=0)


class Claim(Base):
    """A claimed coupon (C4) with its unique code; verified at most once (C6)."""

    __tablename__ = "coupon_claims"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("coupon_claims", "campaign_id", "coupon_campaigns"),
        *tenant_fk("coupon_claims", "coupon_id", "coupons"),
        *tenant_unique("code"),
        Index("ix_coupon_claims_shop_buyer", "shop_id", "buyer_id"),
        Index("ix_coupon_claims_shop_campaign", "shop_id", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    code: Mapped[str] = mapped_column(String(24))
    campaign_id: Mapped[int] = mapped_column(BigId)
    coupon_id: Mapped[int] = mapped_column(BigId, index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    status: Mapped[str] = mapped_column(String(16), default=ClaimStatus.UNUSED)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)  # inclusive
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_id: Mapped[int | None] = mapped_column(BigInteger)


class Verification(Base):
    """One verification of a claim (C6); cancellable within the window (C7)."""

    __tablename__ = "coupon_verifications"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("coupon_verifications", "claim_id", "coupon_claims"),
        *tenant_fk("coupon_verifications", "store_id", "stores"),
        *tenant_fk("coupon_verifications", "staff_id", "staff"),
        UniqueConstraint("shop_id", "client_request_id"),
        Index("ix_coupon_verifications_shop_claim", "shop_id", "claim_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    claim_id: Mapped[int] = mapped_column(BigId)
    store_id: Mapped[int] = mapped_column(BigId)
    staff_id: Mapped[int | None] = mapped_column(BigId)
    channel: Mapped[str] = mapped_column(String(16))  # code | scan | console | api_v2
    actor: Mapped[str] = mapped_column(String(40))
    client_request_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # verified | cancelled
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(40))


class StaffToken(Base):
    """Bearer token of the staff app (C5): issued by the merchant, dead once staff is revoked."""

    __tablename__ = "coupon_staff_tokens"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("coupon_staff_tokens", "staff_id", "staff"),
        *tenant_unique("token_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    staff_id: Mapped[int] = mapped_column(BigId, index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffLink(Base):
    """F4 (issue 17): a one-time link that binds a verifier's phone to the staff page.

    The merchant's console issues it (shown once as a URL and a QR; only its SHA-256 is kept);
    opening it on the phone burns it (``used_at``) and issues the phone's staff token (a
    ``StaffToken`` row, held in the phone's ``xiaodian_staff`` cookie). It dies unused at
    ``expires_at`` (``coupons.staff_link_ttl_minutes``)."""

    __tablename__ = "coupon_staff_links"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("coupon_staff_links", "staff_id", "staff"),
        *tenant_unique("token_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    staff_id: Mapped[int] = mapped_column(BigId, index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

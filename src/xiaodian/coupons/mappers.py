"""Coupons, campaigns, claims and verifications → API shapes (C1–C7; issue 15 M5: every
context's response mapping lives in its ``mappers.py``). The console's 店铺主页 preview
(``web.py``) renders the same homepage items as the buyer API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Staff
from xiaodian.context import Ctx
from xiaodian.coupons import rules, service
from xiaodian.coupons.models import (
    Campaign,
    CampaignStatus,
    Claim,
    Coupon,
    CouponStatus,
    Verification,
)
from xiaodian.coupons.schemas import (
    CampaignCouponOut,
    CampaignOut,
    ClaimOut,
    ClaimQueryOut,
    CouponOut,
    HomepageCouponOut,
    PrepareOut,
    ReasonOut,
    RefusalOut,
    StaffMeOut,
    VerificationOut,
)
from xiaodian.coupons.verification import ClaimFacts, CouponView


def image_url(shop_id: int, sha: str) -> str:
    return f"/media/coupons/{shop_id}/{sha}"


def coupon_out(coupon: Coupon | CouponView) -> CouponOut:
    return CouponOut(
        id=coupon.id,
        status=coupon.status,
        status_label=CouponStatus.LABELS[coupon.status],
        title=coupon.title,
        merchant_name=coupon.merchant_name,
        product_image_url=image_url(coupon.shop_id, coupon.product_image_sha),
        logo_url=image_url(coupon.shop_id, coupon.logo_sha),
        condition_kind=coupon.condition_kind,
        condition_summary=rules.condition_summary(coupon),
        discount_percent=coupon.discount_percent,
        discount_cap_fen=coupon.discount_cap_fen,
        threshold_fen=coupon.threshold_fen,
        amount_off_fen=coupon.amount_off_fen,
        store_ids=coupon.store_ids,
        usage_text=coupon.usage_text,
        validity_kind=coupon.validity_kind,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        valid_days=coupon.valid_days,
        service_phone=coupon.service_phone,
        claim_instructions=coupon.claim_instructions,
        warnings=[ReasonOut(**w) for w in coupon.warnings or []],
        created_at=coupon.created_at,
        review_due_at=coupon.review_due_at,
        reviewed_at=coupon.reviewed_at,
        reject_reasons=[ReasonOut(**r) for r in coupon.reject_reasons or []]
        if coupon.status == CouponStatus.REJECTED
        else [],
    )


def campaign_out(ctx: Ctx, campaign: Campaign) -> CampaignOut:
    stores = service.campaign_store_ids(ctx.session, campaign)
    coupons = service.campaign_coupons(ctx.session, campaign)
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        status_label=CampaignStatus.LABELS[campaign.status],
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        store_ids=stores,
        per_user_limit=campaign.per_user_limit,
        total_limit=campaign.total_limit,
        claimed=campaign.claimed,
        coupons=[
            CampaignCouponOut(coupon_id=c.id, title=c.title, claimed=cc.claimed)
            for cc, c in coupons
        ],
        online_at=campaign.online_at,
        offline_at=campaign.offline_at,
        offline_reason=campaign.offline_reason,
    )


def homepage_items(ctx: Ctx, shop_id: int) -> list[HomepageCouponOut]:
    """C4 店铺主页领券 as the buyer API and the console's preview show it."""
    accounts.get_shop(ctx.session, shop_id)
    return [
        HomepageCouponOut(
            campaign_id=i.campaign.id,
            campaign_name=i.campaign.name,
            coupon_id=i.coupon.id,
            title=i.coupon.title,
            merchant_name=i.coupon.merchant_name,
            condition_summary=rules.condition_summary(i.coupon),
            usage_text=i.coupon.usage_text,
            claim_instructions=i.coupon.claim_instructions,
            service_phone=i.coupon.service_phone,
            product_image_url=image_url(shop_id, i.coupon.product_image_sha),
            logo_url=image_url(shop_id, i.coupon.logo_sha),
            per_user_limit=i.campaign.per_user_limit,
            remaining=i.remaining,
            ends_at=i.campaign.ends_at,
        )
        for i in service.homepage(ctx.session, shop_id, ctx.now)
    ]


def claim_out(claim: Claim | ClaimFacts, coupon: Coupon | CouponView) -> ClaimOut:
    return ClaimOut(
        id=claim.id,
        code=claim.code,
        code_display=service.format_code(claim.code),
        qr_payload=service.qr_payload(claim.code),
        qr_url=f"/buyer/v1/claims/{claim.id}/qr.png",
        status=claim.status,
        coupon_id=claim.coupon_id,
        campaign_id=claim.campaign_id,
        title=coupon.title,
        valid_from=claim.valid_from,
        valid_until=claim.valid_until,
        claimed_at=claim.claimed_at,
        verified_at=claim.verified_at,
    )


def staff_me_out(ctx: Ctx, staff: Staff) -> StaffMeOut:
    return StaffMeOut(
        id=staff.id,
        shop_id=staff.shop_id,
        douyin_id=staff.douyin_id,
        name=staff.name,
        store_ids=accounts.staff_store_ids(ctx.session, staff),
    )


def verification_out(
    v: Verification, code: str, window_minutes: int, replayed: bool = False
) -> VerificationOut:
    return VerificationOut(
        id=v.id,
        claim_id=v.claim_id,
        code=code,
        store_id=v.store_id,
        staff_id=v.staff_id,
        channel=v.channel,
        status=v.status,
        client_request_id=v.client_request_id,
        verified_at=v.verified_at,
        cancelled_at=v.cancelled_at,
        cancel_deadline=v.verified_at + timedelta(minutes=window_minutes),
        replayed=replayed,
    )


def verify_result_out(ctx: Ctx, result: service.VerifyResult) -> VerificationOut:
    return verification_out(
        result.verification,
        result.claim.code,
        ctx.settings.coupons.verify_cancel_window_minutes,
        replayed=result.replayed,
    )


def refusal_out(exc: Any) -> RefusalOut:
    return RefusalOut(code=exc.code, message_zh=exc.message_zh, message_en=exc.message_en)


def prepared_out(ctx: Ctx, p: service.Prepared) -> PrepareOut:
    return PrepareOut(
        claim=claim_out(p.claim, p.coupon),
        coupon=coupon_out(p.coupon),
        usable_store_ids=p.usable_store_ids,
        usable=p.refusal is None,
        refusal=refusal_out(p.refusal) if p.refusal else None,
        verify_token=p.token,
        verify_token_expires_at=p.token_expires_at,
    )


def claim_query_out(ctx: Ctx, claim_row: Claim) -> ClaimQueryOut:
    coupon = service.get_coupon(ctx.session, claim_row.shop_id, claim_row.coupon_id)
    window = ctx.settings.coupons.verify_cancel_window_minutes
    return ClaimQueryOut(
        claim=claim_out(claim_row, coupon),
        verifications=[
            verification_out(v, claim_row.code, window)
            for v in service.verifications_of(ctx.session, claim_row.shop_id, claim_row.id)
        ],
    )

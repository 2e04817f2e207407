"""Mappers from coupons objects to the 来客 shapes (issue 12, D5). Field names follow the
public SDK models (``GoodLifeFulfilmentCertificate*V1Response``); ids are strings, times unix
seconds, money fen.

How xiaodian's coupons read as 来客 certificates:

* ``certificate_id`` = ``order_id`` = the claim id (one certificate per "order": a claim is
  one coupon code); ``account_id`` = the shop id; ``poi_id`` = a store id;
* ``verify_id`` = the verification id (C6); ``sku`` = the coupon (``sku_id`` = coupon id);
* amounts: a claim costs the buyer nothing (``pay`` 0); ``original`` is the coupon's face
  value — the amount off, or a discount coupon's cap;
* certificate ``status``: 1 未使用, 2 已核销, 3 已过期 (unused past validity);
  verify-record ``status``: 1 已核销, 2 已撤销; ``verify_type`` 1 (code verification).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xiaodian.context import Ctx
from xiaodian.coupons import rules as coupon_rules
from xiaodian.coupons.models import Claim, ClaimStatus, Coupon, Verification
from xiaodian.coupons.service import CouponRefused, within_cancel_window
from xiaodian.coupons.verification import ClaimFacts, CouponView
from xiaodian.laike import service

CERT_UNUSED, CERT_VERIFIED, CERT_EXPIRED = 1, 2, 3
RECORD_VERIFIED, RECORD_CANCELLED = 1, 2
VERIFY_TYPE_CODE = 1

# ``verify_results[].result``: 0 success; a refusal gets the number of its C6 reason.
RESULTS: dict[str, int] = {
    "already_verified": 1,
    "expired": 2,
    "not_yet_valid": 3,
    "store_out_of_campaign_scope": 4,
    "store_out_of_coupon_scope": 4,
    "store_out_of_staff_scope": 4,
    "staff_revoked": 5,
    "unknown_code": 6,
    "code_not_prepared": 7,
}
OTHER_RESULT = 99


def _ts(when: datetime | None) -> int:
    return int(when.timestamp()) if when is not None else 0


def face_value(coupon: Coupon | CouponView) -> int:
    return coupon_rules.face_value(coupon)  # M2: per condition kind (CONDITION_KINDS)


def sku(coupon: Coupon | CouponView) -> dict[str, Any]:
    return {
        "sku_id": str(coupon.id),
        "title": coupon.title,
        "groupon_type": 1,
        "market_price": face_value(coupon),
        "sold_start_time": _ts(coupon.created_at),
        "account_id": str(coupon.shop_id),
        "third_sku_id": "",
    }


def prepare_certificate(
    ctx: Ctx, claim: Claim | ClaimFacts, coupon: Coupon | CouponView
) -> dict[str, Any]:
    """One entry of prepare's ``certificates``."""
    return {
        "encrypted_code": service.encrypted_code(ctx, claim.shop_id, claim.id),
        "certificate_id": str(claim.id),
        "start_time": _ts(claim.valid_from),
        "expire_time": _ts(claim.valid_until),
        "amount": {
            "original": face_value(coupon),
            "pay": 0,
            "coupon_pay": 0,
            "merchant_ticket": 0,
            "payment_discount": 0,
        },
        "sku": sku(coupon),
    }


def _amount(coupon: Coupon) -> dict[str, int]:
    return {"original_amount": face_value(coupon), "pay_amount": 0, "merchant_ticket_amount": 0}


def can_cancel(ctx: Ctx, row: Verification) -> bool:
    """What cancel would accept now: not cancelled, within the C7 window."""
    return row.status == "verified" and within_cancel_window(ctx, row)


def certificate(
    ctx: Ctx, claim: Claim, coupon: Coupon, verification: Verification | None
) -> dict[str, Any]:
    """A certificate as ``get`` / ``query`` return it (status, and its verification)."""
    if claim.status == ClaimStatus.VERIFIED:
        status = CERT_VERIFIED
    elif ctx.now > claim.valid_until:
        status = CERT_EXPIRED
    else:
        status = CERT_UNUSED
    out: dict[str, Any] = {
        "encrypted_code": service.encrypted_code(ctx, claim.shop_id, claim.id),
        "certificate_id": str(claim.id),
        "order_id": str(claim.id),
        "code": claim.code,
        "status": status,
        "start_time": _ts(claim.valid_from),
        "expire_time": _ts(claim.valid_until),
        "amount": _amount(coupon),
        "sku": sku(coupon),
    }
    if verification is not None and verification.status == "verified":
        out["verify"] = {
            "verify_id": str(verification.id),
            "certificate_id": str(claim.id),
            "verify_type": VERIFY_TYPE_CODE,
            "verify_time": _ts(verification.verified_at),
            "can_cancel": can_cancel(ctx, verification),
            "verifier_unique_id": "",
            "poi_id": str(verification.store_id),
        }
    return out


def verify_success(
    row: Verification, claim: Claim | ClaimFacts, code: str, replayed: bool
) -> dict[str, Any]:
    return {
        "result": 0,
        "msg": "重复请求：该券已由同一验券请求核销，返回首次结果" if replayed else "核销成功",
        "code": code,
        "certificate_id": str(claim.id),
        "verify_id": str(row.id),
        "order_id": str(claim.id),
        "origin_code": claim.code,
        "account_id": str(claim.shop_id),
    }


def verify_failure(
    refusal: CouponRefused, code: str, claim_id: int | None, shop_id: int
) -> dict[str, Any]:
    return {
        "result": RESULTS.get(refusal.code, OTHER_RESULT),
        "msg": refusal.message_zh,
        "code": code,
        "certificate_id": str(claim_id) if claim_id is not None else "",
        "verify_id": "",
        "order_id": str(claim_id) if claim_id is not None else "",
        "origin_code": "",
        "account_id": str(shop_id),
    }


def record(ctx: Ctx, row: Verification, coupon: Coupon) -> dict[str, Any]:
    """One entry of ``verify_record/query``; ``cursor`` resumes after it."""
    return {
        "cursor": str(row.id),
        "verify_id": str(row.id),
        "certificate_id": str(row.claim_id),
        "order_id": str(row.claim_id),
        "encrypted_code": service.encrypted_code(ctx, row.shop_id, row.claim_id),
        "verify_type": VERIFY_TYPE_CODE,
        "verify_time": _ts(row.verified_at),
        "can_cancel": can_cancel(ctx, row),
        "status": RECORD_VERIFIED if row.status == "verified" else RECORD_CANCELLED,
        "cancel_time": _ts(row.cancelled_at) if row.cancelled_at else 0,
        "poi_id": str(row.store_id),
        "amount": _amount(coupon),
        "sku": sku(coupon),
    }

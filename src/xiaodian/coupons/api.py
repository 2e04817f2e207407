"""Coupon routes (thin): merchant open API (/api/v1/coupons…), buyer API (/buyer/v1…), the
staff app API (/staff/v1…) and the store-system verification API v2 (/api/v2/verification).

Staff app authentication (C5): the merchant issues a bearer token for a verifier with
``POST /api/v1/coupons/staff/{staff_id}/token`` (or on the console); the staff app sends
``Authorization: Bearer st_…``. Revoking the staff member kills the token immediately (every
request re-reads the staff row). Store systems use the signed API v2 instead and may name the
acting ``staff_id`` so that the staff scope applies too.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from xiaodian.accounts.models import Staff
from xiaodian.api.deps import BuyerDep, CouponsApp, CtxDep, ShopApp, VerificationApp, get_rt
from xiaodian.coupons import schemas as s
from xiaodian.coupons import service
from xiaodian.coupons.mappers import (
    campaign_out,
    claim_out,
    claim_query_out,
    coupon_out,
    homepage_items,
    prepared_out,
    staff_me_out,
    verification_out,
    verify_result_out,
)
from xiaodian.db import transaction
from xiaodian.errors import AuthFailed, ValidationFailed, field_error

router = APIRouter()
TAG = "coupons 卡券"
V2 = "verification v2 核销"


def _b64(value: str | None, name: str, errors: list[dict[str, str]]) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        errors.append(field_error(name, "图片须为 base64 编码", f"{name} must be base64"))
        return b""


# ----- merchant: coupons and review --------------------------------------------------------


@router.post("/api/v1/coupons", response_model=s.CouponOut, status_code=201, tags=[TAG])
def create_coupon(body: s.CouponIn, ctx: CtxDep, principal: CouponsApp) -> s.CouponOut:
    """C1 创建卡券 (通用券); then 审核中 (C2). Every failing field is listed in `errors`."""
    principal.require("coupons.manage")
    errors: list[dict[str, str]] = []
    product = _b64(body.product_image_base64, "product_image", errors)
    logo = _b64(body.logo_base64, "logo", errors)
    draft = service.CouponDraft(
        **body.model_dump(exclude={"product_image_base64", "logo_base64"}),
        product_image=product,
        logo=logo,
    )
    if errors:
        raise ValidationFailed(
            "invalid_coupon", "卡券信息有误", "Invalid coupon", errors=errors, rule="C1"
        )
    return coupon_out(service.create_coupon(ctx, principal.shop_id, draft))


@router.get("/api/v1/coupons", response_model=list[s.CouponOut], tags=[TAG])
def list_coupons(
    ctx: CtxDep,
    principal: CouponsApp,
    status: Annotated[str | None, Query(description="reviewing | active | rejected")] = None,
) -> list[s.CouponOut]:
    return [
        coupon_out(c) for c in service.list_coupons(ctx.session, principal.shop_id, status=status)
    ]


@router.get("/api/v1/coupons/review-queue", response_model=list[s.CouponOut], tags=[TAG])
def review_queue(ctx: CtxDep, principal: CouponsApp) -> list[s.CouponOut]:
    """C2: the shop's coupons still 审核中 (status and reasons; the platform decides them, F1)."""
    principal.require("coupons.manage")
    return [coupon_out(c) for c in service.in_review(ctx.session, principal.shop_id)]


# K8: before /api/v1/coupons/{coupon_id}, which would otherwise take "campaigns" for an id
# (422 path.coupon_id); one path form, without the trailing slash.
@router.get("/api/v1/coupons/campaigns", response_model=list[s.CampaignOut], tags=[TAG])
def list_campaigns(ctx: CtxDep, principal: CouponsApp) -> list[s.CampaignOut]:
    return [campaign_out(ctx, c) for c in service.list_campaigns(ctx.session, principal.shop_id)]


@router.get("/api/v1/coupons/{coupon_id}", response_model=s.CouponOut, tags=[TAG])
def get_coupon(coupon_id: int, ctx: CtxDep, principal: CouponsApp) -> s.CouponOut:
    return coupon_out(service.get_coupon(ctx.session, principal.shop_id, coupon_id))


@router.get("/media/coupons/{shop_id}/{sha256}", include_in_schema=False)
def coupon_image(shop_id: int, sha256: str, ctx: CtxDep) -> Response:
    """Coupon images are public (they show on the shop homepage); content-addressed, so
    cacheable forever."""
    image = service.get_image(ctx.session, shop_id, sha256)
    return Response(
        image.data,
        media_type=image.content_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


# ----- merchant: campaigns -----------------------------------------------------------------


@router.post("/api/v1/coupons/campaigns", response_model=s.CampaignOut, status_code=201, tags=[TAG])
def create_campaign(body: s.CampaignIn, ctx: CtxDep, principal: CouponsApp) -> s.CampaignOut:
    """C3 卡券投放 → 店铺主页领券 → 创建活动."""
    principal.require("coupons.manage")
    campaign = service.create_campaign(
        ctx, principal.shop_id, service.CampaignDraft(**body.model_dump())
    )
    return campaign_out(ctx, campaign)


@router.get("/api/v1/coupons/campaigns/{campaign_id}", response_model=s.CampaignOut, tags=[TAG])
def get_campaign(campaign_id: int, ctx: CtxDep, principal: CouponsApp) -> s.CampaignOut:
    return campaign_out(ctx, service.get_campaign(ctx.session, principal.shop_id, campaign_id))


@router.patch("/api/v1/coupons/campaigns/{campaign_id}", response_model=s.CampaignOut, tags=[TAG])
def update_campaign(
    campaign_id: int, body: s.CampaignPatch, ctx: CtxDep, principal: CouponsApp
) -> s.CampaignOut:
    """C3 editing: see service.update_campaign for what may change while online."""
    principal.require("coupons.manage")
    campaign = service.update_campaign(ctx, principal.shop_id, campaign_id, **body.model_dump())
    return campaign_out(ctx, campaign)


@router.post(
    "/api/v1/coupons/campaigns/{campaign_id}/offline", response_model=s.CampaignOut, tags=[TAG]
)
def offline(campaign_id: int, ctx: CtxDep, principal: CouponsApp) -> s.CampaignOut:
    """C3: take the campaign offline early."""
    principal.require("coupons.manage")
    return campaign_out(ctx, service.take_offline(ctx, principal.shop_id, campaign_id))


@router.post(
    "/api/v1/coupons/staff/{staff_id}/token",
    response_model=s.StaffTokenOut,
    status_code=201,
    tags=[TAG],
)
def staff_token(staff_id: int, ctx: CtxDep, principal: ShopApp) -> s.StaffTokenOut:
    """C5: issue a staff-app bearer token for a verifier (核销人员)."""
    principal.require("settings.manage")
    return s.StaffTokenOut(
        staff_id=staff_id, token=service.issue_staff_token(ctx, principal.shop_id, staff_id)
    )


# ----- buyer -------------------------------------------------------------------------------


@router.get(
    "/buyer/v1/shops/{shop_id}/coupons",
    response_model=list[s.HomepageCouponOut],
    tags=["buyer 买家"],
)
def shop_coupons(shop_id: int, ctx: CtxDep) -> list[s.HomepageCouponOut]:
    """C4 店铺主页领券: the coupons of the shop's online campaigns (public)."""
    return homepage_items(ctx, shop_id)


@router.post(
    "/buyer/v1/shops/{shop_id}/coupons/claim",
    response_model=s.ClaimOut,
    status_code=201,
    tags=["buyer 买家"],
)
def claim(shop_id: int, body: s.ClaimIn, ctx: CtxDep, buyer: BuyerDep) -> s.ClaimOut:
    """C4: claim one coupon; limits hold exactly; returns the code and its QR."""
    row = service.claim(
        ctx, shop_id, buyer.id, campaign_id=body.campaign_id, coupon_id=body.coupon_id
    )
    return claim_out(row, service.get_coupon(ctx.session, shop_id, row.coupon_id))


@router.get("/buyer/v1/coupons", response_model=list[s.ClaimOut], tags=["buyer 买家"])
def my_coupons(ctx: CtxDep, buyer: BuyerDep) -> list[s.ClaimOut]:
    return [claim_out(c, coupon) for c, coupon in service.buyer_claims(ctx.session, buyer.id)]


@router.get("/buyer/v1/claims/{claim_id}/qr.png", tags=["buyer 买家"], response_class=Response)
def claim_qr(claim_id: int, ctx: CtxDep, buyer: BuyerDep) -> Response:
    row = service.buyer_claim(ctx.session, buyer.id, claim_id)
    return Response(service.qr_png(row.code), media_type="image/png")


# ----- staff app ---------------------------------------------------------------------------


def _staff(request: Request) -> Staff:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise AuthFailed("staff_token_missing", "缺少核销人员凭证", "Missing staff bearer token")
    with transaction(get_rt(request).factory) as session:
        staff = service.staff_by_token(session, auth[7:].strip())
    request.state.actor = f"staff:{staff.id}"
    return staff


StaffDep = Annotated[Staff, Depends(_staff)]


@router.get("/staff/v1/me", response_model=s.StaffMeOut, tags=["staff app 核销"])
def staff_me(ctx: CtxDep, staff: StaffDep) -> s.StaffMeOut:
    return staff_me_out(ctx, staff)


@router.post("/staff/v1/coupons/prepare", response_model=s.PrepareOut, tags=["staff app 核销"])
def staff_prepare(body: s.CodeIn, ctx: CtxDep, staff: StaffDep) -> s.PrepareOut:
    """Look a code up before verifying: coupon, stores this staff member may verify it at."""
    return prepared_out(ctx, service.prepare(ctx, staff.shop_id, body.code, staff.id))


@router.post("/staff/v1/coupons/verify", response_model=s.VerificationOut, tags=["staff app 核销"])
def staff_verify(body: s.StaffVerifyIn, ctx: CtxDep, staff: StaffDep) -> s.VerificationOut:
    """C6 输入券码核销 (staff app)."""
    result = service.verify(
        ctx,
        staff.shop_id,
        code=body.code,
        store_id=body.store_id,
        staff_id=staff.id,
        channel="code",
    )
    return verify_result_out(ctx, result)


@router.post(
    "/staff/v1/coupons/verify-scan", response_model=s.VerificationOut, tags=["staff app 核销"]
)
async def staff_verify_scan(
    request: Request,
    staff: StaffDep,
    image: Annotated[UploadFile, File()],
    store_id: Annotated[int, Form()],
) -> s.VerificationOut:
    """C6 扫描二维码核销: upload the photo/screenshot of the buyer's QR."""
    limit = get_rt(request).settings.coupons.scan_image_max_bytes
    data = await image.read(limit + 1)
    rt = get_rt(request)
    with rt.unit(f"staff:{staff.id}") as ctx:
        result = service.verify_scan(
            ctx, staff.shop_id, image_bytes=data, store_id=store_id, staff_id=staff.id
        )
        return verify_result_out(ctx, result)


# ----- API v2 for store systems (C7) -------------------------------------------------------


def _answer(out: BaseModel) -> Response:
    """Issue 16: the verification answers serialised here, as FastAPI's ``response_model``
    would (the same JSON bytes, ``application/json``), instead of FastAPI validating the
    returned model again on one more thread-pool hop (a sync route's answer is validated on
    the thread pool). ``response_model`` stays on the route for the documentation."""
    return Response(
        out.__pydantic_serializer__.to_json(out, by_alias=True), media_type="application/json"
    )


@router.post("/api/v2/verification/prepare", response_model=s.PrepareOut, tags=[V2])
def v2_prepare(body: s.PrepareIn, ctx: CtxDep, principal: VerificationApp) -> Response:
    """C7 prepare: a code (typed) or a QR payload (scanned) → claim, coupon, usable stores,
    whether it can be verified now (else the refusal), and a short-lived verify token."""
    principal.require("coupons.verify")
    text = body.code or body.qr_payload
    if not text:
        raise ValidationFailed(
            "code_required", "请提供券码或二维码内容", "Give code or qr_payload", field="code"
        )
    return _answer(prepared_out(ctx, service.prepare(ctx, principal.shop_id, text, body.staff_id)))


@router.post("/api/v2/verification/verify", response_model=s.VerificationOut, tags=[V2])
def v2_verify(body: s.V2VerifyIn, ctx: CtxDep, principal: VerificationApp) -> Response:
    """C7 verify with the token at a store; idempotent on ``client_request_id`` (the same id
    returns the same verification, ``replayed: true``)."""
    principal.require("coupons.verify")
    claim_id = service.read_verify_token(ctx, principal.shop_id, body.verify_token)
    result = service.verify(
        ctx,
        principal.shop_id,
        claim_id=claim_id,
        store_id=body.store_id,
        staff_id=body.staff_id,
        channel="api_v2",
        client_request_id=body.client_request_id,
    )
    return _answer(verify_result_out(ctx, result))


@router.post("/api/v2/verification/cancel", response_model=s.VerificationOut, tags=[V2])
def v2_cancel(body: s.V2CancelIn, ctx: CtxDep, principal: VerificationApp) -> s.VerificationOut:
    """C7 cancel within the window (default 60 min, inclusive); the code is usable again."""
    principal.require("coupons.verify")
    row = service.cancel_verification(ctx, principal.shop_id, body.verification_id)
    claim_row = service.get_claim(ctx.session, principal.shop_id, row.claim_id)
    return verification_out(row, claim_row.code, ctx.settings.coupons.verify_cancel_window_minutes)


@router.get("/api/v2/verification/claims", response_model=s.ClaimQueryOut, tags=[V2])
def v2_query_code(
    ctx: CtxDep,
    principal: VerificationApp,
    code: Annotated[str, Query(min_length=1, max_length=200)],
) -> s.ClaimQueryOut:
    """C7 query by code: the claim and its verification history."""
    principal.require("coupons.verify")
    return claim_query_out(ctx, service.find_claim(ctx.session, principal.shop_id, code))


@router.get("/api/v2/verification/claims/{claim_id}", response_model=s.ClaimQueryOut, tags=[V2])
def v2_query_claim(claim_id: int, ctx: CtxDep, principal: VerificationApp) -> s.ClaimQueryOut:
    """C7 query by claim id."""
    principal.require("coupons.verify")
    return claim_query_out(ctx, service.get_claim(ctx.session, principal.shop_id, claim_id))

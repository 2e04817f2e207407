"""Coupons 卡券: creation (C1), review (C2), campaigns (C3) and claims (C4). The verifier-staff
app tokens (C5), verification (C6) and the store-system API v2 operations (C7) are in
``verification.py`` (issue 15 M3) and re-exported here, so this module stays the entry point.

Every operation takes a ``Ctx`` (one transaction, one instant) and the caller's ``shop_id``;
another shop's object answers "not found". Every state change emits a domain event naming
its rule id (``notify.emit``), which also fans out to webhooks (X1).

Concurrency (C4, C6): limits and exactly-once verification are enforced by *conditional
UPDATEs* — ``SET claimed = claimed + 1 WHERE claimed < limit RETURNING`` and
``SET status = 'verified' WHERE status = 'unused'`` — which hold on PostgreSQL (the row lock
makes a concurrent writer re-check the WHERE after the first commits, READ COMMITTED) and on
SQLite (writers are serialised by ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Store
from xiaodian.context import Ctx
from xiaodian.coupons import rules
from xiaodian.coupons.lookups import campaign_store_ids as campaign_store_ids
from xiaodian.coupons.lookups import get_campaign as get_campaign
from xiaodian.coupons.lookups import get_coupon as get_coupon
from xiaodian.coupons.models import (
    INT_FIELD_MAX,
    Campaign,
    CampaignCoupon,
    CampaignStatus,
    CampaignStore,
    Claim,
    ClaimCounter,
    ClaimStatus,
    Coupon,
    CouponImage,
    CouponStatus,
)
from xiaodian.coupons.rules import CODE_ALPHABET as CODE_ALPHABET
from xiaodian.coupons.rules import QR_PREFIX as QR_PREFIX

# The refusals and StoreRef are defined with the decisions (rules.py, M2); other contexts use
# them by these names.
from xiaodian.coupons.rules import CouponRefused as CouponRefused
from xiaodian.coupons.rules import StaffRevoked as StaffRevoked
from xiaodian.coupons.rules import StoreRef as StoreRef
from xiaodian.coupons.rules import UnknownCode as UnknownCode
from xiaodian.coupons.rules import normalize_code as normalize_code
from xiaodian.coupons.rules import refusal as _refuse

# C5–C7 live in verification.py (M3); re-exported so that callers keep using this module.
from xiaodian.coupons.verification import Prepared as Prepared
from xiaodian.coupons.verification import VerifyResult as VerifyResult
from xiaodian.coupons.verification import cancel_verification as cancel_verification
from xiaodian.coupons.verification import check_verifiable as check_verifiable
from xiaodian.coupons.verification import claim_with_terms as claim_with_terms
from xiaodian.coupons.verification import code_from_image as code_from_image
from xiaodian.coupons.verification import find_claim as find_claim
from xiaodian.coupons.verification import get_claim as get_claim
from xiaodian.coupons.verification import issue_staff_token as issue_staff_token
from xiaodian.coupons.verification import make_verify_token as make_verify_token
from xiaodian.coupons.verification import prepare as prepare
from xiaodian.coupons.verification import read_verify_token as read_verify_token
from xiaodian.coupons.verification import recent_verifications as recent_verifications
from xiaodian.coupons.verification import staff_by_token as staff_by_token
from xiaodian.coupons.verification import usable_stores as usable_stores
from xiaodian.coupons.verification import verification_terms as verification_terms
from xiaodian.coupons.verification import verifications_of as verifications_of
from xiaodian.coupons.verification import verify as verify
from xiaodian.coupons.verification import verify_scan as verify_scan
from xiaodian.coupons.verification import within_cancel_window as within_cancel_window
from xiaodian.db import insert_ignore, rowcount
from xiaodian.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
    field_error,
)
from xiaodian.notify import service as notify

if TYPE_CHECKING:
    from xiaodian.coupons.images import CheckedImage

# ===== C1 creation =========================================================================

MERCHANT_NAME_MAX = 10
TITLE_MAX = 15
TEXT_MAX = 500
# F1: who decides a coupon that passed the machine checks — the platform's default policy.
POLICY_ACTOR = "platform:policy"
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(?:-\d{1,6})?$")
_SERVICE_NUMBER = re.compile(r"^[48]00-?\d{3}-?\d{4}$")


@dataclass
class CouponDraft:
    """What the merchant filled in on 创建卡券 (通用券). Every field is required (C1)."""

    title: str | None = None
    merchant_name: str | None = None
    product_image: bytes | None = None
    logo: bytes | None = None
    condition_kind: str | None = None  # "discount" | "amount_off"
    discount_percent: int | None = None  # 95 = 95折 (pay 95 %)
    discount_cap_fen: int | None = None  # 最多减
    threshold_fen: int | None = None  # 满
    amount_off_fen: int | None = None  # 减
    store_ids: list[int] | None = None  # usable stores; None = all stores
    usage_text: str | None = None
    validity_kind: str | None = None  # "fixed" | "relative"
    valid_from: datetime | None = None
    valid_until: datetime | None = None  # inclusive (the last valid instant)
    valid_days: int | None = None
    service_phone: str | None = None
    claim_instructions: str | None = None


def valid_service_phone(phone: str) -> bool:
    """Mainland mobile (1[3-9] + 9 digits), landline with area code (0xx[x]-xxxxxxx[x],
    optional extension) or a 400/800 service number."""
    compact = phone.strip().replace(" ", "")
    return bool(
        _MOBILE.match(compact) or _LANDLINE.match(compact) or _SERVICE_NUMBER.match(compact)
    )


def _aware(when: datetime, tz: str) -> datetime:
    """Naive datetimes from forms mean local (Asia/Shanghai) time."""
    return when if when.tzinfo is not None else when.replace(tzinfo=ZoneInfo(tz))


def _required_text(
    errors: list[dict[str, Any]], value: str | None, name: str, label: str, limit: int
) -> str:
    text = (value or "").strip()
    if not text:
        errors.append(field_error(name, f"请填写{label}", f"{name} is required"))
    elif len(text) > limit:
        # len() counts code points: 一个汉字、一个英文字母各占一个字符.
        errors.append(
            field_error(
                name,
                f"{label}限定{limit}个字以内（英文字母占一个字符），当前 {len(text)} 个",
                f"{name} allows at most {limit} characters ({len(text)} given)",
            )
        )
    return text


def _check_conditions(
    ctx: Ctx, shop_id: int, draft: CouponDraft, errors: list[dict[str, Any]]
) -> None:
    errors += rules.check_condition(draft)  # C1: the kind's own check (CONDITION_KINDS)
    if draft.store_ids is not None:
        if not draft.store_ids:
            errors.append(
                field_error(
                    "store_ids",
                    "限定门店时请至少选择一个门店，或不限门店",
                    "Choose at least one store, or none for all stores",
                )
            )
        for store_id in draft.store_ids:
            try:
                accounts.get_store(ctx.session, shop_id, store_id)
            except NotFound:
                errors.append(
                    field_error(
                        "store_ids", f"门店 {store_id} 不存在", f"Store {store_id} not found"
                    )
                )


def _check_validity(ctx: Ctx, draft: CouponDraft, errors: list[dict[str, Any]]) -> None:
    tz = ctx.settings.timezone
    if draft.validity_kind == "fixed":
        if draft.valid_from is None or draft.valid_until is None:
            errors.append(
                field_error(
                    "valid_until",
                    "固定日期有效期须填写开始和结束时间",
                    "A fixed validity needs valid_from and valid_until",
                )
            )
            return
        start, end = _aware(draft.valid_from, tz), _aware(draft.valid_until, tz)
        if end <= start:
            errors.append(
                field_error(
                    "valid_until", "有效期结束须晚于开始", "valid_until must follow valid_from"
                )
            )
        elif end <= ctx.now:
            errors.append(
                field_error("valid_until", "有效期已结束", "valid_until is already in the past")
            )
    elif draft.validity_kind == "relative":
        if draft.valid_days is None or not 1 <= draft.valid_days <= 365:
            errors.append(
                field_error(
                    "valid_days",
                    "领取后有效天数须为 1–365",
                    "valid_days (days from claim) must be 1–365",
                )
            )
    else:
        errors.append(
            field_error(
                "validity_kind",
                "请选择有效期：固定日期（fixed）或领取后N天（relative）",
                "validity_kind must be 'fixed' or 'relative'",
            )
        )


def _store_image(ctx: Ctx, shop_id: int, image: CheckedImage) -> None:
    insert_ignore(
        ctx.session,
        CouponImage.__table__,
        [
            {
                "shop_id": shop_id,
                "sha256": image.sha256,
                "content_type": image.content_type,
                "width": image.width,
                "height": image.height,
                "size": len(image.data),
                "data": image.data,
                "created_at": ctx.now,
            }
        ],
    )


def _read_image_texts(ctx: Ctx, images: dict[str, CheckedImage]) -> dict[str, dict[str, str]]:
    """F2: the text OCR reads inside each image, and the images it could not read (why)."""
    from xiaodian.coupons import ocr  # K5: loads only when a coupon is created

    settings = ctx.settings.coupons
    reader = ocr.reader(
        ocr.OcrSettings(enabled=settings.ocr_enabled, timeout_seconds=settings.ocr_timeout_seconds)
    )
    texts: dict[str, str] = {}
    unread: dict[str, str] = {}
    for name, checked in images.items():
        try:
            texts[name] = reader.read(checked.image, checked.sha256)
        except ocr.OcrUnavailable as exc:
            unread[name] = str(exc)
    return {"image_texts": texts, "unread": unread}


def create_coupon(ctx: Ctx, shop_id: int, draft: CouponDraft) -> Coupon:
    """C1: create a 通用券; every field is required and every failing field is reported at
    once. The new coupon is 审核中 and the automatic reviewer runs immediately (C2)."""
    # Pillow, zxing and the review lists load only when a coupon is created (K5: ``tick``).
    from xiaodian.coupons import moderation
    from xiaodian.coupons.images import check_logo, check_product_image

    settings = ctx.settings.coupons
    errors: list[dict[str, Any]] = []
    in_flight = ctx.settings.limits.image_decodes_in_flight
    product, image_errors = check_product_image(draft.product_image, settings, in_flight=in_flight)
    errors += image_errors
    merchant_name = _required_text(
        errors, draft.merchant_name, "merchant_name", "商家名称", MERCHANT_NAME_MAX
    )
    logo, logo_errors = check_logo(draft.logo, settings, in_flight=in_flight)
    errors += logo_errors
    title = _required_text(errors, draft.title, "title", "卡券标题", TITLE_MAX)
    _check_conditions(ctx, shop_id, draft, errors)
    usage_text = _required_text(errors, draft.usage_text, "usage_text", "使用条件说明", TEXT_MAX)
    _check_validity(ctx, draft, errors)
    phone = (draft.service_phone or "").strip().replace(" ", "")
    if not phone:
        errors.append(field_error("service_phone", "请填写客服电话", "service_phone is required"))
    elif not valid_service_phone(phone):
        errors.append(
            field_error(
                "service_phone",
                "客服电话须为手机号或带区号的固定电话（如 0571-88886666）",
                "service_phone must be a mainland mobile or a landline with area code",
            )
        )
    instructions = _required_text(
        errors, draft.claim_instructions, "claim_instructions", "领取说明", TEXT_MAX
    )
    if errors or product is None or logo is None:
        fields = "、".join(dict.fromkeys(e["field"] for e in errors))
        raise ValidationFailed(
            "invalid_coupon",
            f"卡券信息有误，无法创建：{fields}",
            f"The coupon cannot be created; fix: {fields}",
            errors=errors,
            rule="C1",
        )
    _store_image(ctx, shop_id, product)
    _store_image(ctx, shop_id, logo)
    shop = accounts.get_shop(ctx.session, shop_id)
    reasons = moderation.review(
        texts={
            "title": title,
            "merchant_name": merchant_name,
            "usage_text": usage_text,
            "claim_instructions": instructions,
        },
        merchant_name=merchant_name,
        registered_name=shop.registered_name,
        shop_name=shop.name,
        images={"product_image": product.image, "logo": logo.image},
        **_read_image_texts(ctx, {"product_image": product, "logo": logo}),
    )
    tz = ctx.settings.timezone
    due = ctx.now + timedelta(minutes=settings.review_minutes)
    waits = bool(reasons) or settings.require_human_review
    fixed = draft.validity_kind == "fixed"
    coupon = Coupon(
        shop_id=shop_id,
        status=CouponStatus.REVIEWING,
        title=title,
        merchant_name=merchant_name,
        product_image_sha=product.sha256,
        logo_sha=logo.sha256,
        condition_kind=draft.condition_kind,
        **rules.condition_values(draft),  # the kind's fields; the others stored empty
        store_ids=sorted(set(draft.store_ids)) if draft.store_ids is not None else None,
        usage_text=usage_text,
        validity_kind=draft.validity_kind,
        valid_from=_aware(draft.valid_from, tz) if fixed and draft.valid_from else None,
        valid_until=_aware(draft.valid_until, tz) if fixed and draft.valid_until else None,
        valid_days=None if fixed else draft.valid_days,
        service_phone=phone,
        claim_instructions=instructions,
        warnings=product.warnings,
        created_at=ctx.now,
        created_by=ctx.actor,
        review_due_at=due,
        auto_reasons=reasons,
        # F1 (issue 17): a coupon the machine flags waits for a platform operator; one that
        # passes is approved at the end of the review window by the default policy, unless
        # coupons.require_human_review sends every coupon to the operators' queue.
        decision=None if waits else "approve",
        decided_by=None if waits else POLICY_ACTOR,
        decided_at=None if waits else ctx.now,
        finalize_at=None if waits else due,
        reject_reasons=reasons,
    )
    ctx.session.add(coupon)
    ctx.session.flush()
    notify.emit(
        ctx,
        shop_id,
        "coupon.created",
        {"coupon_id": coupon.id, "title": title, "status": coupon.status},
        rule="C1",
    )
    notify.emit(
        ctx,
        shop_id,
        "coupon.auto_reviewed",
        {
            "coupon_id": coupon.id,
            "outcome": "flagged" if reasons else ("to_human_review" if waits else "pass"),
            "reasons": reasons,
            "decided_by": None if waits else POLICY_ACTOR,
            "takes_effect_at": due.isoformat(),
        },
        rule="C2",
    )
    return coupon


def list_coupons(
    session: Session,
    shop_id: int,
    *,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Coupon]:
    query = select(Coupon).where(Coupon.shop_id == shop_id).order_by(Coupon.id.desc()).limit(limit)
    if status:
        query = query.where(Coupon.status == status)
    if before_id is not None:
        query = query.where(Coupon.id < before_id)
    return list(session.scalars(query))


def count_coupons(session: Session, shop_id: int, *, status: str | None = None) -> int:
    """U3: how many of the shop's coupons are in ``status`` (审核中 on the dashboard)."""
    query = select(func.count()).select_from(Coupon).where(Coupon.shop_id == shop_id)
    if status:
        query = query.where(Coupon.status == status)
    return int(session.scalar(query) or 0)


def get_image(session: Session, shop_id: int, sha256: str) -> CouponImage:
    image = session.scalars(
        select(CouponImage).where(CouponImage.shop_id == shop_id, CouponImage.sha256 == sha256)
    ).first()
    if image is None:
        raise NotFound("图片", "Image", sha256[:12])
    return image


# ===== C2 review ===========================================================================


def review_queue(session: Session, shop_id: int | None = None, limit: int = 100) -> list[Coupon]:
    """Coupons waiting for a platform operator (F1): 审核中 and not decided — the ones the
    machine flagged, and every coupon when ``coupons.require_human_review`` is on. Across
    every shop when ``shop_id`` is None (the operator console)."""
    query = (
        select(Coupon)
        .where(Coupon.status == CouponStatus.REVIEWING, Coupon.finalize_at.is_(None))
        .order_by(Coupon.id)
        .limit(limit)
    )
    if shop_id is not None:
        query = query.where(Coupon.shop_id == shop_id)
    return list(session.scalars(query))


def in_review(session: Session, shop_id: int, limit: int = 100) -> list[Coupon]:
    """The shop's coupons still 审核中, with where each stands (the shop sees its status and
    reasons; it does not decide them, F1)."""
    return list(
        session.scalars(
            select(Coupon)
            .where(Coupon.shop_id == shop_id, Coupon.status == CouponStatus.REVIEWING)
            .order_by(Coupon.id.desc())
            .limit(limit)
        )
    )


def decide_review(
    ctx: Ctx, shop_id: int, coupon_id: int, *, approve: bool, reason: str = ""
) -> Coupon:
    """C2: a platform operator approves or rejects (with a reason) a queued coupon (F1: the
    platform decides, never the shop — the callers are ``xiaodian.platform.service``).

    The decision takes effect at max(decision time, created + review delay): a coupon never
    becomes 有效中 / 审核失败 before the announced ~30 minutes, and a late decision applies at
    once. A coupon the machine flagged may be approved (the operator overrules the flags) or
    rejected: its reasons are then the machine's and the operator's."""
    coupon = get_coupon(ctx.session, shop_id, coupon_id)
    reason = (reason or "").strip()
    if coupon.status != CouponStatus.REVIEWING:
        raise Conflict(
            "review_closed",
            f"卡券已{CouponStatus.LABELS[coupon.status]}，不能再审核",
            f"The coupon is already {coupon.status}",
            rule="C2",
        )
    if not approve and not reason:
        raise ValidationFailed(
            "reason_required",
            "驳回时请填写原因",
            "A rejection needs a reason",
            field="reason",
            rule="C2",
        )
    if len(reason) > TEXT_MAX:
        raise ValidationFailed(
            "reason_too_long",
            "原因最多500字",
            "Reason: at most 500 characters",
            field="reason",
            rule="C2",
        )
    effective = max(ctx.now, coupon.review_due_at)
    human = {
        "rule": "C2",
        "code": "human_rejected",
        "field": "",
        "message_zh": f"人工审核驳回：{reason}",
        "message_en": f"Rejected by the reviewer: {reason}",
    }
    reject_reasons = [] if approve else [*(coupon.auto_reasons or []), human]
    result = ctx.session.execute(
        update(Coupon)
        .where(
            Coupon.id == coupon.id,
            Coupon.shop_id == shop_id,
            Coupon.status == CouponStatus.REVIEWING,
            Coupon.decision.is_(None),
            Coupon.finalize_at.is_(None),
        )
        .values(
            decision="approve" if approve else "reject",
            decision_reason=reason,
            decided_by=ctx.actor,
            decided_at=ctx.now,
            finalize_at=effective,
            reject_reasons=reject_reasons,
        )
    )
    if not rowcount(result):
        raise Conflict(
            "already_decided",
            "该卡券已有审核结论",
            "The coupon has already been decided",
            rule="C2",
        )
    notify.emit(
        ctx,
        shop_id,
        "coupon.review_decided",
        {
            "coupon_id": coupon.id,
            "decision": "approve" if approve else "reject",
            "reason": reason,
            "takes_effect_at": effective.isoformat(),
        },
        rule="C2",
    )
    finalize_reviews(ctx, coupon_ids=[coupon.id])
    ctx.session.refresh(coupon)
    return coupon


def finalize_reviews(ctx: Ctx, coupon_ids: list[int] | None = None) -> dict[str, int]:
    """C2 sweep: reviews whose outcome is due take effect (有效中 / 审核失败), set-based and
    idempotent; a notice (站内通知) and an event for each. A coupon that passed the machine
    checks carries the default policy's approval (F1) and becomes 有效中 here at the end of the
    review window; one waiting for an operator stays 审核中 until an operator decides."""
    due = and_(
        Coupon.status == CouponStatus.REVIEWING,
        Coupon.finalize_at.is_not(None),
        Coupon.finalize_at <= ctx.now,
    )
    if coupon_ids is not None:
        due = and_(due, Coupon.id.in_(coupon_ids))
    approved = ctx.session.execute(
        update(Coupon)
        .where(due, Coupon.decision == "approve")
        .values(status=CouponStatus.ACTIVE, reviewed_at=Coupon.finalize_at)
        .returning(Coupon.id, Coupon.shop_id, Coupon.title)
    ).all()
    rejected = ctx.session.execute(
        update(Coupon)
        .where(due, or_(Coupon.decision == "reject", Coupon.decision.is_(None)))
        .values(status=CouponStatus.REJECTED, reviewed_at=Coupon.finalize_at)
        .returning(Coupon.id, Coupon.shop_id, Coupon.title, Coupon.reject_reasons)
    ).all()
    notices: list[dict[str, Any]] = []
    events: list[notify.NewEvent] = []
    for coupon_id, shop_id, title in approved:
        notices.append(
            {
                "shop_id": shop_id,
                "category": "coupon",
                "rule": "C2",
                "title": f"卡券「{title}」审核通过，有效中",
                "body": "可在【卡券投放】-【店铺主页领券】-【创建活动】中选择使用。",
                "link": f"/console/coupons?id={coupon_id}",
            }
        )
        events.append(
            notify.NewEvent(
                shop_id, "coupon.approved", {"coupon_id": coupon_id, "status": "active"}, "C2"
            )
        )
    for coupon_id, shop_id, title, reasons in rejected:
        text = ";".join(r.get("message_zh", "") for r in reasons or [])
        notices.append(
            {
                "shop_id": shop_id,
                "category": "coupon",
                "rule": "C2",
                "title": f"卡券「{title}」审核失败",
                "body": text,
                "link": f"/console/coupons?id={coupon_id}",
            }
        )
        events.append(
            notify.NewEvent(
                shop_id,
                "coupon.rejected",
                {"coupon_id": coupon_id, "status": "rejected", "reasons": reasons or []},
                "C2",
            )
        )
    notify.notice_many(ctx, notices)
    notify.emit_many(ctx, events)
    return {"approved": len(approved), "rejected": len(rejected)}


def next_review_due(session: Session, now: datetime) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.min(Coupon.finalize_at)).where(
            Coupon.status == CouponStatus.REVIEWING, Coupon.finalize_at.is_not(None)
        )
    )
    return value


# ===== C3 campaigns ========================================================================


@dataclass
class CampaignDraft:
    name: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    store_ids: list[int] | None = None  # None = all stores (不限门店)
    coupon_ids: list[int] = field(default_factory=list)
    per_user_limit: int | None = None
    total_limit: int | None = None


def _check_limits(errors: list[dict[str, Any]], per_user: int | None, total: int | None) -> None:
    """C3 limits: per_user_limit counts per buyer and per coupon (每人每种券限领); total_limit
    caps the claims of all the campaign's coupons together (发放总量). Both are INTEGER
    columns, hence the upper bound."""
    top = INT_FIELD_MAX
    if per_user is None or per_user < 1:
        errors.append(
            field_error("per_user_limit", "每人限领须至少为1", "per_user_limit must be ≥ 1")
        )
    elif per_user > top:
        errors.append(
            field_error(
                "per_user_limit", f"每人限领不能超过 {top}", f"per_user_limit must be ≤ {top}"
            )
        )
    if total is None or total < 1:
        errors.append(field_error("total_limit", "发放总量须至少为1", "total_limit must be ≥ 1"))
    elif total > top:
        errors.append(
            field_error("total_limit", f"发放总量不能超过 {top}", f"total_limit must be ≤ {top}")
        )
    if per_user and total and per_user > total:
        errors.append(
            field_error(
                "per_user_limit",
                "每人限领不能大于发放总量",
                "per_user_limit cannot exceed total_limit",
            )
        )


def check_campaign_basics(ctx: Ctx, shop_id: int, draft: CampaignDraft) -> list[dict[str, Any]]:
    """F8 创建活动 step 1 (活动名称, 活动时间, 参与活动门店) before 下一步: the errors
    ``create_campaign`` would give those fields; writes nothing."""
    errors: list[dict[str, Any]] = []
    _campaign_basics(ctx, shop_id, draft, errors)
    return errors


def _campaign_basics(
    ctx: Ctx, shop_id: int, draft: CampaignDraft, errors: list[dict[str, Any]]
) -> tuple[str, datetime | None, datetime | None, list[Store]]:
    tz = ctx.settings.timezone
    name = _required_text(errors, draft.name, "name", "活动名称", 30)
    starts = _aware(draft.starts_at, tz) if draft.starts_at else None
    ends = _aware(draft.ends_at, tz) if draft.ends_at else None
    if starts is None:
        errors.append(field_error("starts_at", "请填写活动开始时间", "starts_at is required"))
    if ends is None:
        errors.append(field_error("ends_at", "请填写活动结束时间", "ends_at is required"))
    if starts and ends and ends <= starts:
        errors.append(
            field_error("ends_at", "结束时间须晚于开始时间", "ends_at must follow starts_at")
        )
    elif ends and ends <= ctx.now:
        errors.append(field_error("ends_at", "结束时间已过", "ends_at is in the past"))
    stores: list[Store] = []
    if draft.store_ids is not None:
        if not draft.store_ids:
            errors.append(
                field_error(
                    "store_ids",
                    "请至少选择一个门店，或选择全部门店",
                    "Choose at least one store, or all stores",
                )
            )
        for store_id in dict.fromkeys(draft.store_ids):
            try:
                stores.append(accounts.get_store(ctx.session, shop_id, store_id))
            except NotFound:
                errors.append(
                    field_error(
                        "store_ids", f"门店 {store_id} 不存在", f"Store {store_id} not found"
                    )
                )
    return name, starts, ends, stores


def create_campaign(ctx: Ctx, shop_id: int, draft: CampaignDraft) -> Campaign:
    """C3 创建活动: online at once when it has started (starts_at ≤ now), otherwise scheduled
    and put online by the sweep at its start; offline automatically at ends_at."""
    errors: list[dict[str, Any]] = []
    name, starts, ends, stores = _campaign_basics(ctx, shop_id, draft, errors)
    coupons: list[Coupon] = []
    if not draft.coupon_ids:
        errors.append(field_error("coupon_ids", "请选择卡券", "Choose at least one coupon"))
    for coupon_id in dict.fromkeys(draft.coupon_ids):
        coupon = ctx.session.get(Coupon, coupon_id)
        if coupon is None or coupon.shop_id != shop_id:
            errors.append(
                field_error(
                    "coupon_ids", f"卡券 {coupon_id} 不存在", f"Coupon {coupon_id} not found"
                )
            )
        elif coupon.status != CouponStatus.ACTIVE:
            errors.append(
                field_error(
                    "coupon_ids",
                    f"卡券「{coupon.title}」{CouponStatus.LABELS[coupon.status]}，只能选择有效中的卡券",
                    f"Coupon {coupon_id} is {coupon.status}; only active coupons can be used",
                )
            )
        else:
            scopes = rules.StoreScopes(
                campaign_stores=None
                if draft.store_ids is None
                else frozenset(s.id for s in stores),
                coupon_stores=rules.stores(coupon.store_ids),
            )
            if rules.store_scope(scopes) == frozenset():
                errors.append(
                    field_error(
                        "coupon_ids",
                        f"卡券「{coupon.title}」限定的门店都不在活动门店内",
                        f"Coupon {coupon_id} is usable at none of the campaign's stores",
                    )
                )
            coupons.append(coupon)
    _check_limits(errors, draft.per_user_limit, draft.total_limit)
    if errors or starts is None or ends is None:
        fields = "、".join(dict.fromkeys(e["field"] for e in errors))
        raise ValidationFailed(
            "invalid_campaign",
            f"活动信息有误：{fields}",
            f"Invalid campaign: {fields}",
            errors=errors,
            rule="C3",
        )
    online = starts <= ctx.now
    campaign = Campaign(
        shop_id=shop_id,
        name=name,
        starts_at=starts,
        ends_at=ends,
        all_stores=draft.store_ids is None,
        per_user_limit=int(draft.per_user_limit or 0),
        total_limit=int(draft.total_limit or 0),
        status=CampaignStatus.ONLINE if online else CampaignStatus.SCHEDULED,
        online_at=ctx.now if online else None,
        created_at=ctx.now,
    )
    ctx.session.add(campaign)
    ctx.session.flush()
    for store in stores:
        ctx.session.add(CampaignStore(campaign_id=campaign.id, store_id=store.id, shop_id=shop_id))
    for coupon in coupons:
        ctx.session.add(
            CampaignCoupon(shop_id=shop_id, campaign_id=campaign.id, coupon_id=coupon.id, claimed=0)
        )
    ctx.session.flush()
    notify.emit(
        ctx,
        shop_id,
        "campaign.created",
        {
            "campaign_id": campaign.id,
            "status": campaign.status,
            "coupon_ids": [c.id for c in coupons],
        },
        rule="C3",
    )
    if online:
        notify.emit(ctx, shop_id, "campaign.online", {"campaign_id": campaign.id}, rule="C3")
    return campaign


def list_campaigns(session: Session, shop_id: int, limit: int = 100) -> list[Campaign]:
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.shop_id == shop_id)
            .order_by(Campaign.id.desc())
            .limit(limit)
        )
    )


def campaign_coupons(session: Session, campaign: Campaign) -> list[tuple[CampaignCoupon, Coupon]]:
    rows = session.execute(
        select(CampaignCoupon, Coupon)
        .join(Coupon, Coupon.id == CampaignCoupon.coupon_id)
        .where(
            CampaignCoupon.shop_id == campaign.shop_id, CampaignCoupon.campaign_id == campaign.id
        )
        .order_by(CampaignCoupon.id)
    ).all()
    return [(cc, coupon) for cc, coupon in rows]


def take_offline(ctx: Ctx, shop_id: int, campaign_id: int) -> Campaign:
    """C3: take a campaign offline early by hand (also cancels a scheduled one)."""
    campaign = get_campaign(ctx.session, shop_id, campaign_id)
    result = ctx.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign.id,
            Campaign.shop_id == shop_id,
            Campaign.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.ONLINE]),
        )
        .values(status=CampaignStatus.OFFLINE, offline_at=ctx.now, offline_reason="manual")
    )
    if not rowcount(result):
        raise Conflict(
            "campaign_offline", "活动已下线", "The campaign is already offline", rule="C3"
        )
    notify.emit(
        ctx,
        shop_id,
        "campaign.offline",
        {"campaign_id": campaign.id, "reason": "manual"},
        rule="C3",
    )
    ctx.session.refresh(campaign)
    return campaign


def update_campaign(
    ctx: Ctx,
    shop_id: int,
    campaign_id: int,
    *,
    name: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    per_user_limit: int | None = None,
    total_limit: int | None = None,
) -> Campaign:
    """C3 editing rules (the article is silent; chosen so no promise made to a buyer breaks):

    * scheduled (not started): name, start, end and both limits may change;
    * online: name; end time (still after now); total limit (not below what the campaign has
      already issued, all coupons together); per-user limit may only be raised. Start time, stores
      and coupons are fixed once online — codes already issued carry the campaign's scope;
    * offline: nothing (create a new campaign)."""
    tz = ctx.settings.timezone
    campaign = get_campaign(ctx.session, shop_id, campaign_id)
    # Lock the row: a claim raising ``claimed`` meanwhile must not slip under a lowered limit.
    ctx.session.refresh(campaign, with_for_update=True)
    if campaign.status == CampaignStatus.OFFLINE:
        raise Conflict(
            "campaign_offline",
            "活动已下线，不能编辑",
            "An offline campaign cannot be edited",
            rule="C3",
        )
    online = campaign.status == CampaignStatus.ONLINE
    errors: list[dict[str, Any]] = []
    new_name = (
        campaign.name if name is None else _required_text(errors, name, "name", "活动名称", 30)
    )
    new_start = campaign.starts_at if starts_at is None else _aware(starts_at, tz)
    new_end = campaign.ends_at if ends_at is None else _aware(ends_at, tz)
    if online and starts_at is not None and new_start != campaign.starts_at:
        errors.append(
            field_error(
                "starts_at", "活动已上线，不能修改开始时间", "starts_at is fixed once online"
            )
        )
    if new_end <= new_start:
        errors.append(
            field_error("ends_at", "结束时间须晚于开始时间", "ends_at must follow starts_at")
        )
    elif ends_at is not None and new_end <= ctx.now:
        errors.append(field_error("ends_at", "结束时间已过", "ends_at is in the past"))
    new_per_user = campaign.per_user_limit if per_user_limit is None else per_user_limit
    new_total = campaign.total_limit if total_limit is None else total_limit
    _check_limits(errors, new_per_user, new_total)
    if online and new_per_user < campaign.per_user_limit:
        errors.append(
            field_error(
                "per_user_limit",
                "活动进行中，每人限领只能调高",
                "per_user_limit may only rise while online",
            )
        )
    if new_total < campaign.claimed:
        errors.append(
            field_error(
                "total_limit",
                f"发放总量不能小于已领取数量 {campaign.claimed}",
                f"total_limit cannot go below the {campaign.claimed} already claimed",
            )
        )
    if errors:
        raise ValidationFailed(
            "invalid_campaign", "活动修改有误", "Invalid campaign change", errors=errors, rule="C3"
        )
    campaign.name, campaign.starts_at, campaign.ends_at = new_name, new_start, new_end
    campaign.per_user_limit, campaign.total_limit = new_per_user, new_total
    ctx.session.flush()
    notify.emit(ctx, shop_id, "campaign.updated", {"campaign_id": campaign.id}, rule="C3")
    apply_campaign_schedule(ctx, campaign_ids=[campaign.id])
    ctx.session.refresh(campaign)
    return campaign


def apply_campaign_schedule(ctx: Ctx, campaign_ids: list[int] | None = None) -> dict[str, int]:
    """C3 sweep: offline at ends_at (first), then online at starts_at; set-based, idempotent."""
    ended = and_(
        Campaign.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.ONLINE]),
        Campaign.ends_at <= ctx.now,
    )
    started = and_(Campaign.status == CampaignStatus.SCHEDULED, Campaign.starts_at <= ctx.now)
    if campaign_ids is not None:
        ended = and_(ended, Campaign.id.in_(campaign_ids))
        started = and_(started, Campaign.id.in_(campaign_ids))
    offline = ctx.session.execute(
        update(Campaign)
        .where(ended)
        .values(status=CampaignStatus.OFFLINE, offline_at=Campaign.ends_at, offline_reason="ended")
        .returning(Campaign.id, Campaign.shop_id, Campaign.name)
    ).all()
    online = ctx.session.execute(
        update(Campaign)
        .where(started)
        .values(status=CampaignStatus.ONLINE, online_at=Campaign.starts_at)
        .returning(Campaign.id, Campaign.shop_id, Campaign.name)
    ).all()
    notify.emit_many(
        ctx,
        [
            notify.NewEvent(s, "campaign.offline", {"campaign_id": i, "reason": "ended"}, "C3")
            for i, s, _ in offline
        ]
        + [notify.NewEvent(s, "campaign.online", {"campaign_id": i}, "C3") for i, s, _ in online],
    )
    notify.notice_many(
        ctx,
        [
            {
                "shop_id": s,
                "category": "coupon",
                "rule": "C3",
                "title": f"活动「{n}」已到结束时间，自动下线",
                "link": "/console/coupons/campaigns",
            }
            for _i, s, n in offline
        ],
    )
    return {"offline": len(offline), "online": len(online)}


def next_campaign_due(session: Session, now: datetime) -> datetime | None:
    starts = session.scalar(
        select(func.min(Campaign.starts_at)).where(Campaign.status == CampaignStatus.SCHEDULED)
    )
    ends = session.scalar(
        select(func.min(Campaign.ends_at)).where(
            Campaign.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.ONLINE])
        )
    )
    found = [t for t in (starts, ends) if t is not None]
    return min(found) if found else None


# ===== C4 claims ===========================================================================


def _is_live(campaign: Campaign, now: datetime) -> bool:
    """Online by the clock, even if the sweep has not run yet at this instant."""
    return (
        campaign.status != CampaignStatus.OFFLINE and campaign.starts_at <= now < campaign.ends_at
    )


@dataclass
class HomepageItem:
    campaign: Campaign
    campaign_coupon: CampaignCoupon
    coupon: Coupon

    @property
    def remaining(self) -> int:
        """Left in the campaign's total (shared by all its coupons, C3)."""
        return max(0, self.campaign.total_limit - self.campaign.claimed)


def homepage(session: Session, shop_id: int, now: datetime) -> list[HomepageItem]:
    """C4 店铺主页领券: coupons of the shop's online campaigns."""
    rows = session.execute(
        select(Campaign, CampaignCoupon, Coupon)
        .join(CampaignCoupon, CampaignCoupon.campaign_id == Campaign.id)
        .join(Coupon, Coupon.id == CampaignCoupon.coupon_id)
        .where(
            Campaign.shop_id == shop_id,
            Campaign.status != CampaignStatus.OFFLINE,
            Campaign.starts_at <= now,
            Campaign.ends_at > now,
            Coupon.status == CouponStatus.ACTIVE,
        )
        .order_by(Campaign.id, CampaignCoupon.id)
    ).all()
    return [
        HomepageItem(c, cc, coupon)
        for c, cc, coupon in rows
        if coupon.validity_kind != "fixed" or (coupon.valid_until and coupon.valid_until >= now)
    ]


def _new_code(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def claim_validity(coupon: Coupon, now: datetime) -> tuple[datetime, datetime]:
    """Fixed range as set; "N days from claim" = [claimed_at, claimed_at + N days − 1 s]
    (exactly N × 24 h, both ends inclusive)."""
    if coupon.validity_kind == "fixed" and coupon.valid_from and coupon.valid_until:
        return coupon.valid_from, coupon.valid_until
    return now, now + timedelta(days=coupon.valid_days or 0) - timedelta(seconds=1)


def claim(ctx: Ctx, shop_id: int, buyer_id: int, *, campaign_id: int, coupon_id: int) -> Claim:
    """C4: a buyer claims one coupon of an online campaign. Limits hold exactly under
    concurrency: the per-user counter row (per buyer and coupon) and then the campaign's total
    counter (all its coupons together, C3) are each raised by a conditional UPDATE
    (``claimed < limit``); if either refuses, the whole transaction (including the other
    increment) rolls back. The campaign UPDATE also requires the campaign not to be offline,
    so no claim gets past a 下线 that committed first."""
    campaign = get_campaign(ctx.session, shop_id, campaign_id)
    if not _is_live(campaign, ctx.now):
        raise _refuse(
            "campaign_not_online",
            "活动未上线或已下线，不能领取",
            "The campaign is not online",
            "C4",
        )
    cc = ctx.session.scalars(
        select(CampaignCoupon).where(
            CampaignCoupon.shop_id == shop_id,
            CampaignCoupon.campaign_id == campaign.id,
            CampaignCoupon.coupon_id == coupon_id,
        )
    ).first()
    if cc is None:
        raise NotFound("活动卡券", "Campaign coupon", coupon_id)
    coupon = get_coupon(ctx.session, shop_id, coupon_id)
    valid_from, valid_until = claim_validity(coupon, ctx.now)
    if coupon.status != CouponStatus.ACTIVE or valid_until < ctx.now:
        raise _refuse(
            "coupon_unavailable", "卡券已失效，不能领取", "The coupon is no longer available", "C4"
        )
    insert_ignore(
        ctx.session,
        ClaimCounter.__table__,
        [{"campaign_coupon_id": cc.id, "buyer_id": buyer_id, "shop_id": shop_id, "claimed": 0}],
    )
    mine = ctx.session.execute(
        update(ClaimCounter)
        .where(
            ClaimCounter.campaign_coupon_id == cc.id,
            ClaimCounter.buyer_id == buyer_id,
            ClaimCounter.claimed < campaign.per_user_limit,
        )
        .values(claimed=ClaimCounter.claimed + 1)
        .returning(ClaimCounter.claimed)
    ).first()
    if mine is None:
        raise _refuse(
            "per_user_limit_reached",
            f"每人限领 {campaign.per_user_limit} 张，您已领完",
            f"Per-user limit of {campaign.per_user_limit} reached",
            "C4",
        )
    total = ctx.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign.id,
            Campaign.shop_id == shop_id,
            Campaign.status != CampaignStatus.OFFLINE,
            Campaign.claimed < Campaign.total_limit,
        )
        .values(claimed=Campaign.claimed + 1)
        .returning(Campaign.claimed)
        .execution_options(synchronize_session=False)
    ).first()
    if total is None:
        ctx.session.refresh(campaign)
        if campaign.status == CampaignStatus.OFFLINE:
            raise _refuse(
                "campaign_not_online",
                "活动未上线或已下线，不能领取",
                "The campaign is not online",
                "C4",
            )
        raise _refuse("total_limit_reached", "卡券已领完", "All coupons have been claimed", "C4")
    ctx.session.execute(
        update(CampaignCoupon)
        .where(CampaignCoupon.id == cc.id)
        .values(claimed=CampaignCoupon.claimed + 1)
        .execution_options(synchronize_session=False)
    )
    length = ctx.settings.coupons.code_length
    for _attempt in range(5):
        row = Claim(
            shop_id=shop_id,
            code=_new_code(length),
            campaign_id=campaign.id,
            coupon_id=coupon.id,
            buyer_id=buyer_id,
            status=ClaimStatus.UNUSED,
            valid_from=valid_from,
            valid_until=valid_until,
            claimed_at=ctx.now,
        )
        try:
            with ctx.session.begin_nested():
                ctx.session.add(row)
                ctx.session.flush()
            break
        except IntegrityError:  # a code collision (≈ 31^-12): draw again
            continue
    else:  # pragma: no cover - astronomically unlikely
        raise Conflict(
            "code_generation_failed", "券码生成失败，请重试", "Could not draw a code; retry"
        )
    notify.emit(
        ctx,
        shop_id,
        "coupon.claimed",
        {
            "claim_id": row.id,
            "campaign_id": campaign.id,
            "coupon_id": coupon.id,
            "buyer_id": buyer_id,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
        },
        rule="C4",
    )
    notify.message_buyer(
        ctx,
        buyer_id=buyer_id,
        shop_id=shop_id,
        kind="card",
        title=f"领券成功：{coupon.title}",
        body=f"券码 {format_code(row.code)},{rules.condition_summary(coupon)}",
        payload={"claim_id": row.id, "code": row.code},
        rule="C4",
    )
    return row


def format_code(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def qr_payload(code: str) -> str:
    return QR_PREFIX + code


def qr_png(code: str, scale: int = 8) -> bytes:
    """C4: the claim's QR (segno, PNG); payload ``xiaodian://coupon/<code>``."""
    import segno  # loaded when a QR is drawn, not by every importer of this module (K5)

    buffer = io.BytesIO()
    segno.make(qr_payload(code), error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def buyer_claims(session: Session, buyer_id: int, limit: int = 100) -> list[tuple[Claim, Coupon]]:
    rows = session.execute(
        select(Claim, Coupon)
        .join(Coupon, Coupon.id == Claim.coupon_id)
        .where(Claim.buyer_id == buyer_id)
        .order_by(Claim.id.desc())
        .limit(limit)
    ).all()
    return [(c, coupon) for c, coupon in rows]


def buyer_claim(session: Session, buyer_id: int, claim_id: int) -> Claim:
    row = session.get(Claim, claim_id)
    if row is None or row.buyer_id != buyer_id:
        raise NotFound("券", "Claim", claim_id)
    return row

"""Coupons 卡券: creation (C1), review (C2), campaigns (C3), claims (C4), verifier-staff app
tokens (C5), verification (C6) and the store-system API v2 operations (C7).

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

import functools
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Staff, Store
from xiaodian.context import Ctx
from xiaodian.coupons import rules
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
    StaffToken,
    Verification,
)

# The refusals and StoreRef are defined with the decisions (rules.py, M2); other contexts use
# them by these names.
from xiaodian.coupons.rules import CouponRefused as CouponRefused
from xiaodian.coupons.rules import StaffRevoked as StaffRevoked
from xiaodian.coupons.rules import StoreRef as StoreRef
from xiaodian.coupons.rules import UnknownCode as UnknownCode
from xiaodian.db import UTCDateTime, get_owned, insert_ignore, is_postgres, rowcount
from xiaodian.errors import (
    AuthFailed,
    Conflict,
    NotFound,
    ValidationFailed,
    field_error,
)
from xiaodian.notify import service as notify

if TYPE_CHECKING:
    from xiaodian.coupons.images import CheckedImage

# ===== errors ==============================================================================


def _refuse(code: str, zh: str, en: str, rule: str) -> CouponRefused:
    return CouponRefused(code, zh, en, rule=rule)


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


def get_coupon(session: Session, shop_id: int, coupon_id: int) -> Coupon:
    coupon: Coupon = get_owned(session, Coupon, shop_id, coupon_id, ("卡券", "Coupon"))
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


def get_campaign(session: Session, shop_id: int, campaign_id: int) -> Campaign:
    return get_owned(session, Campaign, shop_id, campaign_id, ("活动", "Campaign"))


def list_campaigns(session: Session, shop_id: int, limit: int = 100) -> list[Campaign]:
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.shop_id == shop_id)
            .order_by(Campaign.id.desc())
            .limit(limit)
        )
    )


def campaign_store_ids(session: Session, campaign: Campaign) -> list[int] | None:
    if campaign.all_stores:
        return None
    return sorted(
        session.scalars(
            select(CampaignStore.store_id).where(
                CampaignStore.shop_id == campaign.shop_id, CampaignStore.campaign_id == campaign.id
            )
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

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
QR_PREFIX = "xiaodian://coupon/"


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


def normalize_code(text: str) -> str | None:
    """A typed code ("ABCD EFGH JKMN", lower case, dashes) or a scanned QR payload → code."""
    raw = (text or "").strip()
    if raw.lower().startswith(QR_PREFIX):
        raw = raw[len(QR_PREFIX) :]
    code = re.sub(r"[\s-]", "", raw).upper()
    if not 8 <= len(code) <= 24 or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


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


# ===== C5 staff app authentication =========================================================


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_staff_token(ctx: Ctx, shop_id: int, staff_id: int) -> str:
    """C5: the merchant issues a bearer token for a verifier's staff app (shown once, stored
    hashed). Revoking the staff member (accounts.revoke_staff) kills every token at once."""
    staff = accounts.get_staff(ctx.session, shop_id, staff_id)
    if staff.revoked_at is not None:
        raise rules.staff_revoked(staff)
    token = "st_" + secrets.token_urlsafe(24)
    ctx.session.add(
        StaffToken(shop_id=shop_id, staff_id=staff.id, token_hash=_hash(token), created_at=ctx.now)
    )
    ctx.session.flush()
    notify.emit(ctx, shop_id, "staff.token_issued", {"staff_id": staff.id}, rule="C5")
    return token


def staff_by_token(session: Session, token: str) -> Staff:
    row = session.scalars(select(StaffToken).where(StaffToken.token_hash == _hash(token))).first()
    if row is None:
        raise AuthFailed("bad_staff_token", "核销人员凭证无效", "Invalid staff token")
    staff = accounts.get_staff(session, row.shop_id, row.staff_id)
    if staff.revoked_at is not None:
        raise rules.staff_revoked(staff)
    return staff


# ===== C6 verification =====================================================================


def find_claim(session: Session, shop_id: int, code_text: str) -> Claim:
    return claim_with_terms(session, shop_id, code_text=code_text)[0]


def get_claim(session: Session, shop_id: int, claim_id: int) -> Claim:
    row: Claim = get_owned(session, Claim, shop_id, claim_id, ("券", "Claim"))
    return row


def claim_with_terms(
    session: Session, shop_id: int, *, claim_id: int | None = None, code_text: str | None = None
) -> tuple[Claim, Campaign, Coupon]:
    """A claim (by id, or by its code as typed) with its campaign and coupon, in one query.
    The caller holds the three for the operation and hands them to ``verification_terms``
    (the C6 decisions look nothing up, M2)."""
    if claim_id is not None:
        params: dict[str, Any] = {"shop_id": shop_id, "claim_id": claim_id}
        row = session.execute(_claim_with_terms_query("id"), params).first()
        if row is None:
            raise NotFound("券", "Claim", claim_id)
        claim, campaign, coupon = row
        return claim, campaign, coupon
    code = normalize_code(code_text or "")
    params = {"shop_id": shop_id, "code": code}
    row = session.execute(_claim_with_terms_query("code"), params).first() if code else None
    if row is None:
        raise UnknownCode(
            "unknown_code",
            "券码不存在，请核对后重新输入",
            "Unknown code; check and retry",
            rule="C6",
        )
    claim, campaign, coupon = row
    return claim, campaign, coupon


@functools.cache
def _claim_with_terms_query(by: str) -> Any:
    """Built once (C6/C7 hot path: constructing a query costs about as much CPU as running it)."""
    query = (
        select(Claim, Campaign, Coupon)
        .join(Campaign, Campaign.id == Claim.campaign_id)
        .join(Coupon, Coupon.id == Claim.coupon_id)
        .where(Claim.shop_id == bindparam("shop_id"))
    )
    if by == "id":
        return query.where(Claim.id == bindparam("claim_id"))
    return query.where(Claim.code == bindparam("code"))


def verification_terms(
    session: Session,
    claim_row: Claim,
    staff: Staff | None,
    campaign: Campaign | None = None,
    coupon: Coupon | None = None,
) -> rules.VerificationTerms:
    """Look up what the C6 decisions (``rules.check_verifiable``, ``rules.usable_stores``)
    are given: the campaign's and coupon's store scopes, the staff member's scope, and where
    an already verified claim was verified. Pass the campaign and coupon when the caller
    holds them (``claim_with_terms``)."""
    campaign = campaign or get_campaign(session, claim_row.shop_id, claim_row.campaign_id)
    coupon = coupon or get_coupon(session, claim_row.shop_id, claim_row.coupon_id)
    verified_store = None
    if claim_row.status == ClaimStatus.VERIFIED and claim_row.verification_id:
        verification = session.get(Verification, claim_row.verification_id)
        if verification is not None:
            where = session.get(Store, verification.store_id)
            verified_store = where.name if where else str(verification.store_id)
    staff_stores = accounts.staff_store_ids(session, staff) if staff is not None else None
    return rules.VerificationTerms(
        claim=claim_row,
        scopes=rules.StoreScopes(
            campaign_stores=rules.stores(campaign_store_ids(session, campaign)),
            coupon_stores=rules.stores(coupon.store_ids),
            staff_stores=rules.stores(staff_stores),
        ),
        staff=staff,
        verified_store=verified_store,
    )


def usable_stores(session: Session, claim_row: Claim, staff: Staff | None = None) -> list[StoreRef]:
    """Stores where this claim can be verified (by this staff member, if given), by id."""
    terms = verification_terms(session, claim_row, staff)
    return rules.usable_stores(terms.scopes, accounts.store_names(session, claim_row.shop_id))


def check_verifiable(
    ctx: Ctx, claim_row: Claim, store: StoreRef, staff: Staff | None
) -> CouponRefused | None:
    """Why this claim cannot be verified here and now (None: it can): the terms looked up,
    the decision made by ``rules.check_verifiable`` (C6)."""
    terms = verification_terms(ctx.session, claim_row, staff)
    return rules.check_verifiable(terms, store, ctx.now, ctx.settings.timezone)


@dataclass
class VerifyResult:
    verification: Verification
    claim: Claim
    replayed: bool = False


def verify(
    ctx: Ctx,
    shop_id: int,
    *,
    code: str | None = None,
    claim_id: int | None = None,
    store_id: int,
    staff_id: int | None = None,
    channel: str,
    client_request_id: str | None = None,
) -> VerifyResult:
    """C6: verify a code exactly once, within validity (both ends inclusive), at a store in
    the campaign's (and the coupon's) and the staff member's scope, by unrevoked staff.

    ``client_request_id`` (C7) makes it idempotent: the same id returns the first result."""
    claim_row, campaign, coupon = claim_with_terms(
        ctx.session, shop_id, claim_id=claim_id, code_text=None if claim_id else code or ""
    )
    # Issue 16: on PostgreSQL the one verify statement refuses a request id already used, so
    # the replay lookup is only needed when the verification does not go through (a replay,
    # a refusal or a lost race): one statement less for every first request.
    one_statement = is_postgres(ctx.session)
    if client_request_id and not one_statement:
        previous = _by_request_id(ctx.session, shop_id, client_request_id)
        if previous is not None:
            return _replay(ctx, previous, claim_row)
    store = StoreRef(store_id, accounts.store_name(ctx.session, shop_id, store_id))
    staff = accounts.get_staff(ctx.session, shop_id, staff_id) if staff_id is not None else None
    tz = ctx.settings.timezone
    terms = verification_terms(ctx.session, claim_row, staff, campaign, coupon)
    refusal = rules.check_verifiable(terms, store, ctx.now, tz)
    if refusal is not None:
        if client_request_id and one_statement:
            previous = _by_request_id(ctx.session, shop_id, client_request_id)
            if previous is not None:
                return _replay(ctx, previous, claim_row)
        raise refusal
    staff_key = staff.id if staff else None
    request_key = client_request_id or None
    if one_statement:
        # Issue 16: the three writes of a verification in one statement (one round trip).
        values = {
            "claim": claim_row.id,
            "shop": shop_id,
            "now": ctx.now,
            "store": store.id,
            "staff": staff_key,
            "channel": channel,
            "actor": ctx.actor,
            "request_id": request_key,
        }
        won = ctx.session.execute(_verify_in_one_statement(), values).first()
    else:
        won = ctx.session.execute(
            _win_claim_statement(), {"claim": claim_row.id, "shop": shop_id, "now": ctx.now}
        ).first()
    if won is None:
        # Someone verified it between our read and our write (the row lock made us wait).
        if client_request_id:
            previous = _by_request_id(ctx.session, shop_id, client_request_id)
            if previous is not None:
                return _replay(ctx, previous, claim_row)
        ctx.session.refresh(claim_row)
        terms = verification_terms(ctx.session, claim_row, staff, campaign, coupon)
        raise rules.check_verifiable(terms, store, ctx.now, tz) or _refuse(
            "already_verified", "该券已核销，不能重复核销", "Code already verified", "C6"
        )
    if one_statement:
        verification = _recorded(ctx, claim_row, int(won[0]), store.id, staff_key, channel)
        verification.client_request_id = request_key
    else:
        verification = _record_verification(
            ctx,
            claim_row,
            store_id=store.id,
            staff_id=staff_key,
            channel=channel,
            client_request_id=request_key,
        )
    notify.emit(
        ctx,
        shop_id,
        "coupon.verified",
        {
            "claim_id": claim_row.id,
            "verification_id": verification.id,
            "store_id": store.id,
            "staff_id": verification.staff_id,
            "channel": channel,
            "coupon_id": claim_row.coupon_id,
        },
        rule="C6",
    )
    return VerifyResult(verification, claim_row)


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


@functools.cache
def _win_claim_statement() -> Any:
    """The one conditional write that decides who verifies a code (C6: exactly once)."""
    claims = _table(Claim)
    return (
        update(claims)
        .where(
            claims.c.id == bindparam("claim"),
            claims.c.shop_id == bindparam("shop"),
            claims.c.status == ClaimStatus.UNUSED,
        )
        .values(
            status=ClaimStatus.VERIFIED,
            verified_at=bindparam("now", type_=UTCDateTime()),
        )
        .returning(claims.c.id)
    )


@functools.cache
def _verify_in_one_statement() -> Any:
    """PostgreSQL: the conditional write that decides who verifies a code (C6: exactly once),
    the verification row and the claim's link to it, as one statement — the verification's id
    is drawn first, so the one UPDATE of the claim sets status and link together; no row
    comes back when the claim was not unused (someone else won, or it never was) or the
    client request id was used before (C7: the caller then answers the replay)."""
    return text(
        "WITH v AS (SELECT nextval(pg_get_serial_sequence('coupon_verifications', 'id')) AS id),"
        " won AS (UPDATE coupon_claims SET status = :verified, verified_at = :now,"
        " verification_id = (SELECT id FROM v)"
        " WHERE id = :claim AND shop_id = :shop AND status = :unused AND NOT EXISTS"
        " (SELECT 1 FROM coupon_verifications WHERE shop_id = :shop"
        " AND client_request_id = :request_id) RETURNING id, shop_id)"
        " INSERT INTO coupon_verifications (id, shop_id, claim_id, store_id, staff_id, channel,"
        " actor, client_request_id, status, verified_at)"
        " SELECT v.id, won.shop_id, won.id, :store, :staff, :channel, :actor, :request_id,"
        " 'verified', :now FROM v, won RETURNING id"
    ).bindparams(
        bindparam("now", type_=UTCDateTime()),
        bindparam("verified", ClaimStatus.VERIFIED),
        bindparam("unused", ClaimStatus.UNUSED),
        bindparam("staff", type_=BigInteger()),
        bindparam("request_id", type_=String()),
    )


def _recorded(
    ctx: Ctx,
    claim_row: Claim,
    verification_id: int,
    store_id: int,
    staff_id: int | None,
    channel: str,
) -> Verification:
    """The claim brought up to date in memory after ``_verify_in_one_statement`` (loaded
    state, no flush), and the verification it wrote."""
    for name, value in (
        ("status", ClaimStatus.VERIFIED),
        ("verified_at", ctx.now),
        ("verification_id", verification_id),
    ):
        set_committed_value(claim_row, name, value)
    return Verification(
        id=verification_id,
        shop_id=claim_row.shop_id,
        claim_id=claim_row.id,
        store_id=store_id,
        staff_id=staff_id,
        channel=channel,
        actor=ctx.actor,
        status="verified",
        verified_at=ctx.now,
        cancelled_at=None,
        cancelled_by=None,
    )


def _record_verification(
    ctx: Ctx,
    claim_row: Claim,
    *,
    store_id: int,
    staff_id: int | None,
    channel: str,
    client_request_id: str | None,
) -> Verification:
    """The verification row and the claim's link to it, as plain statements (no unit-of-work
    flush on the hot path); ``claim_row`` is brought up to date in memory as loaded state."""
    values: dict[str, Any] = {
        "shop_id": claim_row.shop_id,
        "claim_id": claim_row.id,
        "store_id": store_id,
        "staff_id": staff_id,
        "channel": channel,
        "actor": ctx.actor,
        "client_request_id": client_request_id,
        "status": "verified",
        "verified_at": ctx.now,
    }
    verification_id = ctx.session.execute(_insert_verification_statement(), values).scalar_one()
    ctx.session.execute(
        _link_verification_statement(), {"claim": claim_row.id, "vid": verification_id}
    )
    for name, value in (
        ("status", ClaimStatus.VERIFIED),
        ("verified_at", ctx.now),
        ("verification_id", verification_id),
    ):
        set_committed_value(claim_row, name, value)
    return Verification(id=verification_id, cancelled_at=None, cancelled_by=None, **values)


@functools.cache
def _insert_verification_statement() -> Any:
    table = _table(Verification)
    return insert(table).returning(table.c.id)


@functools.cache
def _link_verification_statement() -> Any:
    claims = _table(Claim)
    return (
        update(claims)
        .where(claims.c.id == bindparam("claim"))
        .values(verification_id=bindparam("vid"))
    )


def _by_request_id(session: Session, shop_id: int, request_id: str) -> Verification | None:
    params = {"shop_id": shop_id, "request_id": request_id}
    return session.scalars(_by_request_id_query(), params).first()


@functools.cache
def _by_request_id_query() -> Any:
    return select(Verification).where(
        Verification.shop_id == bindparam("shop_id"),
        Verification.client_request_id == bindparam("request_id"),
    )


def _replay(ctx: Ctx, previous: Verification, claim_row: Claim) -> VerifyResult:
    if previous.claim_id != claim_row.id:
        raise Conflict(
            "idempotency_key_reused",
            "该请求号已用于另一张券",
            "This client request id was already used for another code",
            rule="C7",
        )
    ctx.session.refresh(claim_row)
    return VerifyResult(previous, claim_row, replayed=True)


def verify_scan(
    ctx: Ctx,
    shop_id: int,
    *,
    image_bytes: bytes,
    store_id: int,
    staff_id: int | None,
    channel: str = "scan",
) -> VerifyResult:
    """C6 扫码核销: decode the buyer's QR from a photo/screenshot (zxing-cpp), then verify."""
    code = code_from_image(ctx, image_bytes)
    return verify(ctx, shop_id, code=code, store_id=store_id, staff_id=staff_id, channel=channel)


def code_from_image(ctx: Ctx, image_bytes: bytes) -> str:
    """C6 scan (and the F4 phone page): the coupon code in a photo/screenshot of the buyer's
    QR, decoded with the upload limits (size, pixels read from the header, decodes in flight);
    refused with ``invalid_image`` / ``no_code_in_image``."""
    from xiaodian.coupons.images import decode_upload, find_codes

    image = decode_upload(
        image_bytes, ctx.settings.coupons, in_flight=ctx.settings.limits.image_decodes_in_flight
    )
    if image is None:
        raise ValidationFailed(
            "invalid_image",
            "请上传 jpg/png 图片",
            "Upload a JPEG or PNG image",
            field="image",
            rule="C6",
        )
    codes = [c for c in (normalize_code(t) for t in find_codes(image)) if c]
    if not codes:
        raise ValidationFailed(
            "no_code_in_image",
            "图片中未识别到券码二维码",
            "No coupon QR code found in the image",
            field="image",
            rule="C6",
        )
    return codes[0]


# ===== C7 API v2: prepare token, cancel ====================================================


def _token_secret(ctx: Ctx) -> bytes:
    return (ctx.settings.secret_key or accounts.installation_secret(ctx.session)).encode()


def make_verify_token(ctx: Ctx, shop_id: int, claim_id: int) -> tuple[str, datetime]:
    """A short-lived token binding (shop, claim) — HMAC-signed, nothing stored."""
    expires = ctx.now + timedelta(seconds=ctx.settings.coupons.verify_token_ttl_seconds)
    body = f"v1.{shop_id}.{claim_id}.{int(expires.timestamp())}"
    sig = hmac.new(_token_secret(ctx), body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{sig}", expires


def read_verify_token(ctx: Ctx, shop_id: int, token: str) -> int:
    """The claim id a token was issued for, or a refusal (bad/expired/other shop)."""
    parts = (token or "").split(".")
    bad = AuthFailed(
        "bad_verify_token", "核销凭证无效，请重新查询券码", "Invalid verify token", rule="C7"
    )
    if len(parts) != 5 or parts[0] != "v1":
        raise bad
    body = ".".join(parts[:4])
    sig = hmac.new(_token_secret(ctx), body.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(sig, parts[4]):
        raise bad
    try:
        token_shop, claim_id, expires = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        raise bad from None
    if token_shop != shop_id:
        raise bad
    if ctx.now.timestamp() > expires:
        raise CouponRefused(
            "verify_token_expired",
            "核销凭证已过期，请重新查询券码",
            "Verify token expired",
            rule="C7",
        )
    return claim_id


def within_cancel_window(ctx: Ctx, row: Verification) -> bool:
    """C7: a verification may be cancelled until ``verify_cancel_window_minutes`` after it,
    inclusive (the one place this edge is decided; the 来客 gateway's ``can_cancel`` too)."""
    window = timedelta(minutes=ctx.settings.coupons.verify_cancel_window_minutes)
    return ctx.now <= row.verified_at + window


def cancel_verification(ctx: Ctx, shop_id: int, verification_id: int) -> Verification:
    """C7: undo a verification within the window (default 60 min). The edge is inclusive:
    exactly 60:00 after verifying is allowed, 60:01 is refused. The code becomes usable again
    (status unused) — still subject to its validity."""
    row = get_owned(
        ctx.session, Verification, shop_id, verification_id, ("核销记录", "Verification")
    )
    if row.status != "verified":
        raise _refuse(
            "already_cancelled", "该核销已撤销", "This verification was already cancelled", "C7"
        )
    if not within_cancel_window(ctx, row):
        minutes = ctx.settings.coupons.verify_cancel_window_minutes
        raise _refuse(
            "cancel_window_passed",
            f"核销已超过 {minutes} 分钟，不能撤销",
            f"Verifications can only be cancelled within {minutes} minutes",
            "C7",
        )
    done = ctx.session.execute(
        update(Verification)
        .where(
            Verification.id == row.id,
            Verification.shop_id == shop_id,
            Verification.status == "verified",
        )
        .values(status="cancelled", cancelled_at=ctx.now, cancelled_by=ctx.actor)
        .returning(Verification.id)
    ).first()
    if done is None:
        raise _refuse(
            "already_cancelled", "该核销已撤销", "This verification was already cancelled", "C7"
        )
    ctx.session.execute(
        update(Claim)
        .where(Claim.id == row.claim_id, Claim.shop_id == shop_id, Claim.verification_id == row.id)
        .values(status=ClaimStatus.UNUSED, verified_at=None, verification_id=None)
    )
    ctx.session.refresh(row)
    notify.emit(
        ctx,
        shop_id,
        "coupon.verification_cancelled",
        {"verification_id": row.id, "claim_id": row.claim_id},
        rule="C7",
    )
    return row


def verifications_of(session: Session, shop_id: int, claim_id: int) -> list[Verification]:
    return list(
        session.scalars(
            select(Verification)
            .where(Verification.shop_id == shop_id, Verification.claim_id == claim_id)
            .order_by(Verification.id)
        )
    )


def recent_verifications(session: Session, shop_id: int, limit: int = 20) -> list[Verification]:
    return list(
        session.scalars(
            select(Verification)
            .where(Verification.shop_id == shop_id)
            .order_by(Verification.id.desc())
            .limit(limit)
        )
    )


@dataclass
class Prepared:
    claim: Claim
    coupon: Coupon
    usable_store_ids: list[int]
    refusal: CouponRefused | None
    token: str
    token_expires_at: datetime


# Issue 16: prepare decides and records nothing; the only row its transaction writes is the
# signed request's nonce, so its commit need not wait for the WAL flush (as a signed GET's,
# W5): a crash could lose the last fraction of a second of nonces — a replayed prepare is a
# lookup its sender already saw.
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO off")


def prepare(ctx: Ctx, shop_id: int, code_text: str, staff_id: int | None = None) -> Prepared:
    """C7 prepare: what the code is, where it can be used (by this staff member), whether it
    can be verified now, and a short-lived verify token."""
    if is_postgres(ctx.session):
        ctx.session.execute(_ASYNC_COMMIT)
    claim_row, campaign, coupon = claim_with_terms(ctx.session, shop_id, code_text=code_text)
    staff = accounts.get_staff(ctx.session, shop_id, staff_id) if staff_id is not None else None
    terms = verification_terms(ctx.session, claim_row, staff, campaign, coupon)
    usable = rules.usable_stores(terms.scopes, accounts.store_names(ctx.session, shop_id))
    refusal: CouponRefused | None
    if usable:
        refusal = rules.check_verifiable(terms, usable[0], ctx.now, ctx.settings.timezone)
    elif staff is not None and staff.revoked_at is not None:
        refusal = rules.staff_revoked(staff)
    else:
        refusal = _refuse(
            "store_out_of_staff_scope" if staff is not None else "store_out_of_campaign_scope",
            "没有可核销该券的门店",
            "No store where this code can be verified",
            "C6",
        )
    token, expires = make_verify_token(ctx, shop_id, claim_row.id)
    usable_ids = [store.id for store in usable]
    return Prepared(claim_row, coupon, usable_ids, refusal, token, expires)

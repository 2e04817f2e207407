"""Coupon decisions (issue 15 M2): checks, refusals and summaries that take their inputs as
arguments and write nothing. ``service.py`` looks things up and writes; ``sweeps.py`` holds
the time-driven rules.

* **Condition kinds** (C1) are a table, ``CONDITION_KINDS``: each kind with its fields, its
  check of a draft and its summary. A new kind is one entry here (and its columns); a kind
  that is not in the table is refused on input and raises ``UnknownConditionKind`` when a
  stored coupon carries it — it is never shown as another kind.
* **Where a claim may be verified** (C6) is written once, ``SCOPES``: the staff member's
  stores, the campaign's stores, the coupon's stores, in the order a refusal names them.
  ``out_of_scope`` (why not at this store) and ``store_scope`` (where, then) both read it.
* **Whether a claim may be verified here and now** (C6/C7), ``check_verifiable``, is given the
  claim, its campaign's and coupon's scopes, the staff member and scope, the store and the
  instant (``VerificationTerms``): it looks nothing up.
* **The verifier's phone** (F4): whether a one-time binding link may still bind
  (``staff_link_refusal``), and the phone page's CSRF value (``phone_csrf_for``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from xiaodian.accounts.models import Staff
from xiaodian.coupons.models import ClaimStatus
from xiaodian.errors import XiaodianError, field_error
from xiaodian.money import yuan

# ===== errors ==============================================================================


class CouponRefused(XiaodianError):
    """A claim or verification refused by a rule; ``code`` says which (stable)."""

    status = 409


class UnknownCode(CouponRefused):
    status = 404


class StaffRevoked(CouponRefused):
    status = 403


def _refuse(code: str, zh: str, en: str, rule: str) -> CouponRefused:
    return CouponRefused(code, zh, en, rule=rule)


def staff_revoked(staff: Staff) -> StaffRevoked:
    """C5/C6: the staff member's verification rights were taken away."""
    return StaffRevoked(
        "staff_revoked",
        f"核销人员 {staff.douyin_id} 的核销权限已被取消",
        f"Staff {staff.douyin_id} has been revoked",
        rule="C5",
    )


# ===== C1 condition kinds ==================================================================


class ConditionTerms(Protocol):
    """What a condition kind reads: a draft (C1 form) or a stored coupon."""

    @property
    def condition_kind(self) -> str | None: ...

    @property
    def discount_percent(self) -> int | None: ...

    @property
    def discount_cap_fen(self) -> int | None: ...

    @property
    def threshold_fen(self) -> int | None: ...

    @property
    def amount_off_fen(self) -> int | None: ...


class UnknownConditionKind(LookupError):
    """A stored coupon carries a condition kind that ``CONDITION_KINDS`` does not know."""


@dataclass(frozen=True)
class ConditionKind:
    name: str  # stored in coupons.condition_kind
    label: str  # 折扣 / 满减
    fields: tuple[str, ...]  # the columns this kind uses; the others are stored empty
    check: Callable[[ConditionTerms], list[dict[str, Any]]]  # field errors of a draft
    summary: Callable[[ConditionTerms], str]  # 95折，最多减300元
    face_value: Callable[[ConditionTerms], int]  # fen: what the coupon is worth at most


def _check_discount(terms: ConditionTerms) -> list[dict[str, Any]]:
    errors = []
    percent, cap = terms.discount_percent, terms.discount_cap_fen
    if percent is None or not 1 <= percent <= 99:
        errors.append(
            field_error(
                "discount_percent",
                "折扣须为 1–99 的整数（95 表示 95 折）",
                "discount_percent must be an integer 1–99 (95 = pay 95 %)",
            )
        )
    if cap is None or cap <= 0:
        errors.append(
            field_error(
                "discount_cap_fen",
                "请填写最多抵扣金额（分，大于0）",
                "discount_cap_fen (fen, > 0) is required",
            )
        )
    return errors


def _summary_discount(terms: ConditionTerms) -> str:
    percent = terms.discount_percent or 0
    discount = f"{percent // 10}.{percent % 10}".rstrip("0").rstrip(".") + "折"
    return f"{discount}，最多减{yuan_short(terms.discount_cap_fen or 0)}"


def _check_amount_off(terms: ConditionTerms) -> list[dict[str, Any]]:
    errors = []
    threshold, off = terms.threshold_fen, terms.amount_off_fen
    if off is None or off <= 0:
        errors.append(
            field_error(
                "amount_off_fen", "请填写立减金额（分，大于0）", "amount_off_fen (> 0) is required"
            )
        )
    if threshold is None or threshold < 0:
        errors.append(
            field_error(
                "threshold_fen",
                "请填写使用门槛（满多少分可用，0 表示无门槛）",
                "threshold_fen (≥ 0; 0 = no threshold) is required",
            )
        )
    elif off is not None and off > 0 and threshold and off >= threshold:
        errors.append(
            field_error(
                "amount_off_fen",
                "立减金额须小于使用门槛",
                "amount_off_fen must be below threshold_fen",
            )
        )
    return errors


def _summary_amount_off(terms: ConditionTerms) -> str:
    threshold = terms.threshold_fen or 0
    off = yuan_short(terms.amount_off_fen or 0)
    return f"满{yuan_short(threshold)}减{off}" if threshold else f"无门槛立减{off}"


CONDITION_KINDS: dict[str, ConditionKind] = {
    kind.name: kind
    for kind in (
        ConditionKind(
            "discount",
            "折扣",
            ("discount_percent", "discount_cap_fen"),
            _check_discount,
            _summary_discount,
            lambda terms: terms.discount_cap_fen or 0,
        ),
        ConditionKind(
            "amount_off",
            "满减",
            ("threshold_fen", "amount_off_fen"),
            _check_amount_off,
            _summary_amount_off,
            lambda terms: terms.amount_off_fen or 0,
        ),
    )
}
CONDITION_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(name for kind in CONDITION_KINDS.values() for name in kind.fields)
)


def check_condition(terms: ConditionTerms) -> list[dict[str, Any]]:
    """C1: the field errors of a draft's usage condition (empty: it may be used)."""
    kind = CONDITION_KINDS.get(terms.condition_kind or "")
    if kind is None:
        return [
            field_error(
                "condition_kind",
                "请选择使用条件：折扣（discount）或满减（amount_off）",
                "condition_kind must be 'discount' or 'amount_off'",
            )
        ]
    return kind.check(terms)


def condition_values(terms: ConditionTerms) -> dict[str, int | None]:
    """The condition columns to store: the kind's own fields, every other one empty."""
    kind = condition_kind(terms.condition_kind)
    return {
        name: getattr(terms, name) if name in kind.fields else None for name in CONDITION_FIELDS
    }


def condition_kind(name: str | None) -> ConditionKind:
    kind = CONDITION_KINDS.get(name or "")
    if kind is None:
        raise UnknownConditionKind(
            f"unknown coupon condition kind {name!r}; known: {sorted(CONDITION_KINDS)}"
        )
    return kind


def condition_summary(terms: ConditionTerms) -> str:
    """Human wording of the structured condition: 95折，最多减300元 / 满500元减30元. An unknown
    kind raises ``UnknownConditionKind`` (never shown as another kind's wording)."""
    return condition_kind(terms.condition_kind).summary(terms)


def face_value(terms: ConditionTerms) -> int:
    """The most the coupon takes off, in fen (the 来客 market price, D5): 满减 its amount,
    a discount its cap. An unknown kind raises ``UnknownConditionKind``."""
    return condition_kind(terms.condition_kind).face_value(terms)


def yuan_short(fen: int) -> str:
    """30000 → '300元', 1050 → '10.50元'."""
    return f"{fen // 100}元" if fen % 100 == 0 else f"{yuan(fen)}元"


# ===== C6 where a claim may be verified ====================================================


@dataclass(frozen=True)
class StoreRef:
    """What a verification check needs of a store: its id, and its name for the messages."""

    id: int
    name: str


class ClaimTerms(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def valid_from(self) -> datetime: ...

    @property
    def valid_until(self) -> datetime: ...

    @property
    def verified_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class StoreScopes:
    """The three store restrictions on a claim (None: that one does not restrict)."""

    campaign_stores: frozenset[int] | None  # the campaign's stores
    coupon_stores: frozenset[int] | None  # the coupon's store restriction
    staff_stores: frozenset[int] | None = None  # the verifying staff member's stores


@dataclass(frozen=True)
class VerificationTerms:
    """Everything C6 decides on, looked up by the service once per operation."""

    claim: ClaimTerms
    scopes: StoreScopes
    staff: Staff | None = None  # who verifies (None: the merchant or a platform call)
    verified_store: str | None = None  # where an already verified claim was verified


def stores(ids: Iterable[int] | None) -> frozenset[int] | None:
    return None if ids is None else frozenset(ids)


def _out_of_staff_scope(store: StoreRef) -> CouponRefused:
    return _refuse(
        "store_out_of_staff_scope",
        f"核销人员无权在门店「{store.name}」核销",
        f"Staff may not verify at store {store.id}",
        "C6",
    )


def _out_of_campaign_scope(store: StoreRef) -> CouponRefused:
    return _refuse(
        "store_out_of_campaign_scope",
        f"门店「{store.name}」不在该活动的参与门店内",
        f"Store {store.id} is not in the campaign's stores",
        "C6",
    )


def _out_of_coupon_scope(store: StoreRef) -> CouponRefused:
    return _refuse(
        "store_out_of_coupon_scope",
        f"该券限定门店使用，门店「{store.name}」不可用",
        f"The coupon is restricted to other stores than {store.id}",
        "C6",
    )


# C6, written once: the store scopes (a StoreScopes attribute each) in the order a refusal
# names them, each with its refusal.
SCOPES: tuple[tuple[str, Callable[[StoreRef], CouponRefused]], ...] = (
    ("staff_stores", _out_of_staff_scope),
    ("campaign_stores", _out_of_campaign_scope),
    ("coupon_stores", _out_of_coupon_scope),
)


def out_of_scope(scopes: StoreScopes, store: StoreRef) -> CouponRefused | None:
    """C6: why a claim may not be verified at ``store`` (None: the store is in scope)."""
    for attribute, refuse_at in SCOPES:
        scope: frozenset[int] | None = getattr(scopes, attribute)
        if scope is not None and store.id not in scope:
            return refuse_at(store)
    return None


def store_scope(scopes: StoreScopes) -> frozenset[int] | None:
    """C6: the stores where a claim may be verified, the intersection of ``SCOPES`` (None:
    no restriction, every store of the shop)."""
    result: frozenset[int] | None = None
    for attribute, _refusal in SCOPES:
        scope: frozenset[int] | None = getattr(scopes, attribute)
        if scope is not None:
            result = scope if result is None else result & scope
    return result


def usable_stores(scopes: StoreScopes, shop_stores: dict[int, str]) -> list[StoreRef]:
    """C6/C7: the shop's stores (id → name) where a claim may be verified, by id."""
    usable = store_scope(scopes)
    return [
        StoreRef(store_id, name)
        for store_id, name in sorted(shop_stores.items())
        if usable is None or store_id in usable
    ]


def check_verifiable(
    terms: VerificationTerms, store: StoreRef, now: datetime, tz: str
) -> CouponRefused | None:
    """Why this claim cannot be verified at ``store`` at ``now`` (None: it can). Order: the
    code's own state, the staff member, the scopes, then validity (both ends inclusive) —
    the most useful reason first."""
    claim = terms.claim
    if claim.status == ClaimStatus.VERIFIED:
        where = f"在「{terms.verified_store}」" if terms.verified_store is not None else ""
        when = local_time(claim.verified_at, tz) if claim.verified_at else ""
        return _refuse(
            "already_verified",
            f"该券已于 {when} {where}核销，不能重复核销",
            f"Code already verified at {when}",
            "C6",
        )
    if terms.staff is not None and terms.staff.revoked_at is not None:
        return staff_revoked(terms.staff)
    refusal = out_of_scope(terms.scopes, store)
    if refusal is not None:
        return refusal
    if now < claim.valid_from:
        return _refuse(
            "not_yet_valid",
            f"该券尚未生效，{local_time(claim.valid_from, tz)} 起可用",
            f"Not valid before {claim.valid_from.isoformat()}",
            "C6",
        )
    if now > claim.valid_until:
        return _refuse(
            "expired",
            f"该券已过期（有效期至 {local_time(claim.valid_until, tz)}）",
            f"Expired (valid until {claim.valid_until.isoformat()})",
            "C6",
        )
    return None


def local_time(when: datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


# ===== F4 the verifier's phone: one-time binding links =====================================


class StaffLinkRefused(XiaodianError):
    """A phone-binding link that cannot bind (F4): unknown, already used, or expired."""

    status = 410


STAFF_LINK_AGAIN = "，请让商家在后台重新生成手机核销链接"


def staff_link_refusal(
    *, found: bool, used_at: datetime | None, expires_at: datetime | None, now: datetime
) -> StaffLinkRefused | None:
    """Why a binding link cannot bind this phone now (None: it can). Single use; it dies at
    ``expires_at`` (inclusive: the link still works at that very second)."""
    if not found or expires_at is None:
        return StaffLinkRefused(
            "staff_link_invalid", "链接无效" + STAFF_LINK_AGAIN, "Unknown link", rule="F4"
        )
    if used_at is not None:
        return staff_link_used()
    if now > expires_at:
        return StaffLinkRefused(
            "staff_link_expired", "链接已过期" + STAFF_LINK_AGAIN, "This link expired", rule="F4"
        )
    return None


def staff_link_used() -> StaffLinkRefused:
    """F4: a binding link binds one phone only."""
    return StaffLinkRefused(
        "staff_link_used",
        "该链接已使用过（每个链接只能绑定一次）" + STAFF_LINK_AGAIN,
        "This link was already used",
        rule="F4",
    )


def phone_csrf_for(token: str) -> str:
    """F4: the hidden form value of a bound phone (sent back with every POST), derived from
    the phone's staff token (the token is the secret; a page of another origin reads
    neither)."""
    return hashlib.sha256(b"xiaodian-staff-phone-csrf:" + token.encode()).hexdigest()


# ===== product image size (C1, F8) =========================================================

PRODUCT_IMAGE_SIZE = (686, 176)


def product_image_warnings(
    width: int, height: int, tolerance_permille: int
) -> list[dict[str, Any]]:
    """F8 (issue 17): seed 004 *recommends* 686×176 ("推荐 686px *176px分辨率"); it does not
    refuse other sizes. Exactly 686×176: no warning. The 686:176 aspect within
    ``tolerance_permille`` at another size: a warning that it will be scaled. Any other aspect:
    accepted with a warning that it is shown at 686:176 and may be cropped — the reviewer's
    无拉伸变形 (C2 rule 3) is about what the picture shows, the display never stretches it.
    Format, < 1 MB and the pixel cap still refuse (``images.check_image``)."""
    target_w, target_h = PRODUCT_IMAGE_SIZE
    if (width, height) == PRODUCT_IMAGE_SIZE:
        return []
    target = target_w / target_h
    deviation = abs(width / height - target) / target
    if deviation * 1000 <= tolerance_permille:
        return [
            field_error(
                "product_image",
                f"商品图片为 {width}×{height}，推荐 686×176 像素（比例一致，将按比例缩放）",
                f"product_image is {width}×{height}; 686×176 is recommended "
                "(same aspect, will be scaled)",
            )
        ]
    return [
        field_error(
            "product_image",
            f"商品图片为 {width}×{height}，比例与推荐的 686×176 不同，"
            "展示时将按 686:176 居中裁剪，请确认主体完整、无拉伸变形",
            f"product_image is {width}×{height}, not the recommended 686×176 aspect; it is shown "
            "at 686:176, centred and cropped — check nothing important is cut off",
        )
    ]


# ===== C4 codes ============================================================================

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
QR_PREFIX = "xiaodian://coupon/"


def normalize_code(text: str) -> str | None:
    """A typed code ("ABCD EFGH JKMN", lower case, dashes) or a scanned QR payload → code."""
    raw = (text or "").strip()
    if raw.lower().startswith(QR_PREFIX):
        raw = raw[len(QR_PREFIX) :]
    code = re.sub(r"[\s-]", "", raw).upper()
    if not 8 <= len(code) <= 24 or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def refusal(code: str, zh: str, en: str, rule: str) -> CouponRefused:
    """A claim or a verification refused under ``rule`` (C4, C6, C7)."""
    return CouponRefused(code, zh, en, rule=rule)

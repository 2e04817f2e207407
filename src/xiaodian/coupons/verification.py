"""Coupon verification (C5–C7; issue 15 M3: the verification sections apart from creation,
review, campaigns and claims in ``service.py``): the staff app's tokens (C5), one verification
of a claim at a store by staff in scope, exactly once (C6), and the API v2's prepare token,
cancel window and queries (C7). ``service.py`` re-exports every public name, so callers keep
importing ``coupons.service``.

Concurrency (C6): exactly-once verification is a *conditional UPDATE* —
``SET status = 'verified' WHERE status = 'unused'`` — which holds on PostgreSQL (the row lock
makes a concurrent writer re-check the WHERE after the first commits) and on SQLite (writers
are serialised by ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Staff, Store
from xiaodian.context import Ctx
from xiaodian.coupons import rules
from xiaodian.coupons.models import (
    Campaign,
    CampaignStore,
    Claim,
    ClaimStatus,
    Coupon,
    StaffToken,
    Verification,
)

# The refusals and StoreRef are defined with the decisions (rules.py, M2); other contexts use
# them by these names.
from xiaodian.coupons.rules import CouponRefused as CouponRefused
from xiaodian.coupons.rules import StaffRevoked as StaffRevoked
from xiaodian.coupons.rules import StoreRef as StoreRef
from xiaodian.coupons.rules import UnknownCode as UnknownCode
from xiaodian.coupons.rules import normalize_code
from xiaodian.coupons.rules import refusal as _refuse
from xiaodian.db import UTCDateTime, get_owned, is_postgres
from xiaodian.errors import (
    AuthFailed,
    Conflict,
    NotFound,
    ValidationFailed,
    XiaodianError,
)
from xiaodian.notify import service as notify

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


def _unknown_code() -> UnknownCode:
    return UnknownCode(
        "unknown_code",
        "券码不存在，请核对后重新输入",
        "Unknown code; check and retry",
        rule="C6",
    )


def claim_with_terms(
    session: Session, shop_id: int, *, claim_id: int | None = None, code_text: str | None = None
) -> tuple[Claim, Campaign, Coupon]:
    """A claim (by id, or by its code as typed) with its campaign and coupon as ORM entities,
    in one query (the queries by code and the 来客 certificate reads; prepare and verify read
    ``ClaimFacts`` instead)."""
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
        raise _unknown_code()
    claim, campaign, coupon = row
    return claim, campaign, coupon


@functools.cache
def _claim_with_terms_query(by: str) -> Any:
    """Built once (constructing a query costs about as much CPU as running it)."""
    query = (
        select(Claim, Campaign, Coupon)
        .join(Campaign, Campaign.id == Claim.campaign_id)
        .join(Coupon, Coupon.id == Claim.coupon_id)
        .where(Claim.shop_id == bindparam("shop_id"))
    )
    if by == "id":
        return query.where(Claim.id == bindparam("claim_id"))
    return query.where(Claim.code == bindparam("code"))


# ----- issue 16: what C6/C7 read, from one narrow Core query -------------------------------


@dataclass(frozen=True)
class ClaimFacts:
    """What prepare and verify read of a claim, its campaign and its coupon (C6/C7): the
    claim's own columns, the campaign's ``all_stores``, the coupon's store restriction and,
    for a verified claim, the name of the store it was verified at. Issue 16: one narrow Core
    row instead of three full ORM entities (≈ 60 columns) loaded twice per verification."""

    id: int
    shop_id: int
    code: str
    campaign_id: int
    coupon_id: int
    status: str
    valid_from: datetime
    valid_until: datetime
    claimed_at: datetime
    verified_at: datetime | None
    verification_id: int | None
    campaign_all_stores: bool
    coupon_store_ids: list[int] | None
    verified_store: str | None  # where a verified claim was verified (None otherwise)


@dataclass(frozen=True)
class CouponView:
    """The coupon as prepare answers it (``mappers.coupon_out``, the 来客 certificate's sku and
    amount): the columns those read, not the review's bookkeeping."""

    id: int
    shop_id: int
    status: str
    title: str
    merchant_name: str
    product_image_sha: str
    logo_sha: str
    condition_kind: str
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
    warnings: list[dict[str, Any]]
    created_at: datetime
    review_due_at: datetime
    reviewed_at: datetime | None
    reject_reasons: list[dict[str, Any]]


_CLAIM_FIELDS = (
    "id",
    "shop_id",
    "code",
    "campaign_id",
    "coupon_id",
    "status",
    "valid_from",
    "valid_until",
    "claimed_at",
    "verified_at",
    "verification_id",
)
_COUPON_FIELDS = tuple(f.name for f in fields(CouponView))
_N_CLAIM = len(_CLAIM_FIELDS)
_N_COUPON = len(_COUPON_FIELDS)


def _facts(row: Any, coupon_store_ids: Any, verified_store: str | None) -> ClaimFacts:
    verified = row[5] == ClaimStatus.VERIFIED
    values: list[Any] = [*row[:_N_CLAIM], bool(row[_N_CLAIM]), coupon_store_ids]
    values.append(verified_store if verified else None)
    return ClaimFacts(*values)


def _claim_params(
    shop_id: int, claim_id: int | None, code_text: str | None
) -> tuple[str, dict[str, Any]]:
    """(by, parameters) of a claim named by id, or by its code as typed (UnknownCode when
    the text is no code at all)."""
    if claim_id is not None:
        return "id", {"shop_id": shop_id, "claim_id": claim_id}
    code = normalize_code(code_text or "")
    if not code:
        raise _unknown_code()
    return "code", {"shop_id": shop_id, "code": code}


def _not_found(by: str, params: dict[str, Any]) -> XiaodianError:
    return NotFound("券", "Claim", params["claim_id"]) if by == "id" else _unknown_code()


@dataclass(frozen=True)
class VerifyFacts:
    claim: ClaimFacts
    store_name: str | None  # the name of the store asked for (None: not one of the shop's)


def verify_facts(
    session: Session,
    shop_id: int,
    *,
    store_id: int,
    claim_id: int | None = None,
    code_text: str | None = None,
) -> VerifyFacts:
    """Verify's one read (C6): the claim's facts and the store's name, one statement."""
    by, params = _claim_params(shop_id, claim_id, code_text)
    params["store_id"] = store_id
    row = session.execute(_facts_query(by, "verify", _dialect(session)), params).first()
    if row is None:
        raise _not_found(by, params)
    n = _N_CLAIM
    return VerifyFacts(_facts(row, row[n + 1], row[n + 2]), row[n + 3])


def _prepare_facts(
    session: Session, shop_id: int, code_text: str
) -> tuple[ClaimFacts, CouponView, dict[int, str]]:
    """Prepare's one read (C7): the claim's facts, the coupon as answered and the shop's
    stores (id → name); on PostgreSQL the same statement turns off the commit's WAL wait
    (``set_config('synchronous_commit', 'off', true)``, see ``prepare``)."""
    by, params = _claim_params(shop_id, None, code_text)
    row = session.execute(_facts_query(by, "prepare", _dialect(session)), params).first()
    if row is None:
        raise _not_found(by, params)
    n = _N_CLAIM + 1
    coupon = CouponView(*row[n : n + _N_COUPON])
    n += _N_COUPON
    pairs = row[n + 1]
    if isinstance(pairs, str):  # SQLite's json_group_array is text
        pairs = json.loads(pairs)
    names = {int(store_id): name for store_id, name in sorted(pairs or ())}
    return _facts(row, coupon.store_ids, row[n]), coupon, names


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@functools.cache
def _facts_query(by: str, purpose: str, dialect: str) -> Any:
    """Built once per (by, purpose, dialect), bind parameters only (issue 16): the claim's
    columns, its campaign's ``all_stores``, the coupon's store restriction (verify) or the
    coupon as answered (prepare), and as scalar subqueries where a verified claim was
    verified, then the asked store's name (verify) or the shop's stores as one JSON array
    (prepare)."""
    claims, campaigns, coupons = _table(Claim), _table(Campaign), _table(Coupon)
    done, at = _table(Verification).alias("done"), _table(Store).alias("at")
    verified_store = (
        select(func.coalesce(at.c.name, sql_cast(done.c.store_id, String)))
        .select_from(
            done.outerjoin(at, and_(at.c.id == done.c.store_id, at.c.shop_id == done.c.shop_id))
        )
        .where(done.c.id == claims.c.verification_id, done.c.shop_id == claims.c.shop_id)
        .scalar_subquery()
    )
    columns: list[Any] = [claims.c[name] for name in _CLAIM_FIELDS]
    columns.append(campaigns.c.all_stores)
    shop_stores = _table(Store).alias("shop_stores")
    if purpose == "verify":
        asked = (
            select(shop_stores.c.name)
            .where(
                shop_stores.c.id == bindparam("store_id"),
                shop_stores.c.shop_id == bindparam("shop_id"),
            )
            .scalar_subquery()
        )
        columns += [coupons.c.store_ids, verified_store, asked]
    else:
        pair = (shop_stores.c.id, shop_stores.c.name)
        if dialect == "postgresql":
            listed = func.json_agg(aggregate_order_by(func.json_build_array(*pair), pair[0]))
        else:
            listed = func.json_group_array(func.json_array(*pair))
        names = select(listed).where(shop_stores.c.shop_id == claims.c.shop_id).scalar_subquery()
        columns += [coupons.c[name] for name in _COUPON_FIELDS]
        columns += [verified_store, names]
        if dialect == "postgresql":
            columns.append(literal_column("set_config('synchronous_commit', 'off', true)"))
    query = (
        select(*columns)
        .join_from(
            claims,
            campaigns,
            and_(campaigns.c.id == claims.c.campaign_id, campaigns.c.shop_id == claims.c.shop_id),
        )
        .join(
            coupons, and_(coupons.c.id == claims.c.coupon_id, coupons.c.shop_id == claims.c.shop_id)
        )
        .where(claims.c.shop_id == bindparam("shop_id"))
    )
    if by == "id":
        return query.where(claims.c.id == bindparam("claim_id"))
    return query.where(claims.c.code == bindparam("code"))


@functools.cache
def _campaign_stores_query() -> Any:
    table = _table(CampaignStore)
    return select(table.c.store_id).where(
        table.c.shop_id == bindparam("shop_id"), table.c.campaign_id == bindparam("campaign_id")
    )


def verification_terms(
    session: Session, claim: ClaimFacts, staff: Staff | None
) -> rules.VerificationTerms:
    """What the C6 decisions (``rules.check_verifiable``, ``rules.usable_stores``) are given:
    the claim, the campaign's stores (read only when the campaign is not for every store),
    the coupon's store restriction, the staff member's scope, and where an already verified
    claim was verified."""
    campaign_stores = None
    if not claim.campaign_all_stores:
        params = {"shop_id": claim.shop_id, "campaign_id": claim.campaign_id}
        campaign_stores = list(session.scalars(_campaign_stores_query(), params))
    staff_stores = accounts.staff_store_ids(session, staff) if staff is not None else None
    return rules.VerificationTerms(
        claim=claim,
        scopes=rules.StoreScopes(
            campaign_stores=rules.stores(campaign_stores),
            coupon_stores=rules.stores(claim.coupon_store_ids),
            staff_stores=rules.stores(staff_stores),
        ),
        staff=staff,
        verified_store=claim.verified_store,
    )


def usable_stores(
    session: Session, claim: ClaimFacts, staff: Staff | None = None
) -> list[StoreRef]:
    """Stores where this claim can be verified (by this staff member, if given), by id."""
    terms = verification_terms(session, claim, staff)
    return rules.usable_stores(terms.scopes, accounts.store_names(session, claim.shop_id))


def check_verifiable(
    ctx: Ctx, claim: ClaimFacts, store: StoreRef, staff: Staff | None
) -> CouponRefused | None:
    """Why this claim cannot be verified here and now (None: it can): the terms looked up,
    the decision made by ``rules.check_verifiable`` (C6)."""
    terms = verification_terms(ctx.session, claim, staff)
    return rules.check_verifiable(terms, store, ctx.now, ctx.settings.timezone)


@dataclass
class VerifyResult:
    verification: Verification
    claim: ClaimFacts
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
    read = verify_facts(
        ctx.session,
        shop_id,
        store_id=store_id,
        claim_id=claim_id,
        code_text=None if claim_id else code or "",
    )
    claim = read.claim
    # Issue 16: on PostgreSQL the one verify statement refuses a request id already used, so
    # the replay lookup is only needed when the verification does not go through (a replay,
    # a refusal or a lost race): one statement less for every first request.
    one_statement = is_postgres(ctx.session)
    if client_request_id and not one_statement:
        previous = _by_request_id(ctx.session, shop_id, client_request_id)
        if previous is not None:
            return _replay(ctx, previous, claim)
    if read.store_name is None:
        raise NotFound("门店", "Store", store_id)
    store = StoreRef(store_id, read.store_name)
    staff = accounts.get_staff(ctx.session, shop_id, staff_id) if staff_id is not None else None
    tz = ctx.settings.timezone
    terms = verification_terms(ctx.session, claim, staff)
    refusal = rules.check_verifiable(terms, store, ctx.now, tz)
    if refusal is not None:
        if client_request_id and one_statement:
            previous = _by_request_id(ctx.session, shop_id, client_request_id)
            if previous is not None:
                return _replay(ctx, previous, claim)
        raise refusal
    staff_key = staff.id if staff else None
    request_key = client_request_id or None
    if one_statement:
        # Issue 16: the three writes of a verification in one statement (one round trip).
        values = {
            "claim": claim.id,
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
            _win_claim_statement(), {"claim": claim.id, "shop": shop_id, "now": ctx.now}
        ).first()
    if won is None:
        # Someone verified it between our read and our write (the row lock made us wait).
        if client_request_id:
            previous = _by_request_id(ctx.session, shop_id, client_request_id)
            if previous is not None:
                return _replay(ctx, previous, claim)
        now_read = verify_facts(ctx.session, shop_id, store_id=store_id, claim_id=claim.id)
        terms = replace(terms, claim=now_read.claim, verified_store=now_read.claim.verified_store)
        raise rules.check_verifiable(terms, store, ctx.now, tz) or _refuse(
            "already_verified", "该券已核销，不能重复核销", "Code already verified", "C6"
        )
    if one_statement:
        verification_id = int(won[0])
    else:
        verification_id = _record_verification(
            ctx,
            claim,
            store_id=store.id,
            staff_id=staff_key,
            channel=channel,
            client_request_id=request_key,
        )
    verification = _recorded(ctx, claim, verification_id, store.id, staff_key, channel)
    verification.client_request_id = request_key
    claim = replace(
        claim,
        status=ClaimStatus.VERIFIED,
        verified_at=ctx.now,
        verification_id=verification_id,
        verified_store=store.name,
    )
    notify.emit(
        ctx,
        shop_id,
        "coupon.verified",
        {
            "claim_id": claim.id,
            "verification_id": verification_id,
            "store_id": store.id,
            "staff_id": staff_key,
            "channel": channel,
            "coupon_id": claim.coupon_id,
        },
        rule="C6",
    )
    return VerifyResult(verification, claim)


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
    claim: ClaimFacts,
    verification_id: int,
    store_id: int,
    staff_id: int | None,
    channel: str,
) -> Verification:
    """The verification a verify wrote, as the answer shows it (not added to the session)."""
    return Verification(
        id=verification_id,
        shop_id=claim.shop_id,
        claim_id=claim.id,
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
    claim: ClaimFacts,
    *,
    store_id: int,
    staff_id: int | None,
    channel: str,
    client_request_id: str | None,
) -> int:
    """SQLite: the verification row and the claim's link to it, as plain statements (no
    unit-of-work flush on the hot path); returns the verification's id."""
    values: dict[str, Any] = {
        "shop_id": claim.shop_id,
        "claim_id": claim.id,
        "store_id": store_id,
        "staff_id": staff_id,
        "channel": channel,
        "actor": ctx.actor,
        "client_request_id": client_request_id,
        "status": "verified",
        "verified_at": ctx.now,
    }
    verification_id = int(
        ctx.session.execute(_insert_verification_statement(), values).scalar_one()
    )
    ctx.session.execute(_link_verification_statement(), {"claim": claim.id, "vid": verification_id})
    return verification_id


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


def _replay(ctx: Ctx, previous: Verification, claim: ClaimFacts) -> VerifyResult:
    if previous.claim_id != claim.id:
        raise Conflict(
            "idempotency_key_reused",
            "该请求号已用于另一张券",
            "This client request id was already used for another code",
            rule="C7",
        )
    # The claim as it is now (the first request verified it; a cancellation may have
    # followed), with no store asked for.
    now_read = verify_facts(ctx.session, claim.shop_id, store_id=0, claim_id=claim.id)
    return VerifyResult(previous, now_read.claim, replayed=True)


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
    claim: ClaimFacts
    coupon: CouponView
    usable_store_ids: list[int]
    refusal: CouponRefused | None
    token: str
    token_expires_at: datetime
    terms: rules.VerificationTerms  # what the decisions were given (another store: same terms)
    store_names: dict[int, str]  # the shop's stores, id → name


# Issue 16: prepare decides and records nothing; the only row its transaction writes is the
# signed request's nonce, so its commit need not wait for the WAL flush (as a signed GET's,
# W5): a crash could lose the last fraction of a second of nonces — a replayed prepare is a
# lookup its sender already saw. On PostgreSQL prepare's one read sets it
# (``set_config('synchronous_commit', 'off', true)`` = ``SET LOCAL``, no round trip of its own).


def prepare(ctx: Ctx, shop_id: int, code_text: str, staff_id: int | None = None) -> Prepared:
    """C7 prepare: what the code is, where it can be used (by this staff member), whether it
    can be verified now, and a short-lived verify token."""
    claim, coupon, names = _prepare_facts(ctx.session, shop_id, code_text)
    staff = accounts.get_staff(ctx.session, shop_id, staff_id) if staff_id is not None else None
    terms = verification_terms(ctx.session, claim, staff)
    usable = rules.usable_stores(terms.scopes, names)
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
    token, expires = make_verify_token(ctx, shop_id, claim.id)
    usable_ids = [store.id for store in usable]
    return Prepared(claim, coupon, usable_ids, refusal, token, expires, terms, names)

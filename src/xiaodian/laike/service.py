"""来客 gateway writes and reads (issue 12, D5) — tokens, opaque certificate codes, the
verification history and push endpoints. No coupon rule lives here: prepare / verify /
cancel are ``xiaodian.coupons.service`` (C5–C7), called by ``api.py``.

* Client tokens: ``POST /oauth/client_token/`` with an existing app's key and secret issues
  ``clt.<random>`` (stored as its SHA-256) valid ``laike.client_token_ttl_seconds`` on the
  product's clock — the simulated clock expires it too. A revoked app's tokens die at once
  (every call re-reads the app).
* ``encrypted_code``: the platform never shows the plain code to the store system after
  prepare; ours is ``base64url(shop.claim.mac)`` — opaque, bound to the shop, unforgeable.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp
from xiaodian.accounts.scopes import app_has_scope
from xiaodian.context import Ctx
from xiaodian.coupons.models import Verification
from xiaodian.errors import XiaodianError
from xiaodian.laike.models import ClientToken, PushEndpoint
from xiaodian.notify import service as notify

CERTIFICATE_EVENT = "life_trade_certificate_notify"


class GatewayError(XiaodianError):
    """A refusal in the platform's terms: ``error_code`` is the number a 来客 client reads
    (``data.error_code`` / ``extra.error_code``); ``code`` stays xiaodian's stable name."""

    status = 200

    def __init__(self, error_code: int, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(code, message_zh, message_en)
        self.error_code = error_code


# Numbers a client may branch on. 10002/10003/10013 and 2190002/2190008/2100005/2100007 are
# the open platform's own; 2200001 (a business refusal, details in sub_description) is ours.
PARAM_ERROR = 10002
CLIENT_KEY_UNKNOWN = 10003
CLIENT_SECRET_WRONG = 10013
TOKEN_INVALID = 2190002
TOKEN_EXPIRED = 2190008
INVALID_PARAM = 2100005
NO_PERMISSION = 2100007
REFUSED = 2200001


# ----- client tokens -----------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int


def issue_client_token(ctx: Ctx, *, client_key: str, client_secret: str, grant_type: str) -> Issued:
    """D5 ``oauth/client_token``: client_key = the app key, client_secret = the app secret."""
    if not client_key or not client_secret or not grant_type:
        missing = [
            n
            for n, v in (
                ("client_key", client_key),
                ("client_secret", client_secret),
                ("grant_type", grant_type),
            )
            if not v
        ]
        raise GatewayError(
            PARAM_ERROR,
            "param_missing",
            f"参数错误：缺少 {'、'.join(missing)}",
            f"Missing parameter: {', '.join(missing)}",
        )
    if grant_type != "client_credential":
        raise GatewayError(
            PARAM_ERROR,
            "bad_grant_type",
            "参数错误：grant_type 须为 client_credential",
            "grant_type must be client_credential",
        )
    app = ctx.session.scalars(
        select(ApiApp).where(ApiApp.app_key == client_key, ApiApp.revoked_at.is_(None))
    ).first()
    if app is None:
        raise GatewayError(
            CLIENT_KEY_UNKNOWN, "client_key_unknown", "client_key 不存在", "Unknown client_key"
        )
    if not hmac.compare_digest(app.secret.encode(), client_secret.encode()):
        raise GatewayError(
            CLIENT_SECRET_WRONG,
            "client_secret_wrong",
            "client_key 或者 client_secret 错误",
            "Wrong client_key or client_secret",
        )
    ttl = ctx.settings.laike.client_token_ttl_seconds
    token = "clt." + secrets.token_hex(24)
    ctx.session.add(
        ClientToken(
            token_hash=_hash(token),
            app_id=app.id,
            shop_id=app.shop_id,
            created_at=ctx.now,
            expires_at=ctx.now + timedelta(seconds=ttl),
        )
    )
    ctx.session.flush()
    return Issued(token, ttl)


@dataclass(frozen=True)
class Caller:
    """Who a valid ``access-token`` acts for."""

    app_id: int
    shop_id: int
    client_key: str

    @property
    def actor(self) -> str:
        return f"app:{self.app_id}"


def caller_for(ctx: Ctx, token: str, scope: str = "verification") -> Caller:
    """The app behind an ``access-token`` header, or the platform's token errors."""
    if not token:
        raise GatewayError(
            TOKEN_INVALID,
            "access_token_missing",
            "缺少 access-token 请求头",
            "Missing access-token header",
        )
    row = ctx.session.execute(_caller_query(), {"token_hash": _hash(token)}).first()
    if row is None or row[1].revoked_at is not None:
        raise GatewayError(
            TOKEN_INVALID, "access_token_invalid", "access_token 无效", "Invalid access_token"
        )
    expires_at, app = row
    if ctx.now >= expires_at:
        raise GatewayError(
            TOKEN_EXPIRED,
            "access_token_expired",
            "access_token 已过期，请重新获取 client_token",
            "access_token expired; get a new client_token",
        )
    if not app_has_scope(app, scope):
        raise GatewayError(
            NO_PERMISSION,
            "scope_missing",
            f"无权限执行该操作：应用未获授权 {scope}",
            f"The app lacks the '{scope}' scope",
        )
    return Caller(app.id, app.shop_id, app.app_key)


@functools.cache
def _caller_query() -> Any:
    """Built once (issue 16: every 来客 call asks it; building it cost as much as running it)."""
    return (
        select(ClientToken.expires_at, ApiApp)
        .join(ApiApp, ApiApp.id == ClientToken.app_id)
        .where(ClientToken.token_hash == bindparam("token_hash"))
    )


# ----- opaque certificate codes ------------------------------------------------------------


def _secret(ctx: Ctx) -> bytes:
    return (ctx.settings.secret_key or accounts.installation_secret(ctx.session)).encode()


def _mac(ctx: Ctx, body: str) -> str:
    return hmac.new(_secret(ctx), b"laike-ec." + body.encode(), hashlib.sha256).hexdigest()[:20]


def encrypted_code(ctx: Ctx, shop_id: int, claim_id: int) -> str:
    body = f"{shop_id}.{claim_id}"
    raw = f"{body}.{_mac(ctx, body)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def claim_id_of(ctx: Ctx, shop_id: int, code: str) -> int | None:
    """The claim an ``encrypted_code`` names, if it is genuine and this shop's."""
    text = (code or "").strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    parts = raw.split(".")
    if len(parts) != 3:
        return None
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_mac(ctx, body), parts[2]):
        return None
    try:
        shop, claim = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return claim if shop == shop_id else None


# ----- verification history (verify_record/query) ------------------------------------------


@dataclass(frozen=True)
class RecordPage:
    rows: list[Verification]
    total: int


def verify_records(
    session: Session,
    shop_id: int,
    *,
    store_ids: list[int] | None,
    start: datetime | None,
    end: datetime | None,
    after_id: int,
    size: int,
) -> RecordPage:
    """Verifications of the shop (optionally of some stores, within [start, end]), oldest
    first after the cursor (a verification id)."""
    where = [Verification.shop_id == shop_id]
    if store_ids:
        where.append(Verification.store_id.in_(store_ids))
    if start is not None:
        where.append(Verification.verified_at >= start)
    if end is not None:
        where.append(Verification.verified_at <= end)
    total = session.scalar(select(func.count()).select_from(Verification).where(*where)) or 0
    rows = session.scalars(
        select(Verification)
        .where(*where, Verification.id > after_id)
        .order_by(Verification.id)
        .limit(size)
    )
    return RecordPage(list(rows), int(total))


# ----- push endpoints (life_trade_certificate_notify) --------------------------------------


def register_push(ctx: Ctx, caller: Caller, url: str) -> int:
    """An X1 webhook endpoint subscribed to ``life_trade_certificate_notify`` that is sent
    in the 来客 format and signed with this app's client_secret (see ``push.py``)."""
    endpoint = notify.create_endpoint(ctx, caller.shop_id, url=url, event_types=[CERTIFICATE_EVENT])
    ctx.session.add(
        PushEndpoint(endpoint_id=endpoint.id, app_id=caller.app_id, shop_id=caller.shop_id)
    )
    ctx.session.flush()
    return endpoint.id

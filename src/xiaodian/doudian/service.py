"""Token writes of the 抖店 dialect (issue 12, D2): token.create, token.refresh, one-time codes.

Times come from ``ctx.now`` (the product clock), so a simulated clock expires tokens too:
access tokens after ``doudian.access_token_ttl_seconds`` (7 days), refresh tokens after
``doudian.refresh_token_ttl_seconds`` (14 days). A token works only for the app that obtained
it and only while that app is live: revoking the app (设置 → 开放平台应用 → 停用) ends them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp
from xiaodian.accounts.service import AppCredentials
from xiaodian.context import Ctx
from xiaodian.db import get_owned, rowcount
from xiaodian.doudian import enums
from xiaodian.doudian.gateway import PlatformError, business, invalid, missing
from xiaodian.doudian.models import DoudianAuthCode, DoudianToken

AUTH_SUBJECT_TYPE = "MiniShop"
SCOPES = ("orders", "aftersales", "shop")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def token_invalid(zh: str = "access_token不存在或已失效，请重新获取") -> PlatformError:
    return PlatformError(
        enums.TOKEN_INVALID, "isv.access-token-no-existed", zh, "access_token is not valid"
    )


def token_expired(zh: str = "access_token已过期，请使用 refresh_token 刷新") -> PlatformError:
    return PlatformError(
        enums.TOKEN_EXPIRED, "isv.access-token-expired", zh, "access_token has expired"
    )


@dataclass(frozen=True)
class TokenOwner:
    shop_id: int
    app_id: int


def shop_for_token(session: Session, app: AppCredentials, token: str, now: datetime) -> TokenOwner:
    """The shop an access_token acts for: the token must be this app's, unrefreshed, unexpired
    on the product clock, and the app live. 30001 otherwise, 30002 when only expired."""
    if not token:
        raise token_invalid("缺少 access_token")
    row = session.execute(
        select(DoudianToken.shop_id, DoudianToken.app_id, DoudianToken.access_expires_at)
        .join(ApiApp, ApiApp.id == DoudianToken.app_id)
        .where(
            DoudianToken.access_token_hash == _hash(token),
            DoudianToken.revoked_at.is_(None),
            ApiApp.revoked_at.is_(None),
        )
    ).first()
    if row is None or row.app_id != app.app_id:
        raise token_invalid()
    if now >= row.access_expires_at:
        raise token_expired()
    return TokenOwner(shop_id=row.shop_id, app_id=row.app_id)


def create_token(ctx: Ctx, app: AppCredentials, params: dict[str, Any]) -> dict[str, Any]:
    """token.create: ``authorization_self`` + ``shop_id`` (self-use app: its own shop) or
    ``authorization_code`` + ``code`` (a one-time code the shop issued to this app)."""
    grant = str(params.get("grant_type") or "")
    if grant == "authorization_self":
        shop_id = params.get("shop_id")
        if shop_id in (None, ""):
            raise missing("shop_id")
        if str(shop_id) != str(app.shop_id):
            raise business(
                "shop_not_authorized",
                f"店铺 {shop_id} 未授权该应用",
                f"Shop {shop_id} has not authorized this app",
            )
        return _issue(ctx, app, grant)
    if grant == "authorization_code":
        code = str(params.get("code") or "").strip()
        if not code:
            raise missing("code")
        used = ctx.session.execute(
            update(DoudianAuthCode)
            .where(
                DoudianAuthCode.code_hash == _hash(code),
                DoudianAuthCode.app_id == app.app_id,
                DoudianAuthCode.used_at.is_(None),
                DoudianAuthCode.expires_at > ctx.now,
            )
            .values(used_at=ctx.now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(used) != 1:
            raise business(
                "invalid_code",
                "授权码无效、已使用或已过期，请在 设置→抖店授权码 重新生成",
                "The code is unknown, used or expired",
            )
        return _issue(ctx, app, grant)
    if not grant:
        raise missing("grant_type")
    raise invalid(
        "grant_type",
        "grant_type 须为 authorization_self 或 authorization_code",
        "grant_type: authorization_self | authorization_code",
    )


def refresh_token(ctx: Ctx, app: AppCredentials, params: dict[str, Any]) -> dict[str, Any]:
    """token.refresh: a live refresh_token of this app gives a new pair; the old pair stops
    working (a refresh token is used once — a concurrent second refresh is refused)."""
    if str(params.get("grant_type") or "") != "refresh_token":
        raise invalid("grant_type", "grant_type 须为 refresh_token", "grant_type: refresh_token")
    text = str(params.get("refresh_token") or "").strip()
    if not text:
        raise missing("refresh_token")
    row = ctx.session.execute(
        select(DoudianToken.id, DoudianToken.app_id, DoudianToken.refresh_expires_at).where(
            DoudianToken.refresh_token_hash == _hash(text), DoudianToken.revoked_at.is_(None)
        )
    ).first()
    if row is None or row.app_id != app.app_id:
        raise token_invalid("refresh_token不存在或已使用")
    if ctx.now >= row.refresh_expires_at:
        raise token_expired("refresh_token已过期，请重新授权（token.create）")
    done = ctx.session.execute(
        update(DoudianToken)
        .where(DoudianToken.id == row.id, DoudianToken.revoked_at.is_(None))
        .values(revoked_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(done) != 1:
        raise token_invalid("refresh_token不存在或已使用")
    return _issue(ctx, app, "refresh_token")


def _issue(ctx: Ctx, app: AppCredentials, grant: str) -> dict[str, Any]:
    rules = ctx.settings.doudian
    access, refresh = secrets.token_hex(20), secrets.token_hex(20)
    ctx.session.add(
        DoudianToken(
            shop_id=app.shop_id,
            app_id=app.app_id,
            access_token_hash=_hash(access),
            refresh_token_hash=_hash(refresh),
            grant_type=grant,
            access_expires_at=ctx.now + timedelta(seconds=rules.access_token_ttl_seconds),
            refresh_expires_at=ctx.now + timedelta(seconds=rules.refresh_token_ttl_seconds),
            created_at=ctx.now,
        )
    )
    ctx.session.flush()
    shop = accounts.get_shop(ctx.session, app.shop_id)
    return {
        "access_token": access,
        "expires_in": rules.access_token_ttl_seconds,
        "refresh_token": refresh,
        "scope": ",".join(SCOPES),
        "shop_id": str(shop.id),
        "shop_name": shop.name,
        "authority_id": str(shop.id),
        "auth_subject_type": AUTH_SUBJECT_TYPE,
    }


# ----- one-time authorization codes (设置 → 抖店授权码, ``xiaodian shop app-code``) ----------


def issue_auth_code(ctx: Ctx, shop_id: int, app_id: int) -> tuple[str, datetime]:
    """A one-time code for ``token.create`` (grant_type=authorization_code) for one live app
    of this shop; returns the code (shown once, stored hashed) and when it expires."""
    app = get_owned(ctx.session, ApiApp, shop_id, app_id, ("应用", "App"))
    if app.revoked_at is not None:
        from xiaodian.errors import Conflict

        raise Conflict("app_revoked", "应用已停用，不能生成授权码", "The app is revoked")
    code = secrets.token_urlsafe(18)
    expires = ctx.now + timedelta(seconds=ctx.settings.doudian.auth_code_ttl_seconds)
    ctx.session.add(
        DoudianAuthCode(
            shop_id=shop_id,
            app_id=app_id,
            code_hash=_hash(code),
            issued_by=ctx.actor,
            created_at=ctx.now,
            expires_at=expires,
        )
    )
    ctx.session.flush()
    return code, expires


def recent_codes(session: Session, shop_id: int, limit: int = 20) -> list[DoudianAuthCode]:
    return list(
        session.scalars(
            select(DoudianAuthCode)
            .where(DoudianAuthCode.shop_id == shop_id)
            .order_by(DoudianAuthCode.id.desc())
            .limit(limit)
        )
    )

"""Request dependencies: the unit of work, the signed-app principal and its scopes (S2), the
simulation controls' principal (S3), the buyer, paging."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiNonce, Buyer
from xiaodian.accounts.scopes import ScopeMissing
from xiaodian.accounts.service import AppCredentials, Principal
from xiaodian.context import Ctx
from xiaodian.db import insert_if_absent, is_postgres, transaction
from xiaodian.errors import AuthFailed, PermissionDenied, ValidationFailed, field_error
from xiaodian.runtime import Runtime
from xiaodian.signing import api_signature

_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Unix seconds, digits only (S9): "+1", " 1", "1_000", "1e9" and floats are malformed, not
# "outside the window".
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def get_rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _unit(request: Request) -> Iterator[Ctx]:
    rt = get_rt(request)
    actor = getattr(request.state, "actor", "anonymous")
    try:
        with rt.unit(actor=actor) as ctx:
            yield ctx
    except BaseException:
        # The signed request's nonce was written in this (rolled back) unit: keep it anyway,
        # so that a refused request cannot be replayed either.
        _keep_nonce(rt, getattr(request.state, "nonce", None))
        raise


# Committed when the route returns, before the response is sent (scope="function").
CtxDep = Annotated[Ctx, Depends(_unit, scope="function")]


@dataclass(frozen=True)
class _Nonce:
    app_key: str
    nonce: str
    expires_at: datetime


async def _signed_app(request: Request, ctx: CtxDep) -> Principal:
    """Open API authentication: app key + timestamp + nonce + HMAC-SHA256 (see signing.py).

    The app lookup and the nonce are done in the route's own transaction (one commit per
    request, not three); the nonce is kept even when the route fails (see ``_unit``)."""
    signed, seen = await _read_signed(request)
    # The database work runs on the thread pool: blocking the event loop on a query would
    # stall every request of this worker (and deadlock it once the pool is exhausted).
    principal = await run_in_threadpool(
        _check_signature, ctx, _credentials_cache(request), *signed, seen
    )
    request.state.nonce = seen
    request.state.actor = ctx.actor = principal.actor
    return principal


_Signed = tuple[tuple[str, str, bytes], tuple[str, str]]


async def _read_signed(request: Request) -> tuple[_Signed, _Nonce]:
    """The signature headers checked for form and freshness, and what was signed: (method,
    canonical path, body), (timestamp, signature). The canonical path is the percent-decoded
    path plus ``?`` and the query string exactly as sent (S9, README "Open API")."""
    rt = get_rt(request)
    headers = request.headers
    app_key = headers.get("x-app-key", "")
    timestamp = headers.get("x-timestamp", "")
    nonce = headers.get("x-nonce", "")
    signature = headers.get("x-signature", "")
    if not (app_key and timestamp and nonce and signature):
        raise AuthFailed(
            "signature_missing",
            "缺少签名头：X-App-Key、X-Timestamp、X-Nonce、X-Signature",
            "Missing signature headers: X-App-Key, X-Timestamp, X-Nonce, X-Signature",
        )
    if not _NONCE.match(nonce):
        raise AuthFailed("bad_nonce", "X-Nonce 须为8-64位字母数字", "X-Nonce: 8–64 [A-Za-z0-9_-]")
    if not _TIMESTAMP.match(timestamp):
        raise AuthFailed(
            "timestamp_malformed",
            "X-Timestamp 格式错误：应为 Unix 时间戳（整数秒，如 1767225600）",
            "Malformed X-Timestamp: expected unix seconds as an integer, e.g. 1767225600",
        )
    now = rt.wall.now()
    window = rt.settings.api.signature_window_seconds
    skew = abs(now.timestamp() - int(timestamp))
    if skew > window:
        raise AuthFailed(
            "timestamp_out_of_window",
            f"时间戳超出允许范围（±{window}秒），请校准客户端时间",
            f"Timestamp outside ±{window} s of server time",
        )
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    seen = _Nonce(app_key, nonce, now + timedelta(seconds=window * 2))
    return ((request.method, path, body), (timestamp, signature)), seen


def _credentials_cache(request: Request) -> dict[str, AppCredentials]:
    """Per app instance: app key → credentials seen in a valid signature (apps only; an
    unknown key is never cached, so the cache holds at most the installation's apps)."""
    state = request.app.state
    cache: dict[str, AppCredentials] | None = getattr(state, "app_credentials", None)
    if cache is None:
        cache = state.app_credentials = {}
    return cache


def _check_signature(
    ctx: Ctx,
    cache: dict[str, AppCredentials],
    request: tuple[str, str, bytes],
    signed: tuple[str, str],
    seen: _Nonce,
) -> Principal:
    """The signature against the app's secret (cached per process: a cache miss or a
    mismatch reads the app again), then the nonce, recorded only while the app is live — one
    statement per request for replay and revocation both."""
    method, path, body = request
    timestamp, signature = signed

    def valid(app: AppCredentials) -> bool:
        expected = api_signature(app.secret, method, path, timestamp, seen.nonce, body)
        return _equal(expected, signature)

    app = cache.get(seen.app_key)
    if app is None or not valid(app):
        app = accounts.app_credentials(ctx.session, seen.app_key)
        if app is None or not valid(app):
            revoked = accounts.revoked_app_credentials(ctx.session, seen.app_key)
            if revoked is not None and valid(revoked):
                raise _app_revoked()
            raise _bad_signature()
        cache[seen.app_key] = app
    if not accounts.accept_nonce(ctx.session, seen.app_key, seen.nonce, seen.expires_at):
        if accounts.app_credentials(ctx.session, seen.app_key) is None:  # revoked meanwhile
            cache.pop(seen.app_key, None)
            raise _app_revoked()
        raise AuthFailed(
            "replayed_request",
            "重复的请求（Nonce 已使用）",
            "Replayed request (nonce already used)",
        )
    if method in _READS and ctx.settings.api.async_read_commits and is_postgres(ctx.session):
        ctx.session.execute(_ASYNC_COMMIT)
    return Principal(shop_id=app.shop_id, app_id=app.app_id, scopes=app.scopes)


# W5: a signed GET writes one row, its nonce, and its commit used to wait for the WAL flush
# (py-spy at 100 clients: the server waiting on PostgreSQL's WAL sync). The nonce of a read
# is committed without waiting: a server crash can lose the last fraction of a second of them
# (wal_writer_delay), which would let a captured GET be replayed once within the signature
# window — answering data its sender already had. Writes (POST/PUT/PATCH/DELETE) keep the
# durable commit.
_READS = frozenset({"GET", "HEAD"})
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO off")


def _bad_signature() -> AuthFailed:
    return AuthFailed("bad_signature", "签名无效或应用不存在", "Invalid signature or unknown app")


def _app_revoked() -> AuthFailed:
    """S9: said only to a request correctly signed with the revoked app's own secret."""
    return AuthFailed(
        "app_revoked",
        "该应用已被停用，请在控制台创建新应用",
        "This app has been revoked; create a new app in the console",
    )


def _record_nonce(session: Session, seen: _Nonce) -> bool:
    """True if this nonce is new (a concurrent request with the same nonce waits for the
    first one's transaction, then finds it)."""
    row = {"app_key": seen.app_key, "nonce": seen.nonce, "expires_at": seen.expires_at}
    return insert_if_absent(session, ApiNonce.__table__, row)


def _keep_nonce(rt: Runtime, seen: _Nonce | None) -> None:
    if seen is None:
        return
    with transaction(rt.factory) as session:
        _record_nonce(session, seen)


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# The signed app, whatever its scopes: only for building the scoped principals below. A route
# must take a scoped one (test_S2_every_signed_route_declares_exactly_one_known_scope fails
# otherwise).
AppPrincipal = Annotated[Principal, Depends(_signed_app)]

# The attribute a dependency carries to declare the app scope of the routes using it (S2).
SCOPE_ATTR = "__xiaodian_scope__"


def _scoped(scope: str) -> Callable[..., Awaitable[Principal]]:
    """The signed app, refused with 403 ``scope_missing`` unless it holds ``scope`` (S2)."""

    async def app_with_scope(principal: AppPrincipal) -> Principal:
        if scope not in principal.scopes:
            raise ScopeMissing(scope)
        return principal

    app_with_scope.__name__ = f"app_with_{scope}_scope"
    setattr(app_with_scope, SCOPE_ATTR, scope)
    return app_with_scope


ShopApp = Annotated[Principal, Depends(_scoped("shop"))]
OrdersApp = Annotated[Principal, Depends(_scoped("orders"))]
AftersalesApp = Annotated[Principal, Depends(_scoped("aftersales"))]
FundsApp = Annotated[Principal, Depends(_scoped("funds"))]
MarketingApp = Annotated[Principal, Depends(_scoped("marketing"))]
CouponsApp = Annotated[Principal, Depends(_scoped("coupons"))]
VerificationApp = Annotated[Principal, Depends(_scoped("verification"))]
ServiceApp = Annotated[Principal, Depends(_scoped("service"))]
NoticesApp = Annotated[Principal, Depends(_scoped("notices"))]
WebhooksApp = Annotated[Principal, Depends(_scoped("webhooks"))]


async def simulation_control(request: Request) -> Principal:
    """S3: who may drive the simulation (/sim): a signed app with the ``simulation`` scope, or
    the main account's console session. Every /sim route depends on this (``create_app``
    mounts the sim routers with it). Checked in a short transaction of its own, committed
    before the route runs: advancing the clock writes in transactions of its own, and on
    SQLite an open write (the nonce) would lock them out."""
    rt = get_rt(request)
    if request.headers.get("x-app-key"):
        signed, seen = await _read_signed(request)
        principal = await run_in_threadpool(
            _check_in_own_unit, rt, _credentials_cache(request), signed, seen
        )
        if "simulation" not in principal.scopes:
            raise ScopeMissing("simulation")
    elif "session" in request.scope:  # the console is installed: its session cookie
        found = await run_in_threadpool(_console_principal, request, rt)
        if found is None:
            raise _simulation_auth_required()
        if not found.is_main:
            raise PermissionDenied(
                "main_account_only",
                "模拟控制仅限主账号，或带“模拟控制”范围的应用",
                "Simulation controls need the main account or an app with the 'simulation' scope",
            )
        principal = found
    else:
        raise _simulation_auth_required()
    request.state.actor = principal.actor
    return principal


def _check_in_own_unit(
    rt: Runtime, cache: dict[str, AppCredentials], signed: _Signed, seen: _Nonce
) -> Principal:
    with rt.unit() as ctx:
        return _check_signature(ctx, cache, *signed, seen)


def _simulation_auth_required() -> AuthFailed:
    return AuthFailed(
        "simulation_auth_required",
        "模拟控制需要签名请求（应用须有“模拟控制”范围），或主账号登录控制台",
        "Simulation controls need a signed request from an app with the 'simulation' scope, "
        "or the main account's console session",
    )


def _console_principal(request: Request, rt: Runtime) -> Principal | None:
    """The console's logged-in user, read the way the console reads it (so whatever revokes a
    console session revokes it here too)."""
    from xiaodian.web.session import load_current_user, session_user_id

    user_id = session_user_id(request)
    if user_id is None:
        return None
    with transaction(rt.factory) as session:
        user = load_current_user(session, user_id)
    return user.principal if user is not None else None


setattr(simulation_control, SCOPE_ATTR, "simulation")
SimulationApp = Annotated[Principal, Depends(simulation_control)]


def declared_scopes(dependant: Any) -> set[str]:
    """The app scopes a route's dependency tree declares (S2; the route-walking test)."""
    found: set[str] = set()
    call = getattr(dependant, "call", None)
    if call is not None and hasattr(call, SCOPE_ATTR):
        found.add(getattr(call, SCOPE_ATTR))
    for sub in getattr(dependant, "dependencies", []):
        found |= declared_scopes(sub)
    return found


def _buyer(request: Request) -> Buyer:
    rt = get_rt(request)
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise AuthFailed("buyer_token_missing", "缺少买家凭证", "Missing buyer bearer token")
    with transaction(rt.factory) as session:
        buyer = accounts.buyer_by_token(session, auth[7:].strip())
    request.state.actor = f"buyer:{buyer.id}"
    return buyer


BuyerDep = Annotated[Buyer, Depends(_buyer)]


class Page:
    """Keyset paging: ``before_id`` (exclusive) and ``limit``."""

    def __init__(
        self,
        request: Request,
        before_id: Annotated[
            int | None, Query(ge=1, description="return items older than this id")
        ] = None,
        limit: Annotated[int | None, Query(ge=1, le=1000, description="page size")] = None,
    ) -> None:
        api = get_rt(request).settings.api
        self.before_id = before_id
        self.limit = min(limit or api.page_size_default, api.page_size_max)


PageDep = Annotated[Page, Depends()]


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes  # at most max_bytes + 1: the caller decides what "too large" means
    fields: dict[str, str]


async def read_upload(request: Request, *, max_bytes: int, max_fields: int = 10) -> Upload:
    """The one file of a multipart request (field ``file``) and its text fields. Malformed or
    missing uploads are bad input (422), never a 500. Reads at most ``max_bytes + 1`` bytes."""
    try:
        form = await request.form(max_files=1, max_fields=max_fields)
    except Exception as exc:  # the multipart parser raises several types for bad input
        raise ValidationFailed(
            "bad_upload", "上传内容格式错误", "Malformed multipart upload", field="file"
        ) from exc
    upload = form.get("file")
    if not isinstance(upload, StarletteUploadFile):
        raise ValidationFailed(
            "file_missing",
            "请上传文件（字段 file）",
            "Upload a file (field 'file')",
            field="file",
            errors=[field_error("file", "必填", "required")],
        )
    content = await upload.read(max_bytes + 1)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return Upload(filename=upload.filename or "upload", content=content, fields=fields)

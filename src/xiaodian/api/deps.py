"""Request dependencies: the unit of work, the signed-app principal, the buyer, paging."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiNonce, Buyer
from xiaodian.accounts.service import AppCredentials, Principal
from xiaodian.context import Ctx
from xiaodian.db import insert_if_absent, transaction
from xiaodian.errors import AuthFailed, ValidationFailed, field_error
from xiaodian.runtime import Runtime
from xiaodian.signing import api_signature

_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


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
    rt = get_rt(request)
    headers = request.headers
    app_key = headers.get("x-app-key", "")
    timestamp = headers.get("x-timestamp", "")
    nonce = headers.get("x-nonce", "")
    signature = headers.get("x-signature", "")
    if not (app_key and timestamp and nonce and signature):
        raise AuthFailed(
            "signature_missing",
            "缺少签名头:X-App-Key、X-Timestamp、X-Nonce、X-Signature",
            "Missing signature headers: X-App-Key, X-Timestamp, X-Nonce, X-Signature",
        )
    if not _NONCE.match(nonce):
        raise AuthFailed("bad_nonce", "X-Nonce 须为8-64位字母数字", "X-Nonce: 8–64 [A-Za-z0-9_-]")
    now = rt.wall.now()
    window = rt.settings.api.signature_window_seconds
    try:
        skew = abs(now.timestamp() - int(timestamp))
    except ValueError:
        skew = float("inf")
    if skew > window:
        raise AuthFailed(
            "timestamp_out_of_window",
            f"时间戳超出允许范围(±{window}秒),请校准客户端时间",
            f"Timestamp outside ±{window} s of server time",
        )
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    seen = _Nonce(app_key, nonce, now + timedelta(seconds=window * 2))
    # The database work runs on the thread pool: blocking the event loop on a query would
    # stall every request of this worker (and deadlock it once the pool is exhausted).
    principal = await run_in_threadpool(
        _check_signature,
        ctx,
        _credentials_cache(request),
        (request.method, path, body),
        (timestamp, signature),
        seen,
    )
    request.state.nonce = seen
    request.state.actor = ctx.actor = principal.actor
    return principal


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
            raise _bad_signature()
        cache[seen.app_key] = app
    if not accounts.accept_nonce(ctx.session, seen.app_key, seen.nonce, seen.expires_at):
        if accounts.app_credentials(ctx.session, seen.app_key) is None:  # revoked meanwhile
            cache.pop(seen.app_key, None)
            raise _bad_signature()
        raise AuthFailed(
            "replayed_request", "重复的请求(Nonce 已使用)", "Replayed request (nonce already used)"
        )
    return Principal(shop_id=app.shop_id, app_id=app.app_id)


def _bad_signature() -> AuthFailed:
    return AuthFailed("bad_signature", "签名无效或应用不存在", "Invalid signature or unknown app")


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


AppPrincipal = Annotated[Principal, Depends(_signed_app)]


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
            "请上传文件(字段 file)",
            "Upload a file (field 'file')",
            field="file",
            errors=[field_error("file", "必填", "required")],
        )
    content = await upload.read(max_bytes + 1)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return Upload(filename=upload.filename or "upload", content=content, fields=fields)

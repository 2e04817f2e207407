"""抖音来客 gateway routes under ``/douyin`` (issue 12, D5) — thin: each maps the platform's
parameters onto ``xiaodian.coupons.service`` (C5–C7) and the result onto the platform's
fields (``mappers``); ``gateway.call`` does the token, the transaction and the envelope.

A client sets its base URL to ``http://HOST:PORT/douyin`` and keeps its code:

* ``POST /oauth/client_token/`` (client_key = app key, client_secret, grant_type
  client_credential) → ``access_token`` (header ``access-token`` on every other call);
* ``GET  /goodlife/v1/fulfilment/certificate/prepare/``  code | encrypted_data (the QR
  payload), poi_id → verify_token, certificates[];
* ``POST /goodlife/v1/fulfilment/certificate/verify/``   verify_token, poi_id,
  encrypted_codes[] | codes[] → verify_results[] (``result`` per code);
* ``POST /goodlife/v1/fulfilment/certificate/cancel/``   verify_id, certificate_id;
* ``GET  /goodlife/v1/fulfilment/certificate/get/``      encrypted_code | code | order_id;
* ``GET  /goodlife/v1/fulfilment/certificate/query/``    encrypted_code | order_id;
* ``GET  /goodlife/v1/fulfilment/certificate/verify_record/query/`` account_id, poi_ids,
  start_time, end_time, cursor, size.

Paths answer with and without the trailing slash (SDKs differ), GET and POST alike.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from xiaodian.accounts import service as accounts
from xiaodian.context import Ctx
from xiaodian.coupons import rules
from xiaodian.coupons import service as coupons
from xiaodian.coupons.models import Claim, Coupon, Verification
from xiaodian.errors import NotFound
from xiaodian.laike import gateway, mappers, service
from xiaodian.laike.gateway import Params, bad_param, integer, required, text
from xiaodian.laike.service import Caller, GatewayError

router = APIRouter(prefix="/douyin")
TAG = "抖音来客 goodlife/v1 (compatibility)"
CERT = "/goodlife/v1/fulfilment/certificate"
CHANNEL = "laike"
SIZE_MAX = 100


def _route(
    path: str, methods: list[str], summary: str, fields: dict[str, str]
) -> Callable[[Any], Any]:
    """Register ``path`` for its first method (documented, with the platform's parameters —
    ``fields``: name → description) and every other method and the slash-less twin (hidden)."""
    first, *others = methods
    if first == "GET":
        extra: dict[str, Any] = {
            "parameters": [
                {
                    "name": n,
                    "in": "query",
                    "required": False,
                    "description": d,
                    "schema": {"type": "string"},
                }
                for n, d in fields.items()
            ]
        }
    else:
        extra = {
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {n: {"description": d} for n, d in fields.items()},
                        }
                    }
                }
            }
        }
    if not path.startswith("/oauth/"):
        extra.setdefault("parameters", []).append(
            {
                "name": "access-token",
                "in": "header",
                "required": True,
                "description": "client_token from /douyin/oauth/client_token/",
                "schema": {"type": "string"},
            }
        )

    def register(fn: Any) -> Any:
        router.add_api_route(
            path, fn, methods=[first], tags=[TAG], summary=summary, openapi_extra=extra
        )
        if others:
            router.add_api_route(path, fn, methods=others, include_in_schema=False)
        router.add_api_route(path.rstrip("/"), fn, methods=methods, include_in_schema=False)
        return fn

    return register


# ----- helpers -----------------------------------------------------------------------------


def _store_id(p: Params, name: str) -> int:
    store_id = integer(p, name)
    if store_id is None:
        raise GatewayError(
            service.INVALID_PARAM, "param_missing", f"参数不合法：缺少 {name}", f"Missing {name}"
        )
    return store_id


def _no_store(store_id: int) -> GatewayError:
    return GatewayError(
        service.INVALID_PARAM,
        "poi_not_found",
        f"门店 {store_id} 不存在",
        f"Store (poi_id) {store_id} not found",
    )


def _store(ctx: Ctx, caller: Caller, p: Params, name: str = "poi_id") -> coupons.StoreRef:
    store_id = _store_id(p, name)
    try:
        return coupons.StoreRef(
            store_id, accounts.store_name(ctx.session, caller.shop_id, store_id)
        )
    except NotFound:
        raise _no_store(store_id) from None


def _known_store(p: Params, names: dict[int, str]) -> coupons.StoreRef:
    """``_store`` answered from the shop's stores already read (id → name)."""
    store_id = _store_id(p, "poi_id")
    if store_id not in names:
        raise _no_store(store_id)
    return coupons.StoreRef(store_id, names[store_id])


def _terms(ctx: Ctx, caller: Caller, claim_id: int) -> tuple[Claim, Coupon]:
    claim, _campaign, coupon = coupons.claim_with_terms(
        ctx.session, caller.shop_id, claim_id=claim_id
    )
    return claim, coupon


def _claim_by_encrypted(ctx: Ctx, caller: Caller, code: str) -> int:
    claim_id = service.claim_id_of(ctx, caller.shop_id, code)
    if claim_id is None:
        raise GatewayError(
            service.INVALID_PARAM,
            "bad_encrypted_code",
            "加密券码无效",
            "Invalid encrypted_code",
        )
    return claim_id


def _claim_from(ctx: Ctx, caller: Caller, p: Params) -> int:
    """The claim named by ``encrypted_code``, ``code`` or ``order_id`` (first given)."""
    if encrypted := text(p, "encrypted_code"):
        return _claim_by_encrypted(ctx, caller, encrypted)
    if code := text(p, "code"):
        return coupons.find_claim(ctx.session, caller.shop_id, code).id
    order_id = integer(p, "order_id")
    if order_id is not None:
        return order_id
    raise GatewayError(
        service.INVALID_PARAM,
        "param_missing",
        "参数不合法：请提供 encrypted_code 或 order_id",
        "Give encrypted_code or order_id",
    )


def _current(ctx: Ctx, claim: Claim) -> Verification | None:
    if claim.verification_id is None:
        return None
    return ctx.session.get(Verification, claim.verification_id)


def _list(p: Params, name: str) -> list[str]:
    value = p.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    raise bad_param(name)


def verify_token(prepared: coupons.Prepared) -> str:
    """C7's token plus a nonce: on the platform every prepare is a new verification request
    (prepare and verify pair one to one), even two at the same instant for the same code."""
    return f"{prepared.token}~{secrets.token_hex(8)}"


def request_id(token: str) -> str:
    """C7 idempotency key of a verify: the same verify_token is the same request."""
    return "laike:" + hashlib.sha256(token.encode()).hexdigest()[:58]


# ----- oauth -------------------------------------------------------------------------------


@_route(
    "/oauth/client_token/",
    ["POST", "GET"],
    "client_token (client_credential)",
    {
        "client_key": "the app key (xiaodian shop app)",
        "client_secret": "the app secret",
        "grant_type": "client_credential",
    },
)
async def client_token(request: Request) -> JSONResponse:
    """D5: client_key = the app key of an existing xiaodian app, client_secret = its secret,
    grant_type = client_credential. Expires after ``laike.client_token_ttl_seconds``."""
    return await gateway.client_token(request)


# ----- certificates ------------------------------------------------------------------------


def _prepare(ctx: Ctx, caller: Caller, p: Params) -> dict[str, Any]:
    code, scanned = text(p, "code"), text(p, "encrypted_data")
    if not code and not scanned:
        raise GatewayError(
            service.INVALID_PARAM,
            "param_missing",
            "参数不合法：请提供 code 或 encrypted_data",
            "Give code or encrypted_data",
        )
    # encrypted_data is the QR's payload; clients URL-encode it (once more than the query).
    payload = code or (unquote(scanned) if "%" in scanned else scanned)
    prepared = coupons.prepare(ctx, caller.shop_id, payload)
    refusal = prepared.refusal
    if text(p, "poi_id"):
        # Issue 16: the store from the shop's stores prepare read, the decision on the terms
        # it looked up (no statement of its own).
        store = _known_store(p, prepared.store_names)
        refusal = rules.check_verifiable(prepared.terms, store, ctx.now, ctx.settings.timezone)
    if refusal is not None and refusal.code == "already_verified":
        # The platform returns unused certificates only: a used code has none to offer.
        raise refusal
    return {
        "verify_token": verify_token(prepared),
        "order_id": str(prepared.claim.id),
        "certificates": [mappers.prepare_certificate(ctx, prepared.claim, prepared.coupon)],
    }


@_route(
    f"{CERT}/prepare/",
    ["GET", "POST"],
    "验券准备 certificate.prepare",
    {"code": "券码 (typed)", "encrypted_data": "QR payload", "poi_id": "store id"},
)
async def prepare(request: Request) -> JSONResponse:
    """C7 prepare: a typed code or the scanned QR payload → verify_token and the
    certificate. Expired or out-of-scope codes are listed; verify then says why not."""
    return await gateway.call(request, _prepare)


def _verify(ctx: Ctx, caller: Caller, p: Params) -> dict[str, Any]:
    token = required(p, "verify_token")
    store = _store(ctx, caller, p)
    claim_id = coupons.read_verify_token(ctx, caller.shop_id, token.partition("~")[0])
    encrypted, plain = _list(p, "encrypted_codes"), _list(p, "codes")
    if not encrypted and not plain:
        raise GatewayError(
            service.INVALID_PARAM,
            "param_missing",
            "参数不合法：请提供 encrypted_codes 或 codes",
            "Give encrypted_codes or codes",
        )
    order_id = integer(p, "order_id")
    if order_id is not None and order_id != claim_id:
        raise bad_param("order_id")
    results: list[dict[str, Any]] = []
    for given, is_encrypted in [(c, True) for c in encrypted] + [(c, False) for c in plain]:
        if is_encrypted:
            target = service.claim_id_of(ctx, caller.shop_id, given)
        else:
            try:
                target = coupons.find_claim(ctx.session, caller.shop_id, given).id
            except coupons.UnknownCode as exc:
                results.append(mappers.verify_failure(exc, given, None, caller.shop_id))
                continue
        if target != claim_id:
            refusal = coupons.CouponRefused(
                "code_not_prepared",
                "券码与本次验券准备不符，请重新验券准备",
                "This code was not prepared with this verify_token",
                rule="C7",
            )
            results.append(mappers.verify_failure(refusal, given, None, caller.shop_id))
            continue
        try:
            done = coupons.verify(
                ctx,
                caller.shop_id,
                claim_id=claim_id,
                store_id=store.id,
                channel=CHANNEL,
                client_request_id=request_id(token),
            )
        except coupons.CouponRefused as exc:
            results.append(mappers.verify_failure(exc, given, claim_id, caller.shop_id))
            continue
        results.append(mappers.verify_success(done.verification, done.claim, given, done.replayed))
    return {"verify_results": results}


@_route(
    f"{CERT}/verify/",
    ["POST"],
    "验券 certificate.verify",
    {
        "verify_token": "from prepare",
        "poi_id": "store id",
        "encrypted_codes": "array of encrypted_code from prepare",
        "codes": "array of plain codes (instead of encrypted_codes)",
        "order_id": "optional: prepare's order_id",
    },
)
async def verify(request: Request) -> JSONResponse:
    """C6/C7 verify at ``poi_id`` with prepare's verify_token. Each code has its ``result``
    (0 = verified). The same verify_token again is idempotent: the first result is returned
    (same verify_id); a new prepare of a used code reports it as already verified."""
    return await gateway.call(request, _verify)


def _cancel(ctx: Ctx, caller: Caller, p: Params) -> dict[str, Any]:
    verify_id = integer(p, "verify_id")
    certificate_id = integer(p, "certificate_id")
    if verify_id is None:
        required(p, "verify_id")
    if certificate_id is None:
        required(p, "certificate_id")
    row = ctx.session.get(Verification, verify_id)
    if row is None or row.shop_id != caller.shop_id or row.claim_id != certificate_id:
        raise GatewayError(
            service.INVALID_PARAM,
            "verification_not_found",
            "核销记录不存在或与券 ID 不符",
            "No such verification for this certificate",
        )
    coupons.cancel_verification(ctx, caller.shop_id, row.id)
    return {}


@_route(
    f"{CERT}/cancel/",
    ["POST"],
    "撤销核销 certificate.cancel",
    {"verify_id": "from verify", "certificate_id": "from verify"},
)
async def cancel(request: Request) -> JSONResponse:
    """C7: undo a verification within the window (default 60 min, inclusive); after it the
    platform's error with the reason in ``description``."""
    return await gateway.call(request, _cancel)


def _get(ctx: Ctx, caller: Caller, p: Params) -> dict[str, Any]:
    claim, coupon = _terms(ctx, caller, _claim_from(ctx, caller, p))
    return {"certificate": mappers.certificate(ctx, claim, coupon, _current(ctx, claim))}


@_route(
    f"{CERT}/get/",
    ["GET", "POST"],
    "券状态查询 certificate.get",
    {"encrypted_code": "from prepare", "code": "plain code", "order_id": "order id"},
)
async def get(request: Request) -> JSONResponse:
    return await gateway.call(request, _get)


def _query(ctx: Ctx, caller: Caller, p: Params) -> dict[str, Any]:
    claim, coupon = _terms(ctx, caller, _claim_from(ctx, caller, p))
    return {"certificates": [mappers.certificate(ctx, claim, coupon, _current(ctx, claim))]}


@_route(
    f"{CERT}/query/",
    ["GET", "POST"],
    "券状态批量查询 certificate.query",
    {"encrypted_code": "from prepare", "order_id": "order id"},
)
async def query(request: Request) -> JSONResponse:
    """C7 query by code (``encrypted_code``) or order (``order_id``)."""
    return await gateway.call(request, _query)


def _time(p: Params, name: str) -> datetime | None:
    seconds = integer(p, name)
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def _records(ctx: Ctx, caller: Caller, p: Params) -> dict[str, Any]:
    account = text(p, "account_id")
    if account and account != str(caller.shop_id):
        raise bad_param("account_id")
    pois = _list(p, "poi_ids") or _list(p, "poi_id")
    store_ids: list[int] = []
    for poi in pois:
        store_ids.append(_store(ctx, caller, {"poi_id": poi}).id)
    size = integer(p, "size", default=10) or 10
    page = service.verify_records(
        ctx.session,
        caller.shop_id,
        store_ids=store_ids,
        start=_time(p, "start_time"),
        end=_time(p, "end_time"),
        after_id=integer(p, "cursor", default=0) or 0,
        size=min(size, SIZE_MAX),
    )
    coupon_of: dict[int, Coupon] = {}
    records = []
    for row in page.rows:
        if row.claim_id not in coupon_of:
            coupon_of[row.claim_id] = _terms(ctx, caller, row.claim_id)[1]
        records.append(mappers.record(ctx, row, coupon_of[row.claim_id]))
    return {"records": records, "total": page.total}


@_route(
    f"{CERT}/verify_record/query/",
    ["GET", "POST"],
    "验券历史查询 verify_record.query",
    {
        "account_id": "shop id (optional)",
        "poi_ids": "store ids, comma separated",
        "start_time": "unix seconds",
        "end_time": "unix seconds",
        "cursor": "0, then the last record's cursor",
        "size": "≤ 100 (default 10)",
    },
)
async def verify_records(request: Request) -> JSONResponse:
    """Verifications of the shop, oldest first; pass the last record's ``cursor`` for the
    next page (``size`` ≤ 100)."""
    return await gateway.call(request, _records)


# ----- xiaodian extension: where to push life_trade_certificate_notify ---------------------


def _register_push(ctx: Ctx, caller: Caller, p: Params) -> dict[str, Any]:
    url = required(p, "url")
    endpoint_id = service.register_push(ctx, caller, url)
    return {"endpoint_id": str(endpoint_id), "event": service.CERTIFICATE_EVENT}


@_route(
    "/xiaodian/push_url/",
    ["POST"],
    "xiaodian: register the 来客 push URL",
    {"url": "receives life_trade_certificate_notify"},
)
async def register_push(request: Request) -> JSONResponse:
    """Not a platform call (there the URL is set in the developer console): register the URL
    that receives ``life_trade_certificate_notify`` for this app, signed with its secret.
    Deliveries go through the X1 webhook machinery (retries, delivery log)."""
    return await gateway.call(request, _register_push)

"""The 来客 transport (issue 12, D5): request parameters, the ``access-token`` header and the
platform's envelopes. Routes in ``api.py`` hand a function of (ctx, caller, params) to
``call``; this module runs it in one transaction and answers the way the platform does:

* ``oauth/client_token``: ``{"data": {access_token, expires_in, error_code, description},
  "message": "success"}``;
* ``goodlife/v1``: ``{"data": {…, "error_code", "description"}, "extra": {"error_code",
  "description", "sub_error_code", "sub_description", "logid", "now"}}`` — HTTP 200 for
  business errors too, ``now`` in milliseconds of the product's clock. A client succeeds
  only if ``data.error_code == 0`` (and, for verify, each ``result == 0``).

Every refusal is an ``XiaodianError``; ``translate`` gives it the platform's number, keeps
the Chinese message as ``description`` and xiaodian's stable code as ``sub_description``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool

from xiaodian.api.deps import get_rt
from xiaodian.context import Ctx
from xiaodian.coupons.service import UnknownCode
from xiaodian.errors import AuthFailed, NotFound, ValidationFailed, XiaodianError
from xiaodian.laike import service
from xiaodian.laike.service import Caller, GatewayError

Params = dict[str, Any]
Work = Callable[[Ctx, Caller, Params], dict[str, Any]]


def logid(now: datetime) -> str:
    """Like the platform's: a UTC timestamp and random hex."""
    return now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def envelope(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "data": {**data, "error_code": 0, "description": ""},
        "extra": {
            "error_code": 0,
            "description": "",
            "sub_error_code": 0,
            "sub_description": "",
            "logid": logid(now),
            "now": _ms(now),
        },
    }


def error_envelope(error: GatewayError, now: datetime) -> dict[str, Any]:
    return {
        "data": {"error_code": error.error_code, "description": error.message_zh},
        "extra": {
            "error_code": error.error_code,
            "description": error.message_zh,
            "sub_error_code": 0,
            "sub_description": error.code,
            "logid": logid(now),
            "now": _ms(now),
        },
    }


def translate(exc: XiaodianError) -> GatewayError:
    """A domain refusal in the platform's numbers (the messages are kept)."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, UnknownCode | NotFound | ValidationFailed | AuthFailed):
        number = service.INVALID_PARAM
    else:
        number = service.REFUSED
    return GatewayError(number, exc.code, exc.message_zh, exc.message_en)


async def params(request: Request) -> Params:
    """Query parameters, then the body (JSON object or form) on top: SDKs differ."""
    found: Params = dict(request.query_params)
    body = await request.body()
    if body:
        kind = request.headers.get("content-type", "")
        parsed: Any = None
        if "form" in kind:
            parsed = dict(parse_qsl(body.decode("utf-8", "replace")))
        else:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        if isinstance(parsed, dict):
            found.update(parsed)
        elif parsed is None and "json" in kind:
            raise GatewayError(
                service.INVALID_PARAM, "bad_json", "请求体不是合法的 JSON", "Malformed JSON body"
            )
    return found


def text(p: Params, name: str) -> str:
    value = p.get(name)
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        raise bad_param(name)
    return str(value).strip()


def integer(p: Params, name: str, *, default: int | None = None) -> int | None:
    raw = text(p, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_param(name) from None
    if not 0 <= value < 2**62:
        raise bad_param(name)
    return value


def required(p: Params, name: str) -> str:
    value = text(p, name)
    if not value:
        raise GatewayError(
            service.INVALID_PARAM, "param_missing", f"参数不合法：缺少 {name}", f"Missing {name}"
        )
    return value


def bad_param(name: str) -> GatewayError:
    return GatewayError(
        service.INVALID_PARAM, "param_invalid", f"参数不合法：{name}", f"Invalid parameter {name}"
    )


async def call(request: Request, work: Work) -> JSONResponse:
    """Run ``work`` for the caller of the ``access-token`` in one transaction (committed on
    success, rolled back on a refusal) and wrap the outcome in the platform's envelope."""
    rt = get_rt(request)
    token = request.headers.get("access-token", "").strip()
    try:
        found = await params(request)
    except GatewayError as exc:
        return JSONResponse(error_envelope(exc, rt.clock.now()))

    def run() -> dict[str, Any]:
        try:
            with rt.unit() as ctx:
                caller = service.caller_for(ctx, token)
                ctx.actor = caller.actor
                return envelope(work(ctx, caller, found), ctx.now)
        except XiaodianError as exc:
            return error_envelope(translate(exc), rt.clock.now())
        except (OverflowError, DataError):
            return error_envelope(bad_param("id"), rt.clock.now())

    return JSONResponse(await run_in_threadpool(run))


async def client_token(request: Request) -> JSONResponse:
    """``oauth/client_token``: parameters from the query, a JSON body or a form."""
    rt = get_rt(request)
    try:
        found = await params(request)
    except GatewayError as exc:
        return JSONResponse(_token_error(exc))

    def run() -> dict[str, Any]:
        try:
            with rt.unit() as ctx:
                issued = service.issue_client_token(
                    ctx,
                    client_key=text(found, "client_key"),
                    client_secret=text(found, "client_secret"),
                    grant_type=text(found, "grant_type"),
                )
        except GatewayError as exc:
            return _token_error(exc)
        return {
            "data": {
                "access_token": issued.access_token,
                "expires_in": issued.expires_in,
                "error_code": 0,
                "description": "",
            },
            "message": "success",
        }

    return JSONResponse(await run_in_threadpool(run))


def _token_error(exc: GatewayError) -> dict[str, Any]:
    return {
        "data": {"error_code": exc.error_code, "description": exc.message_zh},
        "message": "error",
    }

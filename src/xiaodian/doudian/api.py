"""The 抖店 dialect's HTTP entry: ``/doudian/<method path>`` (issue 12, D1).

A client built for the 抖店 open platform sets its gateway to ``http://HOST:PORT/doudian``
and keeps everything else: ``order.searchList`` is ``POST /doudian/order/searchList`` with
``app_key``, ``method``, ``v``, ``timestamp``, ``sign_method``, ``sign`` and ``access_token``
in the query and ``param_json`` in the body (or the query, or a form body). Every answer is
HTTP 200 with the platform's envelope. The app is the same ``xiaodian shop app`` that signs
``/api/v1`` requests.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from xiaodian.doudian.gateway import (
    NO_LEGACY_HEADER,
    PlatformError,
    envelope,
    error_envelope,
    invalid,
    new_log_id,
)
from xiaodian.doudian.methods import METHODS, dispatch
from xiaodian.runtime import Runtime

router = APIRouter(prefix="/doudian", tags=["抖店 dialect (/doudian)"])

_DESCRIPTION = (
    "抖店 open-platform compatible gateway. Common parameters in the query: `app_key`, "
    "`method` (must mirror the path), `v=2`, `timestamp` (unix seconds or `yyyy-MM-dd "
    "HH:mm:ss` UTC+8), `sign_method` (`hmac-sha256` or `md5`), `sign`, `access_token` (all "
    "methods but token.*). Business parameters: `param_json` (JSON, keys sorted, no spaces) "
    "as the body, or in the query. sign = HMAC-SHA256(app_secret, app_secret + 'app_key' + K "
    "+ 'method' + M + 'param_json' + P + 'timestamp' + T + 'v' + '2' + app_secret) (md5: "
    "MD5 of the same pattern). Answers: HTTP 200 `{code, msg, sub_code, sub_msg, log_id, "
    "data}` (code 10000 = ok; 30001/30002 token, 40001 missing, 40003 invalid/signature, "
    "50002 business), plus legacy `err_no`/`message` unless header "
    "`x-open-no-old-err-code: 1`. Methods: " + ", ".join(sorted(METHODS)) + "."
)


_SUMMARY = "Call a 抖店 method (the path mirrors the method name)"


@router.get(
    "/{method_path:path}",
    summary=_SUMMARY,
    description=_DESCRIPTION,
    response_model=None,
    operation_id="doudian_call_get",
)
@router.post(
    "/{method_path:path}",
    summary=_SUMMARY,
    description=_DESCRIPTION,
    response_model=None,
    operation_id="doudian_call",
)
async def call_method(method_path: str, request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.rt
    legacy = request.headers.get(NO_LEGACY_HEADER, "").strip() != "1"
    log_id = new_log_id(rt.wall.now())
    values: dict[str, str] = dict(request.query_params)
    param_json = values.get("param_json")
    content_type = request.headers.get("content-type", "").lower()
    try:
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            for key, value in form.items():
                if isinstance(value, str):
                    values.setdefault(key, value)
            form_param = form.get("param_json")
            if isinstance(form_param, str):
                param_json = form_param
        else:
            body = await request.body()
            if body.strip():
                try:
                    param_json = body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise invalid("param_json", "请求体须为 UTF-8", "Body must be UTF-8") from exc
        data: Any = await run_in_threadpool(dispatch, rt, method_path, values, param_json)
        content = envelope(data, log_id=log_id, legacy=legacy)
    except PlatformError as error:
        content = error_envelope(error, log_id=log_id, legacy=legacy)
    return JSONResponse(content, headers={"x-tt-logid": log_id})

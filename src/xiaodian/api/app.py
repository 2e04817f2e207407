"""FastAPI application factory: open API (/api/v1), buyer API (/buyer/v1), simulation
controls (/sim, simulated clock only), the web console (/console), problem+json errors."""

from __future__ import annotations

import asyncio
import importlib
import logging
import weakref
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from xiaodian import contexts
from xiaodian.api import docs
from xiaodian.api.challenge import WwwAuthenticate
from xiaodian.api.deps import simulation_control
from xiaodian.api.headers import SecurityHeaders, allowed_methods, leaf_routes
from xiaodian.api.limits import BodyLimit
from xiaodian.contexts import optional_module
from xiaodian.db import is_database_unavailable
from xiaodian.errors import XiaodianError, is_nul_error, nul_character, out_of_range
from xiaodian.runtime import Runtime

log = logging.getLogger("xiaodian.api")

PROBLEM = "application/problem+json"

# The system routes, then each context's API routers as xiaodian.contexts.CONTEXTS declares
# them (M4; a context's api.py exposes `router`, and `sim_router` for /sim).
API_MODULES: tuple[str, ...] = ("xiaodian.api.system", *contexts.modules("api"))
WEB_MODULE = "xiaodian.web.routes"


def create_app(rt: Runtime | None = None) -> FastAPI:
    rt = rt or Runtime.create()
    app = XiaodianApp(
        title="小店 xiaodian open API",
        version="1.0",
        description=(
            "Signed open API for ERP/ISV developers. Every /api/v1 request carries X-App-Key, "
            "X-Timestamp, X-Nonce and X-Signature (HMAC-SHA256; see README). Errors are "
            "application/problem+json with a stable `code` and messages in Chinese and English."
        ),
        docs_url=None,  # K3: /docs and /redoc come from api/docs.py, with local assets
        redoc_url=None,
        generate_unique_id_function=docs.operation_id,
    )
    # K8: one path form per route: no 307 to the other form (a signed client would have to
    # re-sign the redirected request); the other form answers 404.
    app.router.redirect_slashes = False
    app.state.rt = rt
    _install_error_handlers(app)
    limit = requests_in_flight_limit(rt)
    if limit > 0:
        app.add_middleware(
            InFlightLimit,
            limit=limit,
            wait_seconds=rt.settings.api.admission_wait_seconds,
            retry_after=rt.settings.api.retry_after_seconds,
        )
    app.add_middleware(BodyLimit, limits=rt.settings.limits)  # S6: outside the in-flight gate
    app.add_middleware(SecurityHeaders)  # S9: CSP, X-Frame-Options, no-store on console pages
    app.add_middleware(WwwAuthenticate)  # S9: every 401 carries its challenge
    contexts.check()  # M4: a typo in CONTEXTS fails here, not by a context going missing
    for module in map(importlib.import_module, API_MODULES):
        app.include_router(module.router)
        if rt.simulated and hasattr(module, "sim_router"):
            # S3: every /sim route needs an app with the simulation scope or the main account.
            app.include_router(module.sim_router, dependencies=[Depends(simulation_control)])
    web = optional_module(WEB_MODULE)
    if web is not None:
        web.install(app, rt)

        @app.get("/console", include_in_schema=False)
        def console_root() -> RedirectResponse:
            return RedirectResponse("/console/", status_code=303)

    docs.install(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/" if web is not None else "/docs", status_code=303)

    answer_head(app)
    return app


def answer_head(app: FastAPI) -> None:
    """K3: every GET route answers HEAD (RFC 9110 §9.3.2) with the GET's status and headers
    and no body (the server sends none for HEAD); a signed HEAD is signed with "HEAD"."""
    for route in leaf_routes(app.router.routes):
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")


def requests_in_flight_limit(rt: Runtime) -> int:
    """W5: as many requests inside the app at once as the pool keeps connections
    (``database.pool_size``, the one setting for both; the pool opens no others): each
    admitted request has its connection, none opens and closes one of its own. 0 (no limit)
    for a pool without a fixed size (SQLite in memory)."""
    size = getattr(rt.engine.pool, "size", None)
    if not callable(size):
        return 0
    kept: int = size()
    return max(1, kept)


class InFlightLimit:
    """At most ``limit`` HTTP requests inside the app per process; the others wait their turn
    on the event loop, in arrival order, for at most ``wait_seconds`` — then they are answered
    503 ``overloaded`` with ``Retry-After`` (W5: a bounded queue, not an unbounded one whose
    latency grows with the crowd). Why a gate at all: a request keeps its pooled connection
    across several thread-pool hops, and with more requests in flight than connections,
    threads blocked in a checkout hold the thread-pool tokens the connection holders need —
    the process stalls until the pool timeout and answers 500 (seen at 200 clients, pool 20,
    in bench/coupons_verify)."""

    def __init__(
        self, app: Any, limit: int, wait_seconds: float = 10.0, retry_after: int = 5
    ) -> None:
        self.app, self.limit = app, limit
        self.wait_seconds, self.retry_after = wait_seconds, retry_after
        self._gates: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = weakref.WeakKeyDictionary()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()  # a semaphore belongs to one event loop
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates.setdefault(loop, asyncio.Semaphore(self.limit))
        try:
            await asyncio.wait_for(gate.acquire(), self.wait_seconds)
        except TimeoutError:
            await overloaded_problem(self.retry_after)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gate.release()


def overloaded_problem(retry_after: int) -> JSONResponse:
    """W5: every place in the app stayed taken for ``api.admission_wait_seconds``."""
    return problem(
        503,
        {
            "type": "urn:xiaodian:error:overloaded",
            "title": "Server busy",
            "status": 503,
            "code": "overloaded",
            "message_zh": "服务器繁忙，请稍后重试",
            "message_en": "Server busy; retry later",
        },
        {"Retry-After": str(retry_after)},
    )


def http_error_headers(request: Request, exc: StarletteHTTPException) -> dict[str, str]:
    """The headers an HTTP error carries; a 405 names every method the path allows (S9)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request.app, request.url.path)
    return headers


def problem(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def unavailable_problem(rt: Runtime) -> JSONResponse:
    """W4: the database cannot be reached — a passing condition, answered 503 with when to
    retry, never 500."""
    return problem(
        503,
        {
            "type": "urn:xiaodian:error:unavailable",
            "title": "Service temporarily unavailable",
            "status": 503,
            "code": "unavailable",
            "message_zh": "服务暂时不可用（数据库无法连接），请稍后重试",
            "message_en": "Service temporarily unavailable (database unreachable); retry later",
        },
        {"Retry-After": str(rt.settings.api.retry_after_seconds)},
    )


def internal_problem() -> JSONResponse:
    return problem(
        500,
        {
            "type": "urn:xiaodian:error:internal",
            "title": "Internal error",
            "status": 500,
            "code": "internal",
            "message_zh": "系统内部错误，请稍后重试",
            "message_en": "Internal error; please retry later",
        },
    )


class XiaodianApp(FastAPI):
    """The FastAPI app wrapped, outermost, in ``AnswerEveryError`` (W4)."""

    def build_middleware_stack(self) -> Any:
        return AnswerEveryError(super().build_middleware_stack(), self)


class AnswerEveryError:
    """W4: the outermost ASGI layer. Starlette answers an unhandled exception (500, or 503
    here when the database is down) and then raises it again; uvicorn, seeing an exception
    after the response started, closes the connection — the client's next request on that
    keep-alive connection got no answer at all. This layer answers any exception that
    arrives before a response started and swallows the re-raised one after it (already
    logged by the handler), so an error response never drops the connection."""

    def __init__(self, app: Any, owner: FastAPI) -> None:
        self.app, self.owner = app, owner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                return
            log.exception("unhandled error outside the app", exc_info=exc)
            rt: Runtime = self.owner.state.rt
            response = (
                unavailable_problem(rt) if is_database_unavailable(exc) else internal_problem()
            )
            await response(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(XiaodianError)
    async def _domain(_request: Request, exc: XiaodianError) -> JSONResponse:
        return problem(exc.status, exc.to_problem())

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
        error = nul_character() if is_nul_error(exc) else out_of_range()
        return problem(error.status, error.to_problem())

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in err.get("loc", ()) if part != "body"),
                "code": err.get("type", ""),
                "message_en": err.get("msg", ""),
                "message_zh": _zh_for(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        if any(e["code"] == "nul_character" for e in errors):
            # S7: a NUL character gets its own answer, not "invalid" or "out of range".
            body = nul_character().to_problem()
            body["errors"] = errors
            return problem(422, body)
        return problem(
            422,
            {
                "type": "urn:xiaodian:error:invalid_request",
                "title": f"Invalid request: {fields}",
                "status": 422,
                "code": "invalid_request",
                "message_zh": f"请求参数有误：{fields}",
                "message_en": f"Invalid request: {fields}",
                "errors": errors,
            },
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        zh = {404: "地址不存在", 405: "不支持该请求方法"}.get(exc.status_code, "请求失败")
        answer = problem(
            exc.status_code,
            {
                "type": f"urn:xiaodian:error:http_{exc.status_code}",
                "title": str(exc.detail),
                "status": exc.status_code,
                "code": f"http_{exc.status_code}",
                "message_zh": zh,
                "message_en": str(exc.detail),
            },
        )
        answer.headers.update(http_error_headers(request, exc))
        return answer

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %r", exc)
        return unavailable_problem(request.app.state.rt)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_database_unavailable(exc):  # raised in a middleware, outside the routes
            return await _unavailable(request, exc)
        log.exception("unhandled error", exc_info=exc)
        return internal_problem()


_ZH = {
    "missing": "必填",
    "int_parsing": "应为整数",
    "int_type": "应为整数（JSON 整数，不能是 true/false、字符串或小数）",
    "int_from_float": "应为整数（JSON 整数，不能是小数）",
    "nul_character": "文本中不能包含空字符（U+0000）",
    "string_type": "应为文本",
    "string_too_long": "太长",
    "string_too_short": "太短",
    "greater_than": "数值太小",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "less_than": "数值太大",
    "json_invalid": "JSON 格式错误",
    "model_attributes_type": "格式错误",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "bool_parsing": "应为布尔值",
    "datetime_parsing": "时间格式错误",
    "datetime_from_date_parsing": "时间格式错误",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "extra_forbidden": "不允许的字段",
    "value_error": "取值无效",
    "time_range": "时间范围有误：开始时间须早于结束时间",
}


def _zh_for(error_type: str) -> str:
    return _ZH.get(error_type, "取值无效")

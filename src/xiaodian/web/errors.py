"""Errors on console pages become friendly Chinese HTML pages, never JSON and never a bare 500.

The API paths (/api, /buyer, /sim) keep their problem+json answers: each handler here
answers only for /console paths and hands everything else to the handler it replaces.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from xiaodian.db import is_database_unavailable, transaction
from xiaodian.errors import (
    PermissionDenied,
    XiaodianError,
    is_nul_error,
    nul_character,
    out_of_range,
)
from xiaodian.runtime import Runtime
from xiaodian.web.auth import LoginRequired
from xiaodian.web.forms import build_state, errors_by_field, form_page
from xiaodian.web.render import render
from xiaodian.web.session import (
    current_user,
    load_current_user,
    lookup_user_id,
    remember,
    session_token,
)

log = logging.getLogger("xiaodian.web")

Handler = Callable[[Request, Any], Awaitable[Response]]

_HTTP_ZH = {404: "页面不存在", 405: "不支持该请求方法"}


def is_console(request: Request) -> bool:
    path = request.url.path
    # F1: operators; F8: the buyer pages
    return path == "/console" or path.startswith(("/console/", "/operator", "/shop/", "/my/"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    _override(app, XiaodianError, _domain_page)
    _override(app, RequestValidationError, _invalid_request_page)
    _override(app, StarletteHTTPException, _http_page)
    _override(app, OverflowError, _out_of_range_page)
    _override(app, DataError, _out_of_range_page)
    for unavailable in (OperationalError, InterfaceError, PoolTimeout):
        _override(app, unavailable, _unavailable_page)
    _override(app, Exception, _internal_error_page)


def _override(app: FastAPI, exc_class: type[Exception], page: Handler) -> None:
    previous = app.exception_handlers.get(exc_class)

    async def handler(request: Request, exc: Exception) -> Response:
        if is_console(request) or previous is None:
            return await page(request, exc)
        answer = previous(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(exc_class, handler)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    if not is_console(request):
        return JSONResponse({"code": "login_required"}, status_code=401)
    return RedirectResponse(exc.login_url, status_code=303)


# U8: a refused form submit comes back as its own page, errors beside the fields.
_FORM_STATUSES = (400, 409, 422)


async def _domain_page(request: Request, exc: XiaodianError) -> Response:
    if exc.status in _FORM_STATUSES and not isinstance(exc, PermissionDenied):
        errors = errors_by_field(exc)
        state = build_state(request, await _submitted(request), exc, exc.message_zh, errors)
        form = await form_page(request, state, exc.status)
        if form is not None:
            return form
    title = "没有权限" if isinstance(exc, PermissionDenied) else "操作未完成"
    if exc.code == "csrf_failed":
        title = "页面已过期"
    page = error_page(request, exc.status, title, exc.message_zh, _field_messages(exc))
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        page.headers["Retry-After"] = str(retry_after)  # S4: 429 lockout, 503 hashing busy
    return page


async def _out_of_range_page(request: Request, exc: Exception) -> Response:
    return await _domain_page(request, nul_character() if is_nul_error(exc) else out_of_range())


async def _invalid_request_page(request: Request, exc: RequestValidationError) -> Response:
    fields = [
        ".".join(str(part) for part in err.get("loc", ()) if part not in ("body", "query", "path"))
        for err in exc.errors()
    ]
    errors = [f"{name or '参数'}：格式不正确或缺失" for name in fields]
    message = "提交的内容有误，请检查后重试"
    by_field: dict[str, list[str]] = {}
    for name in fields:
        by_field.setdefault(name, []).append("格式不正确或缺失")
    state = build_state(request, await _submitted(request), None, message, by_field)
    form = await form_page(request, state, 422)
    if form is not None:
        return form
    return error_page(request, 422, "请求参数有误", message, errors)


async def _http_page(request: Request, exc: StarletteHTTPException) -> Response:
    from xiaodian.api.app import http_error_headers

    message = _HTTP_ZH.get(exc.status_code, "请求失败")
    page = error_page(request, exc.status_code, message, message, [])
    page.headers.update(http_error_headers(request, exc))
    return page


async def _unavailable_page(request: Request, exc: Exception) -> Response:
    """W4: the database cannot be reached — 503 with Retry-After, no shell (it needs the
    database), never a 500."""
    log.warning("console: database unavailable: %r", exc)
    rt: Runtime = request.app.state.rt
    response = render(
        request,
        "error.html",
        status_code=503,
        title="服务暂时不可用",
        message="数据库暂时无法连接，请稍后刷新重试",
        errors=[],
        back=_back_link(request),
    )
    response.headers["Retry-After"] = str(rt.settings.api.retry_after_seconds)
    return response


async def _internal_error_page(request: Request, exc: Exception) -> Response:
    if is_database_unavailable(exc):  # raised in a middleware, outside the routes
        return await _unavailable_page(request, exc)
    log.exception("console error", exc_info=exc)
    return error_page(request, 500, "系统繁忙", "系统内部错误，请稍后重试", [])


def error_page(
    request: Request, status: int, title: str, message: str, errors: list[str]
) -> Response:
    if request.url.path.startswith("/operator"):  # F1: the operator console, no shop shell
        return _operator_error_page(request, status, title, message, errors)
    if request.url.path.startswith(("/shop/", "/my/")):  # F8: the buyer pages, no shop shell
        from xiaodian.storefront.web import page

        return page(request, "storefront/error.html", None, status, title=title,
                    message=message, errors=errors)  # fmt: skip
    _ensure_shell(request)
    return render(
        request,
        "error.html",
        status_code=status,
        title=title,
        message=message,
        errors=errors,
        back=_back_link(request),
    )


async def _submitted(request: Request) -> FormData | None:
    """The form the route already read (Starlette caches it on the request)."""
    if request.method != "POST":
        return None
    try:
        return await request.form()
    except Exception:  # not a form body, or one that could not be read: nothing to keep
        return None


def _field_messages(exc: XiaodianError) -> list[str]:
    return [str(err.get("message_zh") or err.get("message_en") or "") for err in exc.errors]


def _back_link(request: Request) -> str:
    """Back to the page the user came from, if it is one of ours."""
    referer = request.headers.get("referer", "")
    marker = referer.find("/console")
    if marker >= 0 and referer[:marker].rstrip("/") == str(request.base_url).rstrip("/"):
        return referer[marker:]
    return "/console/"


def _ensure_shell(request: Request) -> None:
    """Show the menu on error pages too, when the error came before the page loaded the user.

    Safe to open a transaction here: the route's own unit of work has already ended."""
    if current_user(request) is not None or "session" not in request.scope:
        return
    if session_token(request) is None:
        return
    rt: Runtime = request.app.state.rt
    try:
        with transaction(rt.factory) as session:
            user_id = lookup_user_id(request, session)
            user = load_current_user(session, user_id) if user_id is not None else None
            if user is not None:
                remember(request, user, session)
    except Exception:  # the error page must render even when the database is the problem
        log.exception("could not load the console user for an error page")


def _operator_error_page(
    request: Request, status: int, title: str, message: str, errors: list[str]
) -> Response:
    from xiaodian.platform.web import page

    return page(request, "platform/error.html", None, status, title=title, message=message,
                errors=errors)  # fmt: skip

"""Console authentication: who is logged in, what they may do, and CSRF on every form.

``ConsoleCtx`` gives a route ``.ctx`` (one transaction, committed before the response is
sent) and ``.principal`` (re-read from the database on every request, so a revoked grant
takes effect at once). The session token is checked against ``console_sessions`` in the same
transaction (S5). Not logged in → 303 to ``/console/login?next=<path>``.
Every POST form route also takes ``CsrfForm``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData

from xiaodian.accounts.service import Principal
from xiaodian.context import Ctx
from xiaodian.errors import PermissionDenied
from xiaodian.runtime import Runtime
from xiaodian.web.session import (
    CSRF_KEY,
    CurrentUser,
    flash,
    load_current_user,
    lookup_user_id,
    remember,
    session_token,
)

__all__ = [
    "Console",
    "ConsoleCtx",
    "CsrfFailed",
    "CsrfForm",
    "LoginRequired",
    "flash",
    "require_main",
    "safe_next",
]


class LoginRequired(Exception):
    """Raised when a console page needs a login; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def login_url(self) -> str:
        return "/console/login?next=" + quote(self.next_path, safe="/")


class CsrfFailed(PermissionDenied):
    def __init__(self) -> None:
        super().__init__(
            "csrf_failed",
            "页面已过期，请刷新后重试",
            "The page has expired (CSRF token missing or wrong); reload and try again",
        )


@dataclass
class Console:
    """What a console route works with: its unit of work and who is acting."""

    ctx: Ctx
    user: CurrentUser

    @property
    def principal(self) -> Principal:
        return self.user.principal

    @property
    def shop_id(self) -> int:
        return self.user.shop_id


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _console(request: Request) -> Iterator[Console]:
    if session_token(request) is None:
        raise LoginRequired(_next_for(request))
    with _runtime(request).unit(actor="anonymous") as ctx:
        user_id = lookup_user_id(request, ctx.session)
        user = load_current_user(ctx.session, user_id) if user_id is not None else None
        if user is None:
            request.session.clear()  # ended, expired or disabled: logged out (S5)
            raise LoginRequired(_next_for(request))
        ctx.actor = f"user:{user.user_id}"
        remember(request, user, ctx.session)
        yield Console(ctx=ctx, user=user)


# Committed when the route returns, before the response is sent (scope="function").
ConsoleCtx = Annotated[Console, Depends(_console, scope="function")]


async def _verify_csrf(request: Request) -> FormData:
    expected = request.session.get(CSRF_KEY)
    return await form_with_csrf(request, expected if isinstance(expected, str) else "")


async def form_with_csrf(request: Request, expected: str) -> FormData:
    """The submitted form, once its ``csrf_token`` equals ``expected`` (compared in constant
    time); CsrfFailed (403) when either is missing or they differ. Every page family uses it:
    the shop console (the session's token), the operator console and the buyer pages (a value
    derived from their session cookie)."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not expected:
        raise CsrfFailed()
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()
    return form


# The submitted form, after its csrf_token matched the session's.
CsrfForm = Annotated[FormData, Depends(_verify_csrf)]


def require_main(principal: Principal) -> None:
    if not principal.is_main:
        raise PermissionDenied(
            "main_account_only",
            "没有权限：仅主账号可以执行此操作",
            "Only the main account can do this",
        )


def safe_next(target: str | None) -> str:
    """Where to go after login: only a console path of this site (no open redirect)."""
    if not target or not target.startswith("/console") or target.startswith("//"):
        return "/console/"
    if "\\" in target or "\r" in target or "\n" in target:
        return "/console/"
    return target


def _next_for(request: Request) -> str:
    if request.method != "GET":
        return "/console/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")

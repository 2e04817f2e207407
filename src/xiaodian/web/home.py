"""Login, logout and the dashboard 首页: today's figures, to-dos with counts and links, the
sales and late-shipment charts (issue 13 U3, see ``web/dashboard.py``), balances, notices,
shortcuts and the O9 rating."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import sessions
from xiaodian.accounts.passwords import HashingBusy
from xiaodian.contexts import optional_module
from xiaodian.db import transaction
from xiaodian.errors import AuthFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.runtime import Runtime
from xiaodian.web import dashboard as home
from xiaodian.web import forms
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash, safe_next
from xiaodian.web.nav import enabled_links
from xiaodian.web.render import render
from xiaodian.web.session import session_token, session_user_id, start_session

router = APIRouter(prefix="/console", include_in_schema=False)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if session_user_id(request) is not None:
        return see_other(safe_next(next))
    return render(request, "login.html", next=safe_next(next), username="")


@router.post("/login")
def login(
    request: Request,
    _form: CsrfForm,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console/",
) -> Response:
    """S4: throttled per username and per address (429 + Retry-After while locked), hashing
    capped (503 + Retry-After when every slot stays busy); S5: a new server-side session."""
    rt: Runtime = request.app.state.rt
    ip = request.client.host if request.client is not None else "unknown"
    try:
        logged_in = sessions.log_in(rt, username, password, ip)
    except (AuthFailed, sessions.LoginLocked, HashingBusy) as exc:
        # U8: the message at the top of the form, the username kept (never the password)
        forms.keep(request, {"username": username}, exc)
        page = render(
            request,
            "login.html",
            status_code=exc.status,
            next=safe_next(next),
            username=username,
            error=exc.message_zh,
            error_code=exc.code,
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            page.headers["Retry-After"] = str(retry_after)
        return page
    # A fresh session on login: nothing from before (fixation) survives, new CSRF token.
    start_session(request, logged_in.token)
    return see_other(safe_next(next))


@router.post("/logout")
def logout(request: Request, _form: CsrfForm) -> Response:
    """S5: the server-side session ends; the old cookie, replayed, is logged out."""
    token = session_token(request)
    if token is not None:
        rt: Runtime = request.app.state.rt
        with transaction(rt.factory) as session:
            sessions.end_session(session, token)
    request.session.clear()
    flash(request, "已退出登录")
    return see_other("/console/login")


@router.get("/")
def dashboard(request: Request, console: ConsoleCtx) -> Response:
    session, shop_id = console.ctx.session, console.shop_id
    can_see_funds = console.principal.can("funds.view")
    balances = ledger.balances(session, shop_id) if can_see_funds else {}
    # O9: the shop's late-shipment rate and rating score, when orders is installed and the
    # user may see orders.
    orders_web = optional_module("xiaodian.orders.web")
    panel: dict[str, Any] = {"rating": None}
    if orders_web is not None and console.principal.can("orders.view"):
        panel = orders_web.rating_panel(console.ctx, shop_id)
    return render(
        request,
        "dashboard.html",
        can_see_funds=can_see_funds,
        balance_fen=balances.get(Account.BALANCE, 0),
        deposit_fen=balances.get(Account.DEPOSIT, 0),
        recent_notices=notify.list_notices(
            session, shop_id, unread_only=True, limit=5, principal=console.principal
        ),
        shortcuts=[
            link for link in enabled_links(request, console.user) if link.path != "/console/"
        ],
        todos=home.todos(console),
        **home.today_and_charts(console),
        **panel,
    )

"""Login, logout and the dashboard 首页 (balances, notices, shortcuts and the O9 rating)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.contexts import optional_module
from xiaodian.errors import AuthFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.runtime import Runtime
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash, safe_next
from xiaodian.web.nav import enabled_links
from xiaodian.web.render import render
from xiaodian.web.session import CSRF_KEY, USER_KEY, session_user_id

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
    rt: Runtime = request.app.state.rt
    try:
        with rt.unit(actor="anonymous") as ctx:
            user_id = accounts.authenticate(ctx.session, username.strip(), password).id
    except AuthFailed as exc:
        return render(
            request,
            "login.html",
            status_code=401,
            next=safe_next(next),
            username=username,
            error=exc.message_zh,
        )
    # A fresh session on login: nothing from before (fixation) survives, new CSRF token.
    request.session.clear()
    request.session[USER_KEY] = user_id
    request.session[CSRF_KEY] = secrets.token_urlsafe(32)
    return see_other(safe_next(next))


@router.post("/logout")
def logout(request: Request, _form: CsrfForm) -> Response:
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
        recent_notices=notify.list_notices(session, shop_id, unread_only=True, limit=5),
        shortcuts=[
            link for link in enabled_links(request, console.user) if link.path != "/console/"
        ],
        **panel,
    )

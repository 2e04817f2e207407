"""设置 → 开放平台应用: ERP/ISV apps acting for this shop (app_key + secret), each with the
scopes chosen when it was created (S2). Managing apps takes the main account or the
``apps.manage`` grant; a sub-account gives an app only scopes it holds itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp
from xiaodian.accounts.scopes import APP_SCOPES, DEFAULT_APP_SCOPES, may_give
from xiaodian.errors import NotFound
from xiaodian.web.auth import Console, ConsoleCtx, CsrfForm, flash, require_main
from xiaodian.web.render import render
from xiaodian.web.session import show_once, take_shown_once

router = APIRouter(prefix="/console/settings/apps", include_in_schema=False)


MANAGE = "apps.manage"


@router.get("")
def apps_page(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require(MANAGE)
    created = _just_created(request, console)
    return _page(request, console, revealed=created, just_created=created is not None)


@router.post("")
def create_app(
    request: Request,
    console: ConsoleCtx,
    form: CsrfForm,
    name: Annotated[str, Form()] = "",
) -> Response:
    """Post/redirect/get: the next page shows the new secret once (a refresh creates nothing).
    The ticked scopes (``scopes``, several) are the app's (S2)."""
    console.principal.require(MANAGE)
    scopes = [value for value in form.getlist("scopes") if isinstance(value, str)]
    app = accounts.create_app(console.ctx, console.shop_id, name, scopes, by=console.principal)
    flash(request, f"已创建应用 {app.name}")
    show_once(request, "app", app.id)
    return RedirectResponse("/console/settings/apps", status_code=303)


@router.post("/{app_id}/reveal")
def reveal_secret(app_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    require_main(console.principal)
    return _page(request, console, revealed=_own_app(console, app_id))


@router.post("/{app_id}/revoke")
def revoke_app(app_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    console.principal.require(MANAGE)
    app = accounts.revoke_app(console.ctx, console.shop_id, app_id)
    flash(request, f"已停用应用 {app.name}，其签名请求将被拒绝")
    return RedirectResponse("/console/settings/apps", status_code=303)


def _just_created(request: Request, console: Console) -> ApiApp | None:
    app_id = take_shown_once(request, "app")
    apps = accounts.list_apps(console.ctx.session, console.shop_id) if app_id else []
    return next((app for app in apps if app.id == app_id), None)


def _own_app(console: Console, app_id: int) -> ApiApp:
    for app in accounts.list_apps(console.ctx.session, console.shop_id):
        if app.id == app_id:
            return app
    raise NotFound("应用", "App", app_id)


def _page(
    request: Request, console: Console, revealed: ApiApp | None = None, just_created: bool = False
) -> Response:
    return render(
        request,
        "settings/apps.html",
        apps=[
            (app, [APP_SCOPES[s] for s in APP_SCOPES if s in accounts.app_scopes(app)])
            for app in accounts.list_apps(console.ctx.session, console.shop_id)
        ],
        revealed=revealed,
        just_created=just_created,
        scope_choices=[
            (code, label, code in DEFAULT_APP_SCOPES, may_give(console.principal, code))
            for code, label in APP_SCOPES.items()
        ],
    )

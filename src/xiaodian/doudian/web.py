"""设置 → 抖店授权码: the shop issues a one-time ``code`` to one of its apps, which the app's
抖店 SDK exchanges with ``token.create`` (grant_type=authorization_code) — the tool-app flow
of issue 12, D2. The code is shown once; only its hash is kept."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from xiaodian.accounts import service as accounts
from xiaodian.doudian import service
from xiaodian.web.auth import Console, ConsoleCtx, CsrfForm
from xiaodian.web.render import render

router = APIRouter(prefix="/console/settings/doudian-codes", include_in_schema=False)


@router.get("")
def codes_page(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("apps.manage")
    return _page(request, console)


@router.post("")
def issue_code(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    app_id: Annotated[int, Form()],
) -> Response:
    console.principal.require("apps.manage")
    code, expires = service.issue_auth_code(console.ctx, console.shop_id, app_id)
    return _page(request, console, issued=code, expires=expires)


def _page(request: Request, console: Console, **extra: Any) -> Response:
    session = console.ctx.session
    apps = accounts.list_apps(session, console.shop_id)
    return render(
        request,
        "doudian/auth_codes.html",
        apps=[app for app in apps if app.revoked_at is None],
        app_names={app.id: app.name for app in apps},
        codes=service.recent_codes(session, console.shop_id),
        now=console.ctx.now,
        ttl_minutes=console.ctx.settings.doudian.auth_code_ttl_seconds // 60,
        **extra,
    )

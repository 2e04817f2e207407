"""设置 → 抖店授权码: the shop issues a one-time ``code`` to one of its apps, which the app's
抖店 SDK exchanges with ``token.create`` (grant_type=authorization_code) — the tool-app flow
of issue 12, D2. The code is shown once; only its hash is kept.

The same page sets an app's 抖店 push URL (D4, what the platform's developer console does):
the messages its scopes allow, sent by the webhook worker (delivery log under 设置 → Webhook)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp
from xiaodian.doudian import push, service
from xiaodian.errors import Conflict, NotFound
from xiaodian.web.auth import Console, ConsoleCtx, CsrfForm, flash
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


@router.post("/push")
def set_push_url(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    app_id: Annotated[int, Form()],
    url: Annotated[str, Form()] = "",
) -> Response:
    """D4: the app's push URL, with every tag its scopes allow (S1 checks the URL)."""
    console.principal.require("apps.manage")
    app = console.ctx.session.get(ApiApp, app_id)
    if app is None or app.shop_id != console.shop_id or app.revoked_at is not None:
        raise NotFound("应用", "App", app_id)
    if not any(push.may_receive(app, tag) for tag in push.TAGS):
        raise Conflict(
            "push_scope_missing",
            "该应用没有订单（orders）、售后（aftersales）或 Webhook 权限范围，收不到任何消息",
            "The app has none of the orders, aftersales or webhooks scopes",
        )
    push.register_push(console.ctx, app, url, None)
    flash(request, "已设置消息推送地址")
    return RedirectResponse("/console/settings/doudian-codes", status_code=303)


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
        pushes=[
            (endpoint, app, push.tags_of(endpoint))
            for endpoint, app in push.push_endpoints(session, console.shop_id)
        ],
        **extra,
    )

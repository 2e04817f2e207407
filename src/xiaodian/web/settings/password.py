"""设置 → 修改密码: every account, main or sub, changes its own password (issue 11 S5, issue 13
U2). Every session of the account ends; this browser is logged in again with a new one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.accounts import sessions
from xiaodian.errors import ValidationFailed
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import render
from xiaodian.web.session import start_session

router = APIRouter(prefix="/console/settings/password", include_in_schema=False)


@router.get("")
def password_page(request: Request, console: ConsoleCtx) -> Response:
    return _page(request, console)


@router.post("")
def change_password(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    ctx, user = console.ctx, console.user
    rules = ctx.settings.console
    ip = request.client.host if request.client is not None else "unknown"
    wall_now = request.app.state.rt.wall.now()
    try:
        # A wrong current password counts towards the S4 lockout like a failed login.
        sessions.refuse_if_locked(ctx.session, rules, user.username, ip, wall_now)
        if new_password != confirm_password:
            raise ValidationFailed(
                "password_mismatch",
                "两次输入的新密码不一致",
                "The two new passwords differ",
                field="confirm_password",
            )
        accounts.change_own_password(
            ctx, console.principal, current_password=current_password, new_password=new_password
        )
    except (ValidationFailed, sessions.LoginLocked) as exc:
        if exc.code == "wrong_current_password":
            sessions.record_failure(ctx.session, rules, user.username, ip, wall_now)
        return _page(request, console, error=exc.message_zh, status_code=exc.status)
    token = sessions.create_session(ctx.session, rules, user.user_id, user.shop_id, ip, wall_now)
    start_session(request, token)
    flash(request, "密码已修改，其他设备上的登录已全部失效")
    return RedirectResponse("/console/settings/password", status_code=303)


def _page(
    request: Request, console: ConsoleCtx, error: str = "", status_code: int = 200
) -> Response:
    return render(
        request,
        "settings/password.html",
        status_code=status_code,
        error=error,
        password_min_length=console.ctx.settings.console.password_min_length,
    )

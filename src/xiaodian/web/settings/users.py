"""设置 → 子账号与权限: only the main account (主账号) manages sub-accounts and their grants,
disables and re-enables them and resets their passwords (issue 11 S5, issue 13 U2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import PERMISSIONS
from xiaodian.web.auth import Console, ConsoleCtx, CsrfForm, flash, require_main
from xiaodian.web.render import render

router = APIRouter(prefix="/console/settings/users", include_in_schema=False)

Permissions = Annotated[list[str], Form()]


@router.get("")
def users_page(request: Request, console: ConsoleCtx) -> Response:
    require_main(console.principal)
    session = console.ctx.session
    users = accounts.list_users(session, console.shop_id)
    return render(
        request,
        "settings/users.html",
        users=[(user, accounts.permissions_of(session, user)) for user in users],
        permissions=PERMISSIONS,
        password_min_length=console.ctx.settings.console.password_min_length,
    )


@router.post("")
def create_sub_account(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    permissions: Permissions = [],  # noqa: B006 - FastAPI copies defaults per request
) -> Response:
    user = accounts.create_sub_account(
        console.ctx,
        console.principal,
        username=username.strip(),
        password=password,
        display_name=display_name,
        phone=phone.strip(),
        permissions=permissions,
    )
    flash(request, f"已创建子账号 {user.username}")
    return RedirectResponse("/console/settings/users", status_code=303)


@router.post("/{user_id}/permissions")
def save_permissions(
    user_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    permissions: Permissions = [],  # noqa: B006 - FastAPI copies defaults per request
) -> Response:
    """The checkboxes are the whole truth: checked permissions granted, the rest revoked."""
    username = _apply_permissions(console, user_id, set(permissions))
    flash(request, f"已保存 {username} 的权限")
    return RedirectResponse("/console/settings/users", status_code=303)


@router.post("/{user_id}/disable")
def disable(user_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    """S5: a disabled sub-account cannot log in, and its open sessions end at once."""
    user = accounts.set_active(console.ctx, console.principal, user_id, active=False)
    flash(request, f"已停用子账号 {user.username}，其登录已全部失效")
    return RedirectResponse("/console/settings/users", status_code=303)


@router.post("/{user_id}/enable")
def enable(user_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    user = accounts.set_active(console.ctx, console.principal, user_id, active=True)
    flash(request, f"已启用子账号 {user.username}")
    return RedirectResponse("/console/settings/users", status_code=303)


@router.post("/{user_id}/password")
def reset_password(
    user_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    new_password: Annotated[str, Form()] = "",
) -> Response:
    """S5: the main account sets a sub-account's password; its open sessions end."""
    user = accounts.reset_password(console.ctx, console.principal, user_id, new_password)
    flash(request, f"已重置子账号 {user.username} 的密码，其登录已全部失效")
    return RedirectResponse("/console/settings/users", status_code=303)


def _apply_permissions(console: Console, user_id: int, wanted: set[str]) -> str:
    ctx, principal = console.ctx, console.principal
    require_main(principal)
    user = accounts.get_user(ctx.session, principal.shop_id, user_id)
    held = accounts.permissions_of(ctx.session, user)
    for permission in sorted(wanted - held):
        accounts.grant(ctx, principal, user.id, permission)
    for permission in sorted(held - wanted):
        accounts.revoke_grant(ctx, principal, user.id, permission)
    return user.username

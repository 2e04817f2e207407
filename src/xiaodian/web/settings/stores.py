"""设置 → 门店与核销人员: stores, and verifier staff with a store scope (C5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Staff
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import render

router = APIRouter(prefix="/console/settings/stores", include_in_schema=False)

PAGE = "/console/settings/stores"


@router.get("")
def stores_page(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("settings.manage")
    session, shop_id = console.ctx.session, console.shop_id
    stores = accounts.list_stores(session, shop_id)
    names = {store.id: store.name for store in stores}
    staff = [
        (member, _scope_label(accounts.staff_store_ids(session, member), names))
        for member in accounts.list_staff(session, shop_id)
    ]
    return render(request, "settings/stores.html", stores=stores, staff=staff)


@router.post("")
def create_store(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    name: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
) -> Response:
    console.principal.require("settings.manage")
    store = accounts.create_store(console.ctx, console.shop_id, name=name, address=address)
    flash(request, f"已添加门店 {store.name}")
    return RedirectResponse(PAGE, status_code=303)


@router.post("/staff")
def add_staff(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    douyin_id: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "all",
    store_ids: Annotated[list[int], Form()] = [],  # noqa: B006 - copied per request
) -> Response:
    """C5: by Douyin ID, for chosen stores or 全部门店."""
    console.principal.require("settings.manage")
    staff = accounts.add_staff(
        console.ctx,
        console.shop_id,
        douyin_id=douyin_id,
        name=name,
        store_ids=None if scope == "all" else store_ids,
    )
    flash(request, f"已添加核销人员 {staff.douyin_id}")
    return RedirectResponse(PAGE, status_code=303)


@router.post("/staff/{staff_id}/revoke")
def revoke_staff(staff_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    console.principal.require("settings.manage")
    staff: Staff = accounts.revoke_staff(console.ctx, console.shop_id, staff_id)
    flash(request, f"已撤销 {staff.douyin_id} 的核销权限")
    return RedirectResponse(PAGE, status_code=303)


def _scope_label(store_ids: list[int] | None, names: dict[int, str]) -> str:
    if store_ids is None:
        return "全部门店"
    return "、".join(names.get(store_id, f"#{store_id}") for store_id in store_ids)

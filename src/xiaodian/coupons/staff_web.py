"""Console page 核销人员 (issue 17, F4; seed 004 如何手机核销): add a verifier by searching a
user's 抖音号 (the nickname is shown before adding), give them a store scope, issue the
one-time link + QR that binds their phone to the staff page (``phone_web.py``), revoke them.

Same permission as 设置 → 门店与核销人员 (``settings.manage``). Routes stay thin: parse the
form, call one function of ``staff_links`` / ``accounts``, render or redirect with a flash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.coupons import staff_links
from xiaodian.errors import XiaodianError
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import render

router = APIRouter(include_in_schema=False)

PAGE = "/console/coupons/staff"
PERMISSION = "settings.manage"


def _scope_label(store_ids: list[int] | None, names: dict[int, str]) -> str:
    if store_ids is None:
        return "全部门店"
    return "、".join(names.get(store_id, f"#{store_id}") for store_id in store_ids)


def _page(request: Request, console: Any, status_code: int = 200, **extra: Any) -> Response:
    session, shop_id = console.ctx.session, console.shop_id
    stores = accounts.list_stores(session, shop_id)
    names = {store.id: store.name for store in stores}
    staff = [
        (member, _scope_label(accounts.staff_store_ids(session, member), names))
        for member in accounts.list_staff(session, shop_id)
    ]
    active = {member.douyin_id for member, _scope in staff if member.revoked_at is None}
    return render(
        request,
        "coupons/staff.html",
        status_code=status_code,
        staff=staff,
        stores=stores,
        active_douyin_ids=active,
        ttl=console.ctx.settings.coupons.staff_link_ttl_minutes,
        **extra,
    )


@router.get(PAGE)
def staff_page(request: Request, console: ConsoleCtx, douyin_id: str = "") -> Response:
    """核销人员; ``?douyin_id=`` searches the user first (搜索核销人员的抖音号)."""
    console.principal.require(PERMISSION)
    wanted = douyin_id.strip()
    if not wanted:
        return _page(request, console)
    found: Buyer | None = None
    try:
        found = staff_links.find_user(console.ctx.session, wanted)
    except XiaodianError as exc:
        return _page(request, console, exc.status, query=wanted[:64], search_error=exc)
    return _page(request, console, query=wanted, found=found)


@router.post(PAGE)
def add_staff(request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    """Add the searched user as a verifier: 全部门店 or the chosen stores."""
    console.principal.require(PERMISSION)
    douyin_id = str(form.get("douyin_id") or "").strip()[:64]
    chosen = form.get("scope") == "chosen"
    store_ids = [int(v) for v in form.getlist("store_ids") if isinstance(v, str) and v.isdigit()]
    try:
        staff = staff_links.add_staff_by_douyin_id(
            console.ctx,
            console.shop_id,
            douyin_id,
            store_ids=store_ids if chosen else None,
        )
    except XiaodianError as exc:
        console.ctx.session.rollback()
        return _page(request, console, exc.status, query=douyin_id, add_error=exc)
    flash(request, f"已添加核销人员 {staff.name or staff.douyin_id}（抖音号 {staff.douyin_id}）")
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{staff_id}/link")
def issue_link(staff_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    """A one-time link + QR that binds the verifier's phone; shown once (only its hash is
    kept), so this answers with the page itself instead of a redirect."""
    console.principal.require(PERMISSION)
    try:
        issued = staff_links.issue_link(console.ctx, console.shop_id, staff_id)
    except XiaodianError as exc:
        console.ctx.session.rollback()
        return _page(request, console, exc.status, add_error=exc)
    url = str(request.base_url).rstrip("/") + f"/staff/m/bind/{issued.token}"
    return render(
        request,
        "coupons/staff_link.html",
        staff=issued.staff,
        url=url,
        qr=_qr_data_uri(url),
        expires_at=issued.expires_at,
        ttl=console.ctx.settings.coupons.staff_link_ttl_minutes,
    )


@router.post(PAGE + "/{staff_id}/revoke")
def revoke(staff_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    """取消权限: every token of theirs dies at once, the bound phones' sessions too."""
    console.principal.require(PERMISSION)
    staff = accounts.revoke_staff(console.ctx, console.shop_id, staff_id)
    flash(request, f"已取消 {staff.name or staff.douyin_id} 的核销权限，其手机已无法核销")
    return RedirectResponse(PAGE, status_code=303)


def _qr_data_uri(text: str) -> str:
    import segno  # loaded when a QR is drawn (K5)

    uri: str = segno.make(text, error="m").png_data_uri(scale=6, border=4)
    return uri

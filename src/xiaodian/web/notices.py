"""消息 → 站内通知: the shop's in-site notices (X1)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.notify import service as notify
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import render

router = APIRouter(prefix="/console/notices", include_in_schema=False)

PAGE_SIZE = 20


@router.get("")
def notices_page(
    request: Request,
    console: ConsoleCtx,
    show: Literal["all", "unread"] = "all",
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    rows = notify.list_notices(
        console.ctx.session,
        console.shop_id,
        unread_only=show == "unread",
        before_id=before_id,
        limit=PAGE_SIZE + 1,
        principal=console.principal,
    )
    page = rows[:PAGE_SIZE]
    return render(
        request,
        "notices/list.html",
        notices=page,
        show=show,
        next_before_id=page[-1].id if len(rows) > PAGE_SIZE else None,
        first_page=before_id is None,
    )


@router.post("/{notice_id}/read")
def mark_one_read(
    notice_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm
) -> Response:
    notify.mark_read(console.ctx, console.shop_id, notice_id, principal=console.principal)
    return RedirectResponse(_back(request), status_code=303)


@router.post("/read-all")
def mark_all_read(request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    changed = notify.mark_read(console.ctx, console.shop_id, principal=console.principal)
    flash(request, f"已将 {changed} 条通知标为已读")
    return RedirectResponse(_back(request), status_code=303)


def _back(request: Request) -> str:
    """Stay on the list the user was looking at (same filter and page)."""
    referer = request.headers.get("referer", "")
    marker = referer.find("/console/notices")
    return referer[marker:] if marker >= 0 else "/console/notices"

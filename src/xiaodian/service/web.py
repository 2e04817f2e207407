"""Console page 飞鸽客服 (/console/service): conversations, the chat, and the context panel
with the 中奖福袋 button (L4) and the 直播链接 / 直播预告 entry (L5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.service import service
from xiaodian.service.models import CHANNELS
from xiaodian.web.auth import Console, ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import render

router = APIRouter(include_in_schema=False)
CHAT = "service.chat"


@router.get("/console/service")
def inbox(request: Request, console: ConsoleCtx) -> Response:
    return _page(request, console, None)


@router.get("/console/service/{conversation_id}")
def conversation(conversation_id: int, request: Request, console: ConsoleCtx) -> Response:
    return _page(request, console, conversation_id)


def _page(request: Request, console: Console, conversation_id: int | None) -> Response:
    console.principal.require(CHAT)
    ctx = console.ctx
    panel = (
        service.panel(ctx.session, console.shop_id, conversation_id, ctx.now)
        if conversation_id is not None
        else None
    )
    return render(
        request,
        "service/console.html",
        conversations=service.list_conversations(ctx.session, console.shop_id),
        channels=CHANNELS,
        panel=panel,
        messages=[
            (m, service.payload_now(ctx.session, panel.conversation, m))
            for m in service.messages(ctx.session, panel.conversation)
        ]
        if panel
        else [],
    )


def _back(conversation_id: int) -> RedirectResponse:
    return RedirectResponse(f"/console/service/{conversation_id}", status_code=303)


@router.post("/console/service/{conversation_id}/messages")
def send_text(
    conversation_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    text: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    console.principal.require(CHAT)
    service.agent_says(console.ctx, console.shop_id, conversation_id, text)
    return _back(conversation_id)


@router.post("/console/service/{conversation_id}/send_redeem_link")
def send_redeem_link(
    conversation_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    win_id: Annotated[int, Form()],
) -> Response:
    """L4 发送兑奖链接 (the server refuses it unless the win is 未兑奖, window open)."""
    console.principal.require(CHAT)
    service.send_redeem_link(console.ctx, console.shop_id, conversation_id, win_id)
    flash(request, "已发送兑奖链接")
    return _back(conversation_id)


@router.post("/console/service/{conversation_id}/send_order_card")
def send_order_card(
    conversation_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    win_id: Annotated[int, Form()],
) -> Response:
    """L4 发送订单 (only for 已兑奖)."""
    console.principal.require(CHAT)
    service.send_order_card(console.ctx, console.shop_id, conversation_id, win_id)
    flash(request, "已发送订单卡片")
    return _back(conversation_id)


@router.post("/console/service/{conversation_id}/send_live/{kind}")
def send_live(
    conversation_id: int, kind: str, request: Request, console: ConsoleCtx, _form: CsrfForm
) -> Response:
    """L5 直播链接 / 直播预告 (bound shops only)."""
    console.principal.require(CHAT)
    service.send_live_entry(console.ctx, console.shop_id, conversation_id, kind)
    flash(request, "已发送直播链接" if kind == "live_link" else "已发送直播预告")
    return _back(conversation_id)

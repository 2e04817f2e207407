"""Open API for the 飞鸽 console (agent side) and the buyer's side of a conversation (L4, L5)."""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter

from xiaodian.api.deps import BuyerDep, CtxDep, PageDep, ServiceApp
from xiaodian.service import service
from xiaodian.service.mappers import conversation_out, message_out, messages_out, panel_out
from xiaodian.service.schemas import (
    ConversationOut,
    MessageOut,
    PanelOut,
    StartConversationIn,
    TextIn,
    WinActionIn,
)

router = APIRouter()
CS: list[str | Enum] = ["service 飞鸽客服"]
BUYER: list[str | Enum] = ["buyer 买家"]
CHAT = "service.chat"
BASE = "/api/v1/service/conversations"


@router.get(BASE, response_model=list[ConversationOut], tags=CS)
def list_conversations(ctx: CtxDep, principal: ServiceApp, page: PageDep) -> list[ConversationOut]:
    principal.require(CHAT)
    rows = service.list_conversations(
        ctx.session, principal.shop_id, before_id=page.before_id, limit=page.limit
    )
    return [conversation_out(c, b.nickname) for c, b in rows]


@router.get(BASE + "/{conversation_id}", response_model=PanelOut, tags=CS)
def get_conversation(conversation_id: int, ctx: CtxDep, principal: ServiceApp) -> PanelOut:
    """The conversation with the agent's context panel: the 中奖福袋 button and the buyer's
    wins with their actions (L4), and the 直播链接 / 直播预告 entry (L5)."""
    principal.require(CHAT)
    return panel_out(ctx, principal.shop_id, conversation_id)


@router.post(BASE + "/{conversation_id}/messages", response_model=MessageOut, tags=CS)
def agent_message(
    conversation_id: int, body: TextIn, ctx: CtxDep, principal: ServiceApp
) -> MessageOut:
    principal.require(CHAT)
    return message_out(service.agent_says(ctx, principal.shop_id, conversation_id, body.text))


@router.post(BASE + "/{conversation_id}/send_redeem_link", response_model=MessageOut, tags=CS)
def send_redeem_link(
    conversation_id: int, body: WinActionIn, ctx: CtxDep, principal: ServiceApp
) -> MessageOut:
    """L4 发送兑奖链接: refused (409) unless the win is 未兑奖 and its window is open."""
    principal.require(CHAT)
    return message_out(
        service.send_redeem_link(ctx, principal.shop_id, conversation_id, body.win_id)
    )


@router.post(BASE + "/{conversation_id}/send_order_card", response_model=MessageOut, tags=CS)
def send_order_card(
    conversation_id: int, body: WinActionIn, ctx: CtxDep, principal: ServiceApp
) -> MessageOut:
    """L4 发送订单: refused (409) unless the win is 已兑奖."""
    principal.require(CHAT)
    return message_out(
        service.send_order_card(ctx, principal.shop_id, conversation_id, body.win_id)
    )


@router.post(BASE + "/{conversation_id}/send_live_link", response_model=MessageOut, tags=CS)
def send_live_link(conversation_id: int, ctx: CtxDep, principal: ServiceApp) -> MessageOut:
    """L5 直播链接: bound shops, live now."""
    principal.require(CHAT)
    return message_out(
        service.send_live_entry(ctx, principal.shop_id, conversation_id, "live_link")
    )


@router.post(BASE + "/{conversation_id}/send_live_preview", response_model=MessageOut, tags=CS)
def send_live_preview(conversation_id: int, ctx: CtxDep, principal: ServiceApp) -> MessageOut:
    """L5 直播预告: bound shops, not live, a next live scheduled."""
    principal.require(CHAT)
    return message_out(
        service.send_live_entry(ctx, principal.shop_id, conversation_id, "live_preview")
    )


# ----- buyer side ----------------------------------------------------------------------------


@router.post(
    "/buyer/v1/service/conversations", response_model=ConversationOut, status_code=201, tags=BUYER
)
def start_conversation(body: StartConversationIn, ctx: CtxDep, buyer: BuyerDep) -> ConversationOut:
    """A buyer contacts a shop through an entry channel (抖音, 抖音极速版, 头条, web)."""
    conversation = service.start_conversation(
        ctx, buyer, body.shop_id, channel=body.channel, text=body.text
    )
    return conversation_out(conversation, buyer.nickname)


@router.post(
    "/buyer/v1/service/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    tags=BUYER,
)
def buyer_message(conversation_id: int, body: TextIn, ctx: CtxDep, buyer: BuyerDep) -> MessageOut:
    return message_out(service.buyer_says(ctx, buyer, conversation_id, body.text))


@router.get(
    "/buyer/v1/service/conversations/{conversation_id}/messages",
    response_model=list[MessageOut],
    tags=BUYER,
)
def buyer_messages(conversation_id: int, ctx: CtxDep, buyer: BuyerDep) -> list[MessageOut]:
    """The conversation's messages; an order card shows its order as it is now (L4)."""
    conversation = service.buyer_conversation(ctx.session, buyer.id, conversation_id)
    return messages_out(ctx, conversation)

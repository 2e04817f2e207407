"""Conversations, messages and the agent's context panel → API shapes (L4, L5; issue 15 M5:
every context's response mapping lives in its ``mappers.py``)."""

from __future__ import annotations

from typing import Any

from xiaodian.context import Ctx
from xiaodian.service import service
from xiaodian.service.models import CHANNELS, ChatMessage, Conversation
from xiaodian.service.schemas import (
    ActionOut,
    ConversationOut,
    LiveEntryOut,
    MessageOut,
    PanelOut,
    PanelWinOut,
)


def conversation_out(c: Conversation, nickname: str) -> ConversationOut:
    return ConversationOut(
        id=c.id,
        shop_id=c.shop_id,
        buyer_id=c.buyer_id,
        buyer_nickname=nickname,
        channel=c.channel,
        channel_label=CHANNELS.get(c.channel, c.channel),
        started_at=c.started_at,
        last_message_at=c.last_message_at,
    )


def message_out(m: ChatMessage, payload: dict[str, Any] | None = None) -> MessageOut:
    return MessageOut(
        id=m.id,
        conversation_id=m.conversation_id,
        sender=m.sender,
        kind=m.kind,
        body=m.body,
        payload=m.payload if payload is None else payload,
        created_at=m.created_at,
    )


def messages_out(ctx: Ctx, conversation: Conversation) -> list[MessageOut]:
    return [
        message_out(m, service.payload_now(ctx.session, conversation, m))
        for m in service.messages(ctx.session, conversation)
    ]


def panel_out(ctx: Ctx, shop_id: int, conversation_id: int) -> PanelOut:
    view = service.panel(ctx.session, shop_id, conversation_id, ctx.now)
    entry = view.live_entry
    return PanelOut(
        conversation=conversation_out(view.conversation, view.buyer.nickname),
        lucky_bag_button=view.lucky_bag_button,
        wins=[
            PanelWinOut(
                win_id=row.win.id,
                lucky_bag_id=row.win.lucky_bag_id,
                lucky_bag_title=row.bag_title,
                product_title=row.product_title,
                won_at=row.win.won_at,
                redeem_until=row.win.redeem_until,
                status=row.status.value,
                status_label=row.status_label,
                order_no=row.order_no,
                action=ActionOut(
                    name=row.action.name,
                    label=row.action.label,
                    enabled=row.action.enabled,
                    hint=row.action.hint,
                ),
            )
            for row in view.wins
        ],
        live_entry=None
        if entry is None
        else LiveEntryOut(
            kind=entry.kind,
            label=entry.label,
            enabled=entry.enabled,
            hint=entry.hint,
            live_id=entry.live.id if entry.live else None,
            title=entry.live.title if entry.live else None,
        ),
        messages=messages_out(ctx, view.conversation),
    )

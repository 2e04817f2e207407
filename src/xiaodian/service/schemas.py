"""API shapes for 飞鸽 conversations and the agent's context panel (L4, L5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from xiaodian.strict import RequestModel, StrictInt


class StartConversationIn(RequestModel):
    shop_id: StrictInt
    channel: str = Field(description="douyin (抖音) | douyin_lite (抖音极速版) | toutiao | web")
    text: str = Field("", max_length=1000)


class TextIn(RequestModel):
    text: str = Field(max_length=1000)


class WinActionIn(RequestModel):
    win_id: StrictInt


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    sender: str
    kind: str
    body: str
    payload: dict[str, Any]
    created_at: datetime


class ConversationOut(BaseModel):
    id: int
    shop_id: int
    buyer_id: int
    buyer_nickname: str
    channel: str
    channel_label: str
    started_at: datetime
    last_message_at: datetime


class ActionOut(BaseModel):
    name: str = Field(description="send_redeem_link | send_order_card")
    label: str
    enabled: bool
    hint: str = Field(description="the '?' explanation when disabled")


class PanelWinOut(BaseModel):
    win_id: int
    lucky_bag_id: int
    lucky_bag_title: str
    product_title: str
    won_at: datetime
    redeem_until: datetime
    status: str
    status_label: str
    order_no: str | None
    action: ActionOut


class LiveEntryOut(BaseModel):
    kind: str = Field(description="live_link (直播链接) | live_preview (直播预告)")
    label: str
    enabled: bool
    hint: str
    live_id: int | None
    title: str | None


class PanelOut(BaseModel):
    conversation: ConversationOut
    lucky_bag_button: bool = Field(description="L4: show the 中奖福袋 button")
    wins: list[PanelWinOut]
    live_entry: LiveEntryOut | None = Field(description="L5: null for shops not bound 人店一体")
    messages: list[MessageOut]

"""飞鸽 conversations between a buyer and a shop, and their messages (L4, L5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.shard import TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk

# Entry channels (进线渠道). Only the first two qualify for the 中奖福袋 button (L4).
CHANNELS: dict[str, str] = {
    "douyin": "抖音",
    "douyin_lite": "抖音极速版",
    "toutiao": "今日头条",
    "web": "网页",
}
LUCKY_BAG_CHANNELS = frozenset({"douyin", "douyin_lite"})


class Conversation(Base):
    """One buyer talking to one shop through one entry channel."""

    __tablename__ = "service_conversations"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("shop_id", "buyer_id", "channel"),
        Index("ix_service_conversations_shop_last", "shop_id", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    channel: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatMessage(Base):
    """A message in a conversation: from the buyer, or from the shop's agent (客服)."""

    __tablename__ = "service_messages"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("service_messages", "conversation_id", "service_conversations"),
        Index("ix_service_messages_conv", "shop_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    conversation_id: Mapped[int] = mapped_column(BigId)
    sender: Mapped[str] = mapped_column(String(8))  # buyer | agent
    # text | redeem_link | order_card | live_link | live_preview
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    actor: Mapped[str] = mapped_column(String(48), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

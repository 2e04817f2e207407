"""In-site notices, buyer inbox, domain events and webhook deliveries (X1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.shard import TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk


class Notice(Base):
    """站内通知: a message to the merchant's accounts."""

    __tablename__ = "notices"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_notices_shop_unread", "shop_id", "read_at", "id"),
        Index("ix_notices_shop_created", "shop_id", "created_at", "id"),  # U6 newest first,
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    category: Mapped[str] = mapped_column(String(32))  # e.g. violation, aftersale, funds
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(200), default="")
    rule: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BuyerMessage(Base):
    """A message in a buyer's inbox: text, a link, a card, a reminder."""

    __tablename__ = "buyer_messages"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_buyer_messages_buyer", "buyer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # text | link | card | reminder
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    rule: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """A domain event: the audit trail of every state change, naming the rule that made it."""

    __tablename__ = "events"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_events_shop", "shop_id", "id"),
        Index("ix_events_shop_occurred", "shop_id", "occurred_at", "id"),  # U6 newest first,
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    rule: Mapped[str | None] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(48), default="system")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)  # business clock


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (tenant_pk(),)

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(80))
    # "*" or ",type1,type2," — commas around each type so a portable LIKE can match it.
    event_types: Mapped[str] = mapped_column(String(2000), default="*")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event to one endpoint; retried with exponential backoff until delivered or failed."""

    __tablename__ = "webhook_deliveries"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("webhook_deliveries", "endpoint_id", "webhook_endpoints"),
        *tenant_fk("webhook_deliveries", "event_id", "events"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_shop", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    endpoint_id: Mapped[int] = mapped_column(BigId)
    event_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Wall clock; NULL = not tried yet, due at once (emitting needs no clock of its own).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

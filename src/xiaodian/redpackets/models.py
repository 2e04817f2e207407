"""Shop red packets 店铺红包 (SPEC §1, R1–R8).

A packet's money is always in exactly one place, so the books hold by construction:

    amount_fen = remaining_fen + spent_fen + reclaimed_fen + returned_to_balance_fen

* ``remaining_fen`` — still spendable; mirrored by the ledger account REDPACKET_FLOAT
  (Σ remaining over a shop's packets == that account's balance).
* ``spent_fen`` — used in orders and not given back (held in ORDER_ESCROW with the order).
* ``reclaimed_fen`` — R5: returned to the merchant balance by 回收.
* ``returned_to_balance_fen`` — R3: a refund/close after the packet stopped being valid gives
  the used part to the merchant balance instead of the packet.

``status`` is what the rules decided (``active`` → ``expired`` → ``reclaimed``; an extension
makes an expired packet ``active`` again). What the console shows (有效, 即将过期, 已过期,
已回收, 已用完) is derived from it at an instant, see ``service.display_status``.

Deadlines the sweeps look for are indexed columns: ``expires_at`` (R4) and ``remind_at``
(R7, cleared once the reminder for this validity period is sent).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.shard import TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk, tenant_unique


class PacketStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    RECLAIMED = "reclaimed"


class DisplayStatus(StrEnum):
    VALID = "valid"  # 有效
    EXPIRING = "expiring"  # 即将过期
    EXPIRED = "expired"  # 已过期
    RECLAIMED = "reclaimed"  # 已回收
    USED_UP = "used_up"  # 已用完


DISPLAY_LABELS: dict[str, str] = {
    DisplayStatus.VALID: "有效",
    DisplayStatus.EXPIRING: "即将过期",
    DisplayStatus.EXPIRED: "已过期",
    DisplayStatus.RECLAIMED: "已回收",
    DisplayStatus.USED_UP: "已用完",
}


class RedPacketBatch(Base):
    """One issuance (R1): one buyer or many; one ledger transaction BALANCE → REDPACKET_FLOAT
    for its total (key ``redpacket-issue:<batch id>``). ``request_id`` makes a client's retry
    of the same issuance answer with the first result instead of issuing twice."""

    __tablename__ = "redpacket_batches"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("shop_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    request_id: Mapped[str | None] = mapped_column(String(80))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # per packet
    validity_seconds: Mapped[int] = mapped_column(Integer)
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str] = mapped_column(String(200), default="")
    # Per-row results as answered the first time (a replayed request_id answers the same).
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    actor: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RedPacket(Base):
    __tablename__ = "redpackets"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("redpackets", "batch_id", "redpacket_batches"),
        CheckConstraint("remaining_fen >= 0", name="remaining_non_negative"),
        CheckConstraint("spent_fen >= 0", name="spent_non_negative"),
        CheckConstraint(
            "amount_fen = remaining_fen + spent_fen + reclaimed_fen + returned_to_balance_fen",
            name="amount_conserved",
        ),
        Index("ix_redpackets_shop_status", "shop_id", "status", "expires_at"),
        Index("ix_redpackets_due_expiry", "status", "expires_at"),
        Index("ix_redpackets_due_remind", "remind_at"),
        Index("ix_redpackets_buyer", "buyer_id", "shop_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    batch_id: Mapped[int] = mapped_column(BigId, index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    remaining_fen: Mapped[int] = mapped_column(BigInteger)
    spent_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    reclaimed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_to_balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(12), default=PacketStatus.ACTIVE)
    validity_seconds: Mapped[int] = mapped_column(Integer)  # R2/R6: the original length
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # valid iff now < expires_at
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # R7, NULL once sent
    # R7 (F7): the reminder chosen at issuance — on/off, and its lead time in hours (NULL: the
    # shop's default lead at the time it is scheduled, e.g. for packets issued before F7).
    remind_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    remind_lead_hours: Mapped[int | None] = mapped_column(Integer)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reclaimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_count: Mapped[int] = mapped_column(Integer, default=0)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RedPacketSpend(Base):
    """R3: one use of a packet on one order (checkout). ``amount_fen`` moved
    REDPACKET_FLOAT → ORDER_ESCROW (key ``redpacket-spend:<id>``); refunds and closing give
    it back, to the packet while valid, else to the merchant balance."""

    __tablename__ = "redpacket_spends"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("redpacket_spends", "packet_id", "redpackets"),
        *tenant_unique("order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    packet_id: Mapped[int] = mapped_column(BigId, index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    order_id: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    returned_to_packet_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_to_balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RedPacketLog(Base):
    """The history of a packet: every decision with its rule id and the money it moved
    (issue, spend, return_packet, return_balance, expire, reclaim, extend, remind).
    The usage-rate chart (R8) reads it."""

    __tablename__ = "redpacket_logs"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_redpacket_logs_packet", "packet_id", "id"),
        Index("ix_redpacket_logs_shop_at", "shop_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    packet_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(300), default="")
    actor: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RedPacketSettings(Base):
    """Per-shop overrides (R7: reminder lead time, default from settings)."""

    __tablename__ = "redpacket_settings"
    __shard__ = TENANT

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True)
    remind_lead_hours: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

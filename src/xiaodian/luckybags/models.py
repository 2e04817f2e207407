"""Live streams 直播, lucky bags 福袋, participants and win records 中奖记录 (SPEC §2, L1–L3, L5).

Nothing here stores a flag that time could make stale:

* a live stream is *live now* when it has started and not ended (facts ``started_at`` /
  ``ended_at``); the *next scheduled* live is the earliest not-started stream whose end lies
  ahead — both are computed from the rows and ``now``;
* a win's redemption status (未兑奖 / 已兑奖 / 兑奖失败 / 已过期) is derived from the facts
  ``order_id`` (redeemed), ``failed_at`` (risk control refused) and ``redeem_until`` vs now.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, UTCDateTime
from xiaodian.shard import TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk, tenant_unique


class LiveStream(Base):
    """直播: scheduled by the shop, then started and ended by hand (L1, L5)."""

    __tablename__ = "live_streams"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_live_streams_shop", "shop_id", "id"),
        Index("ix_live_streams_shop_start", "shop_id", "scheduled_start"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    title: Mapped[str] = mapped_column(String(60))
    scheduled_start: Mapped[datetime] = mapped_column(UTCDateTime)
    scheduled_end: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LuckyBag(Base):
    """福袋: an activity inside a live stream whose prize is one of the shop's products (L1).

    ``drawn_at`` is the fact "the draw happened" (set once by the draw sweep at ``draw_at``)."""

    __tablename__ = "lucky_bags"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("lucky_bags", "live_id", "live_streams"),
        *tenant_fk("lucky_bags", "product_id", "products"),
        Index("ix_lucky_bags_shop", "shop_id", "id"),
        Index("ix_lucky_bags_due", "drawn_at", "draw_at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    live_id: Mapped[int] = mapped_column(BigId)
    product_id: Mapped[int] = mapped_column(BigId)
    title: Mapped[str] = mapped_column(String(60))
    winners: Mapped[int] = mapped_column(Integer)
    draw_at: Mapped[datetime] = mapped_column(UTCDateTime)
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    participants_at_draw: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LuckyBagEntry(Base):
    """A buyer who joined a lucky bag during the live (参与), with the device they used."""

    __tablename__ = "lucky_bag_entries"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("lucky_bag_entries", "lucky_bag_id", "lucky_bags"),
        *tenant_unique("lucky_bag_id", "buyer_id"),
        Index("ix_lucky_bag_entries_shop", "shop_id", "lucky_bag_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    lucky_bag_id: Mapped[int] = mapped_column(BigId)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    device_id: Mapped[str] = mapped_column(String(64), default="")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LuckyBagWin(Base):
    """中奖记录: one winner of one lucky bag, and what became of its redemption (L2, L3).

    ``redeem_until`` = win time + the redemption window in force at the win (L2)."""

    __tablename__ = "lucky_bag_wins"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("lucky_bag_wins", "lucky_bag_id", "lucky_bags"),
        *tenant_fk("lucky_bag_wins", "product_id", "products"),
        *tenant_fk("lucky_bag_wins", "order_id", "orders"),
        *tenant_unique("token"),
        *tenant_unique("lucky_bag_id", "buyer_id"),
        Index("ix_lucky_bag_wins_shop", "shop_id", "id"),
        Index("ix_lucky_bag_wins_shop_buyer", "shop_id", "buyer_id", "id"),
        Index("ix_lucky_bag_wins_shop_address", "shop_id", "address_key", "redeemed_at"),
        Index("ix_lucky_bag_wins_shop_device", "shop_id", "redeem_device", "redeemed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    lucky_bag_id: Mapped[int] = mapped_column(BigId)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    product_id: Mapped[int] = mapped_column(BigId)
    # The redemption link's secret (兑奖链接): whoever holds it may redeem this one win.
    token: Mapped[str] = mapped_column(String(48))
    won_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeem_until: Mapped[datetime] = mapped_column(UTCDateTime)
    # Facts of the redemption attempt that decided it (address normalized for risk counts).
    address: Mapped[str] = mapped_column(String(300), default="")
    address_key: Mapped[str] = mapped_column(String(64), default="")
    redeem_device: Mapped[str] = mapped_column(String(64), default="")
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None] = mapped_column(BigId)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fail_code: Mapped[str] = mapped_column(String(32), default="")
    fail_reason: Mapped[str] = mapped_column(String(200), default="")

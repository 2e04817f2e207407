"""Operator accounts, their console sessions and the sanctions in force on shops (F1).

* ``platform_operators`` — the platform's staff, separate from every shop (no ``shop_id``).
* ``platform_operator_sessions`` — an operator console login: only the SHA-256 of the cookie's
  token is kept, as for the merchant console (S5), in a table of its own so a merchant session
  can never be an operator session and the reverse.
* ``platform_shop_sanctions`` — the O8 decision in force on a shop: 停业整改 (``suspended``) or
  清退 (``closed``); no row means the shop trades normally.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, UTCDateTime
from xiaodian.shard import REFERENCE, TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk


class Operator(Base):
    __tablename__ = "platform_operators"
    __shard__ = REFERENCE

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(60), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OperatorSession(Base):
    __tablename__ = "platform_operator_sessions"
    __shard__ = REFERENCE
    __table_args__ = (
        Index("ix_platform_operator_sessions_operator", "operator_id"),
        Index("ix_platform_operator_sessions_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("platform_operators.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # wall clock
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShopSanction(Base):
    """O8 停业整改 / 清退 in force on a shop (one row per shop at most)."""

    __tablename__ = "platform_shop_sanctions"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("platform_shop_sanctions", "flag_id", "shop_review_flags"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16))  # suspended | closed
    flag_id: Mapped[int | None] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(String(300), default="")
    decided_by: Mapped[str] = mapped_column(String(48))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)

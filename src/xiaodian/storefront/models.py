"""The buyer pages' sign-in sessions (issue 17, F8).

``storefront_buyer_sessions`` — a buyer signed in on the buyer pages: only the SHA-256 of the
cookie's token is kept (as for the merchant and operator consoles, S5), in a table of its own,
so a buyer page session is never a console or operator session and the reverse. Buyers are the
platform's, not a shop's: no ``shop_id``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, UTCDateTime
from xiaodian.shard import REFERENCE


class BuyerSession(Base):
    __tablename__ = "storefront_buyer_sessions"
    __shard__ = REFERENCE  # buyers are the platform's, not a shop's (M6)
    __table_args__ = (
        Index("ix_storefront_buyer_sessions_buyer", "buyer_id"),
        Index("ix_storefront_buyer_sessions_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # wall clock
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

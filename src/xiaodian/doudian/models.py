"""Access tokens and one-time authorization codes of the 抖店 dialect (issue 12, D2).

Only hashes are stored (SHA-256 of the token text): a copy of the database does not hand out
live tokens. Both tables hang off an open-API app (``api_apps``): a revoked app's tokens stop
working because every lookup joins the live app.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, UTCDateTime
from xiaodian.shard import REFERENCE, TENANT, tenant_fk, tenant_identity, tenant_pk


class DoudianToken(Base):
    """One access_token / refresh_token pair issued by ``token.create`` or ``token.refresh``."""

    __tablename__ = "doudian_tokens"
    __shard__ = REFERENCE
    __table_args__ = (
        Index("ix_doudian_tokens_shop", "shop_id", "id"),
        Index("ix_doudian_tokens_app", "app_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    app_id: Mapped[int] = mapped_column(ForeignKey("api_apps.id"))
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_type: Mapped[str] = mapped_column(String(24))
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the pair was refreshed (the old pair stops working) or the app was revoked.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DoudianAuthCode(Base):
    """A one-time ``code`` for ``token.create`` with ``grant_type=authorization_code``."""

    __tablename__ = "doudian_auth_codes"
    __shard__ = REFERENCE
    __table_args__ = (Index("ix_doudian_auth_codes_shop", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    app_id: Mapped[int] = mapped_column(ForeignKey("api_apps.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DoudianPushEndpoint(Base):
    """A webhook endpoint (X1 machinery: outbox, retries, delivery log) that receives the
    抖店 push messages (tags 100–106, 200–208) of one app, in the platform's format and
    signed with that app's secret (issue 12, D4; see ``doudian.push``)."""

    __tablename__ = "doudian_push_endpoints"
    __shard__ = TENANT
    __mapper_args__ = tenant_identity("endpoint_id")
    __table_args__ = (
        tenant_pk("endpoint_id"),
        *tenant_fk("doudian_push_endpoints", "endpoint_id", "webhook_endpoints"),
    )

    endpoint_id: Mapped[int] = mapped_column(BigId)
    app_id: Mapped[int] = mapped_column(ForeignKey("api_apps.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)

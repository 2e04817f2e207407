"""Tables of the 来客 gateway (issue 12, D5).

* ``laike_client_tokens`` — client tokens (``clt.…``) issued by ``POST /oauth/client_token/``
  to an existing API app (client_key = app key, client_secret = app secret); stored hashed,
  expiring on the product's clock.
* ``laike_push_endpoints`` — which webhook endpoints speak the 来客 dialect
  (``life_trade_certificate_notify``) and for which app (its client_secret signs them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, UTCDateTime
from xiaodian.shard import REFERENCE, TENANT, tenant_fk, tenant_identity, tenant_pk


class ClientToken(Base):
    __tablename__ = "laike_client_tokens"
    __shard__ = REFERENCE
    __table_args__ = (Index("ix_laike_client_tokens_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("api_apps.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PushEndpoint(Base):
    """A webhook endpoint (X1 machinery: outbox, retries, delivery log) that receives
    ``life_trade_certificate_notify`` in the platform's format, signed with the app's secret."""

    __tablename__ = "laike_push_endpoints"
    __shard__ = TENANT
    __mapper_args__ = tenant_identity("endpoint_id")
    __table_args__ = (
        tenant_pk("endpoint_id"),
        *tenant_fk("laike_push_endpoints", "endpoint_id", "webhook_endpoints"),
    )

    endpoint_id: Mapped[int] = mapped_column(BigId)
    app_id: Mapped[int] = mapped_column(ForeignKey("api_apps.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)

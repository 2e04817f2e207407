"""storefront: F8 buyer page sessions

Revision ID: storefront_0001
Revises: 0001
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "storefront_0001"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "storefront_buyer_sessions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("buyer_id", BIG_ID, nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["buyers.id"],
            name=op.f("fk_storefront_buyer_sessions_buyer_id_buyers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storefront_buyer_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_storefront_buyer_sessions_token_hash")),
    )
    with op.batch_alter_table("storefront_buyer_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_storefront_buyer_sessions_buyer", ["buyer_id"])
        batch_op.create_index("ix_storefront_buyer_sessions_expires", ["expires_at"])


def downgrade() -> None:
    op.drop_table("storefront_buyer_sessions")

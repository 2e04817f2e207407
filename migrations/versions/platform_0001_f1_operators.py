"""platform: F1 operator accounts, operator console sessions, shop sanctions (O8)

Revision ID: platform_0001
Revises: orders_0001
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "platform_0001"
down_revision = "orders_0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "platform_operators",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_operators")),
        sa.UniqueConstraint("username", name=op.f("uq_platform_operators_username")),
    )
    op.create_table(
        "platform_operator_sessions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("operator_id", BIG_ID, nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["platform_operators.id"],
            name=op.f("fk_platform_operator_sessions_operator_id_platform_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_operator_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_platform_operator_sessions_token_hash")),
    )
    with op.batch_alter_table("platform_operator_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_platform_operator_sessions_operator", ["operator_id"])
        batch_op.create_index("ix_platform_operator_sessions_expires", ["expires_at"])
    op.create_table(
        "platform_shop_sanctions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("shop_id", BIG_ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flag_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("decided_by", sa.String(length=48), nullable=False),
        sa.Column("decided_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_platform_shop_sanctions_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["shop_review_flags.id"],
            name=op.f("fk_platform_shop_sanctions_flag_id_shop_review_flags"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_shop_sanctions")),
        sa.UniqueConstraint("shop_id", name=op.f("uq_platform_shop_sanctions_shop_id")),
    )


def downgrade() -> None:
    op.drop_table("platform_shop_sanctions")
    op.drop_table("platform_operator_sessions")
    op.drop_table("platform_operators")

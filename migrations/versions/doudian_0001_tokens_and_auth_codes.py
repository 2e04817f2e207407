"""doudian: access tokens and one-time authorization codes (issue 12, D2)

Revision ID: doudian_0001
Revises: 0001
Create Date: 2026-12-07 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "doudian_0001"
down_revision = "0001"
branch_labels = ("doudian",)
depends_on = None


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, xiaodian.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "doudian_tokens",
        _id(),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("access_token_hash", sa.String(length=64), nullable=False),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=False),
        sa.Column("grant_type", sa.String(length=24), nullable=False),
        _at("access_expires_at"),
        _at("refresh_expires_at"),
        _at("created_at"),
        _at("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["api_apps.id"], name=op.f("fk_doudian_tokens_app_id_api_apps")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_doudian_tokens_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doudian_tokens")),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_doudian_tokens_access_token_hash")),
        sa.UniqueConstraint(
            "refresh_token_hash", name=op.f("uq_doudian_tokens_refresh_token_hash")
        ),
    )
    with op.batch_alter_table("doudian_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_doudian_tokens_app", ["app_id"], unique=False)
        batch_op.create_index("ix_doudian_tokens_shop", ["shop_id", "id"], unique=False)

    op.create_table(
        "doudian_auth_codes",
        _id(),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("app_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=48), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"], ["api_apps.id"], name=op.f("fk_doudian_auth_codes_app_id_api_apps")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_doudian_auth_codes_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doudian_auth_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_doudian_auth_codes_code_hash")),
    )
    with op.batch_alter_table("doudian_auth_codes", schema=None) as batch_op:
        batch_op.create_index("ix_doudian_auth_codes_shop", ["shop_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_table("doudian_auth_codes")
    op.drop_table("doudian_tokens")

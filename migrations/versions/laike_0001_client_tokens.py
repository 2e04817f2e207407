"""laike (抖音来客 goodlife/v1 gateway, issue 12 D5): client tokens and push endpoints

Revision ID: laike_0001
Revises: coupons_0002
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "laike_0001"
down_revision = "coupons_0002"
branch_labels = ("laike",)
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "laike_client_tokens",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("app_id", BIG, nullable=False),
        sa.Column("shop_id", BIG, nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["api_apps.id"], name=op.f("fk_laike_client_tokens_app_id_api_apps")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_laike_client_tokens_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_laike_client_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_laike_client_tokens_token_hash")),
    )
    with op.batch_alter_table("laike_client_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_laike_client_tokens_expires", ["expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_laike_client_tokens_app_id"), ["app_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_laike_client_tokens_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "laike_push_endpoints",
        sa.Column("endpoint_id", BIG, nullable=False),
        sa.Column("app_id", BIG, nullable=False),
        sa.Column("shop_id", BIG, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_laike_push_endpoints_endpoint_id_webhook_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["api_apps.id"], name=op.f("fk_laike_push_endpoints_app_id_api_apps")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_laike_push_endpoints_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_laike_push_endpoints")),
    )
    with op.batch_alter_table("laike_push_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_laike_push_endpoints_app_id"), ["app_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_laike_push_endpoints_shop_id"), ["shop_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("laike_push_endpoints")
    op.drop_table("laike_client_tokens")

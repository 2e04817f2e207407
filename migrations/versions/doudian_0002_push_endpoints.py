"""doudian push endpoints (issue 12 D4): which webhook endpoints speak the 抖店 push dialect

Revision ID: doudian_0002
Revises: doudian_0001
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "doudian_0002"
down_revision = "doudian_0001"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "doudian_push_endpoints",
        sa.Column("endpoint_id", BIG, nullable=False),
        sa.Column("app_id", BIG, nullable=False),
        sa.Column("shop_id", BIG, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_doudian_push_endpoints_endpoint_id_webhook_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["app_id"], ["api_apps.id"], name=op.f("fk_doudian_push_endpoints_app_id_api_apps")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_doudian_push_endpoints_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_doudian_push_endpoints")),
    )
    with op.batch_alter_table("doudian_push_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_doudian_push_endpoints_app_id"), ["app_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_doudian_push_endpoints_shop_id"), ["shop_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("doudian_push_endpoints")

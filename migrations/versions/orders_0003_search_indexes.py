"""orders: O1 search indexes — 手机号后四位 by expression, name prefix with pattern ops (PG)

Revision ID: orders_0003
Revises: orders_0002
Create Date: 2026-12-02 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_0003"
down_revision = "orders_0002"
branch_labels = None
depends_on = None

PHONE_TAIL_SQL = "substr(buyer_phone, length(buyer_phone) - 3)"


def upgrade() -> None:
    op.create_index(
        "ix_orders_shop_phone_tail", "orders", ["shop_id", sa.text(PHONE_TAIL_SQL)], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        # LIKE '王%' can use a btree under a non-C collation only with pattern ops.
        op.drop_index("ix_orders_shop_buyer_name", table_name="orders")
        op.create_index(
            "ix_orders_shop_buyer_name",
            "orders",
            ["shop_id", "buyer_name"],
            unique=False,
            postgresql_ops={"buyer_name": "varchar_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_orders_shop_buyer_name", table_name="orders")
        op.create_index("ix_orders_shop_buyer_name", "orders", ["shop_id", "buyer_name"])
    op.drop_index("ix_orders_shop_phone_tail", table_name="orders")

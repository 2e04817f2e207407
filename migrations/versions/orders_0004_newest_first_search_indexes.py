"""orders: O1 search indexes in the list's order — (…, created_at, id) (issue 16)

U6 orders the order list ``created_at DESC, id DESC`` (``xiaodian.timeorder``), but the
indexes of its equality filters still ended in ``id``: the first page of a filter either
sorted every matching row or walked ``ix_orders_shop_created`` backwards filtering the shop
away (有发货超时 over 1M orders: 65,157 rows removed, 174 ms). Each now ends in
``(created_at, id)``, so a first page reads 20 index entries in order:

* ``ix_orders_shop_violated``: partial ``(shop_id, created_at, id) WHERE violation_count > 0``
* ``ix_orders_shop_after_sale``: ``(shop_id, after_sale, created_at, id)``
* ``ix_orders_shop_violations``: ``(shop_id, violation_count, created_at, id)``
* new ``ix_orders_shop_status_created``: ``(shop_id, status, created_at, id)``

``ix_orders_shop_status (shop_id, status, id)`` stays: the export walks a filter's ids by
``id`` (its batches are id ranges) through a cursor, and without it 导出待发货 walked the
whole shop backwards (0.13 → 0.50 s for 110k of 510k orders, docs/benchmarks.md). The other
readers of the replaced indexes need only their leading columns (the dashboard's to-do counts;
the sweeps use their own deadline indexes).

Revision ID: orders_0004
Revises: m6_0001
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_0004"
down_revision = "m6_0001"
branch_labels = None
depends_on = None

VIOLATED = "violation_count > 0"
# (name, columns before, columns after)
PLAIN = (
    (
        "ix_orders_shop_after_sale",
        ["shop_id", "after_sale", "id"],
        ["shop_id", "after_sale", "created_at", "id"],
    ),
    (
        "ix_orders_shop_violations",
        ["shop_id", "violation_count", "id"],
        ["shop_id", "violation_count", "created_at", "id"],
    ),
)


def _violated(columns: list[str]) -> None:
    op.create_index(
        "ix_orders_shop_violated",
        "orders",
        columns,
        unique=False,
        postgresql_where=sa.text(VIOLATED),
        sqlite_where=sa.text(VIOLATED),
    )


STATUS_CREATED = ["shop_id", "status", "created_at", "id"]


def upgrade() -> None:
    op.create_index("ix_orders_shop_status_created", "orders", STATUS_CREATED, unique=False)
    for name, _before, after in PLAIN:
        op.drop_index(name, table_name="orders")
        op.create_index(name, "orders", after, unique=False)
    op.drop_index("ix_orders_shop_violated", table_name="orders")
    _violated(["shop_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_shop_violated", table_name="orders")
    _violated(["shop_id", "id"])
    for name, before, _after in reversed(PLAIN):
        op.drop_index(name, table_name="orders")
        op.create_index(name, "orders", before, unique=False)
    op.drop_index("ix_orders_shop_status_created", table_name="orders")

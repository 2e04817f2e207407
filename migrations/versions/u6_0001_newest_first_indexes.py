"""U6 (issue 13): indexes for the lists sorted newest first with stable ties

Every newest-first list sorts by ``(time, id)`` within a shop (``xiaodian.timeorder``):
notices and export records by ``created_at``, events by ``occurred_at`` (business clock),
ledger statements by ``created_at`` within an account, orders by ``created_at`` (its
``(shop_id, created_at)`` index gains ``id`` for the ties).

Revision ID: u6_0001
Revises: notify_0001, u1_0001
Create Date: 2026-12-07 15:20:00
"""

from __future__ import annotations

from alembic import op

revision = "u6_0001"
down_revision = ("notify_0001", "u1_0001")
branch_labels = None
depends_on = None

NEW = (
    ("ix_notices_shop_created", "notices", ["shop_id", "created_at", "id"]),
    ("ix_events_shop_occurred", "events", ["shop_id", "occurred_at", "id"]),
    ("ix_order_exports_shop_created", "order_exports", ["shop_id", "created_at", "id"]),
    (
        "ix_ledger_entries_account_created",
        "ledger_entries",
        ["shop_id", "account_code", "created_at", "id"],
    ),
)


def upgrade() -> None:
    for name, table, columns in NEW:
        op.create_index(name, table, columns, unique=False)
    op.drop_index("ix_orders_shop_created", table_name="orders")
    op.create_index("ix_orders_shop_created", "orders", ["shop_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_orders_shop_created", table_name="orders")
    op.create_index("ix_orders_shop_created", "orders", ["shop_id", "created_at"])
    for name, table, _columns in reversed(NEW):
        op.drop_index(name, table_name=table)

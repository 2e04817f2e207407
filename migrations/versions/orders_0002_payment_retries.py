"""orders: payment faults that raise, and payment calls looked up by reference (O5 retries)

Revision ID: orders_0002
Revises: orders_export_0001
Create Date: 2026-12-02 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orders_0002"
down_revision = "orders_export_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_faults", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("raises", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("payment_calls", schema=None) as batch_op:
        batch_op.create_index("ix_payment_calls_reference", ["shop_id", "reference"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_calls_reference")
    with op.batch_alter_table("payment_faults", schema=None) as batch_op:
        batch_op.drop_column("raises")

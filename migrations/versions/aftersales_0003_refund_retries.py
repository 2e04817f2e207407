"""aftersales: agreed refunds that failed are retried by a sweep (A6)

Revision ID: aftersales_0003
Revises: aftersales_0002
Create Date: 2026-12-02 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "aftersales_0003"
down_revision = "aftersales_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("aftersale_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refund_retry_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("refund_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_aftersale_requests_refund_retry_at", ["refund_retry_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("aftersale_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_aftersale_requests_refund_retry_at")
        batch_op.drop_column("refund_attempts")
        batch_op.drop_column("refund_retry_at")

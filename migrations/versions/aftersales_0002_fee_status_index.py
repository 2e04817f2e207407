"""aftersales: index for interception fees left unpaid (A2.3 collection sweep)

Revision ID: aftersales_0002
Revises: aftersales_0001
Create Date: 2026-11-25 07:40:00
"""

from __future__ import annotations

from alembic import op

revision = "aftersales_0002"
down_revision = "aftersales_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_aftersale_packages_fee_status", "aftersale_packages", ["fee_status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_aftersale_packages_fee_status", table_name="aftersale_packages")

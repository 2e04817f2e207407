"""redpackets: the reminder chosen at issuance — on/off and lead time per packet (F7, R7)

Revision ID: redpackets_0002
Revises: redpackets_0001
Create Date: 2026-12-07 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "redpackets_0002"
down_revision = "redpackets_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("redpackets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remind_enabled", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("remind_lead_hours", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("redpackets", schema=None) as batch_op:
        batch_op.drop_column("remind_lead_hours")
        batch_op.drop_column("remind_enabled")

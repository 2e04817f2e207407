"""S2: open-API apps get scopes (api_apps.scopes); existing apps keep every scope but simulation

Revision ID: s2_0001
Revises: 0001
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s2_0001"
down_revision = "0001"
branch_labels = None
depends_on = None

# Apps created before scopes existed could call every route: they keep every scope except
# simulation (the /sim controls were unauthenticated; they are now an explicit choice). Kept
# literal here: a migration must not change when the code's catalog does.
LEGACY_SCOPES = (
    "shop,orders,aftersales,funds,marketing,coupons,verification,service,notices,webhooks"
)


def upgrade() -> None:
    with op.batch_alter_table("api_apps") as batch:
        batch.add_column(
            sa.Column("scopes", sa.String(length=300), nullable=False, server_default=LEGACY_SCOPES)
        )
    # New apps always say their scopes (the code's default is the minimal set): no default.
    with op.batch_alter_table("api_apps") as batch:
        batch.alter_column("scopes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("api_apps") as batch:
        batch.drop_column("scopes")

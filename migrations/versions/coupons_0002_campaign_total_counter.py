"""coupons: campaign-wide total issuance counter (C3 total_limit caps all coupons together)

Revision ID: coupons_0002
Revises: coupons_0001
Create Date: 2026-12-02 02:30:00

Until now ``total_limit`` was enforced per coupon of a campaign; SPEC C3 lists it among the
campaign's own fields ("total issuance limit"), so it now caps the campaign's claims of every
coupon together. The counter starts from the claims already made.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "coupons_0002"
down_revision = "coupons_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coupon_campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE coupon_campaigns SET claimed = COALESCE(("
        "SELECT SUM(cc.claimed) FROM coupon_campaign_coupons cc "
        "WHERE cc.campaign_id = coupon_campaigns.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("coupon_campaigns", schema=None) as batch_op:
        batch_op.drop_column("claimed")

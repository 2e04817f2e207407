"""coupons: one-time links that bind a verifier's phone (issue 17, F4)

Revision ID: coupons_0003_f4
Revises: m6_0001 (after the M6 keys: the table is written in each engine's form, see
docs/scaling.md — PostgreSQL keys it by (id, shop_id), SQLite as before M6)
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import xiaodian.db

revision = "coupons_0003_f4"
down_revision = "m6_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "coupon_staff_links",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shop_id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("expires_at", xiaodian.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", xiaodian.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_coupon_staff_links_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id", "shop_id"] if pg else ["staff_id"],
            ["staff.id", "staff.shop_id"] if pg else ["staff.id"],
            name=op.f("fk_coupon_staff_links_staff_id_staff"),
        ),
        sa.PrimaryKeyConstraint(
            *(["id", "shop_id"] if pg else ["id"]), name=op.f("pk_coupon_staff_links")
        ),
        sa.UniqueConstraint(
            *(["token_hash", "shop_id"] if pg else ["token_hash"]),
            name=op.f(
                "uq_coupon_staff_links_token_hash_shop_id"
                if pg
                else "uq_coupon_staff_links_token_hash"
            ),
        ),
    )
    with op.batch_alter_table("coupon_staff_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_staff_links_shop_id"), ["shop_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coupon_staff_links_staff_id"), ["staff_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon_staff_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_staff_links_staff_id"))
        batch_op.drop_index(batch_op.f("ix_coupon_staff_links_shop_id"))
    op.drop_table("coupon_staff_links")

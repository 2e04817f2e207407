"""M6 (issue 15): every tenant table keyed by shop — ready to distribute by ``shop_id``

On PostgreSQL, for each tenant table (``xiaodian.shard``):

* the primary key becomes ``(<old key>, shop_id)`` (``id`` keeps its sequence: still unique;
  ``shop_id`` last, so the key's index still finds a row by ``id`` alone);
* each unique constraint that lacked ``shop_id`` gains it, last (``orders.order_no``,
  ``coupon_claims.code`` … are unique within a shop; a lookup by the code alone keeps its
  index);
* each foreign key between tenant tables becomes ``(x_id, shop_id) → parent (id, shop_id)``.

Only constraints change: every row stays as it is. Adding a composite foreign key checks the
existing rows, so a child row whose ``shop_id`` differs from its parent's stops the upgrade
(there is none when the rows were written by this application).

On SQLite this migration does nothing: SQLite is never sharded, and its DDL stays as before
M6 (``xiaodian.shard`` compiles the old key there and the models keep one constraint per
engine).

Revision ID: m6_0001
Revises: aftersales_0003, doudian_0002, laike_0001, luckybags_0001, platform_0001,
    redpackets_0002, s2_0001, s4_s5_0001, u6_0001
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m6_0001"
# One line: runtime.script_heads reads it without importing Alembic (K5).
down_revision = ("aftersales_0003", "doudian_0002", "laike_0001", "luckybags_0001", "platform_0001", "redpackets_0002", "s2_0001", "s4_s5_0001", "u6_0001")  # fmt: skip  # noqa: E501
branch_labels = None
depends_on = None

# (table, key before M6): the key becomes (*key, shop_id).
PRIMARY_KEYS = (
    ("events", ("id",)),
    ("ledger_txns", ("id",)),
    ("payment_calls", ("id",)),
    ("redpacket_logs", ("id",)),
    ("aftersale_strategies", ("id",)),
    ("buyer_messages", ("id",)),
    ("coupon_campaigns", ("id",)),
    ("coupon_images", ("id",)),
    ("coupons", ("id",)),
    ("ledger_entries", ("id",)),
    ("live_streams", ("id",)),
    ("notices", ("id",)),
    ("order_exports", ("id",)),
    ("orders", ("id",)),
    ("products", ("id",)),
    ("redpacket_batches", ("id",)),
    ("service_conversations", ("id",)),
    ("staff", ("id",)),
    ("stores", ("id",)),
    ("webhook_endpoints", ("id",)),
    ("aftersale_packages", ("id",)),
    ("aftersale_requests", ("id",)),
    ("coupon_campaign_coupons", ("id",)),
    ("coupon_campaign_stores", ("campaign_id", "store_id")),
    ("coupon_claims", ("id",)),
    ("coupon_staff_tokens", ("id",)),
    ("doudian_push_endpoints", ("endpoint_id",)),
    ("laike_push_endpoints", ("endpoint_id",)),
    ("lucky_bags", ("id",)),
    ("order_export_codes", ("id",)),
    ("order_items", ("id",)),
    ("order_refunds", ("id",)),
    ("order_status_history", ("id",)),
    ("order_violations", ("id",)),
    ("redpackets", ("id",)),
    ("service_messages", ("id",)),
    ("shop_review_flags", ("id",)),
    ("staff_stores", ("staff_id", "store_id")),
    ("webhook_deliveries", ("id",)),
    ("aftersale_carrier_log", ("id",)),
    ("aftersale_evidence", ("id",)),
    ("aftersale_history", ("id",)),
    ("aftersale_package_items", ("id",)),
    ("coupon_claim_counters", ("campaign_coupon_id", "buyer_id")),
    ("coupon_verifications", ("id",)),
    ("lucky_bag_entries", ("id",)),
    ("lucky_bag_wins", ("id",)),
    ("platform_shop_sanctions", ("id",)),
    ("redpacket_spends", ("id",)),
)

# (table, columns unique before M6): unique (*columns, shop_id) after.
UNIQUES = (
    ("orders", ("order_no",)),
    ("aftersale_packages", ("order_id", "seq")),
    ("coupon_campaign_coupons", ("campaign_id", "coupon_id")),
    ("coupon_claims", ("code",)),
    ("coupon_staff_tokens", ("token_hash",)),
    ("order_violations", ("order_id", "seq")),
    ("shop_review_flags", ("order_id",)),
    ("aftersale_package_items", ("package_id", "order_item_id")),
    ("lucky_bag_entries", ("lucky_bag_id", "buyer_id")),
    ("lucky_bag_wins", ("token",)),
    ("lucky_bag_wins", ("lucky_bag_id", "buyer_id")),
    ("redpacket_spends", ("order_id",)),
)

# (table, column, parent): column → parent.id before, (column, shop_id) → parent after.
FOREIGN_KEYS = (
    ("ledger_entries", "txn_id", "ledger_txns"),
    ("aftersale_packages", "order_id", "orders"),
    ("aftersale_requests", "order_id", "orders"),
    ("coupon_campaign_coupons", "campaign_id", "coupon_campaigns"),
    ("coupon_campaign_coupons", "coupon_id", "coupons"),
    ("coupon_campaign_stores", "store_id", "stores"),
    ("coupon_campaign_stores", "campaign_id", "coupon_campaigns"),
    ("coupon_claims", "coupon_id", "coupons"),
    ("coupon_claims", "campaign_id", "coupon_campaigns"),
    ("coupon_staff_tokens", "staff_id", "staff"),
    ("doudian_push_endpoints", "endpoint_id", "webhook_endpoints"),
    ("laike_push_endpoints", "endpoint_id", "webhook_endpoints"),
    ("lucky_bags", "live_id", "live_streams"),
    ("lucky_bags", "product_id", "products"),
    ("order_export_codes", "export_id", "order_exports"),
    ("order_items", "product_id", "products"),
    ("order_items", "order_id", "orders"),
    ("order_refunds", "order_id", "orders"),
    ("order_status_history", "order_id", "orders"),
    ("order_violations", "order_id", "orders"),
    ("redpackets", "batch_id", "redpacket_batches"),
    ("service_messages", "conversation_id", "service_conversations"),
    ("shop_review_flags", "order_id", "orders"),
    ("staff_stores", "store_id", "stores"),
    ("staff_stores", "staff_id", "staff"),
    ("webhook_deliveries", "event_id", "events"),
    ("webhook_deliveries", "endpoint_id", "webhook_endpoints"),
    ("aftersale_carrier_log", "package_id", "aftersale_packages"),
    ("aftersale_evidence", "request_id", "aftersale_requests"),
    ("aftersale_history", "request_id", "aftersale_requests"),
    ("aftersale_package_items", "package_id", "aftersale_packages"),
    ("aftersale_package_items", "order_item_id", "order_items"),
    ("coupon_claim_counters", "campaign_coupon_id", "coupon_campaign_coupons"),
    ("coupon_verifications", "claim_id", "coupon_claims"),
    ("coupon_verifications", "staff_id", "staff"),
    ("coupon_verifications", "store_id", "stores"),
    ("lucky_bag_entries", "lucky_bag_id", "lucky_bags"),
    ("lucky_bag_wins", "product_id", "products"),
    ("lucky_bag_wins", "order_id", "orders"),
    ("lucky_bag_wins", "lucky_bag_id", "lucky_bags"),
    ("platform_shop_sanctions", "flag_id", "shop_review_flags"),
    ("redpacket_spends", "packet_id", "redpackets"),
)


def _fk_name(table: str, column: str, parent: str) -> str:
    return op.f(f"fk_{table}_{column}_{parent}")


def _uq_name(table: str, columns: tuple[str, ...]) -> str:
    return op.f(f"uq_{table}_{'_'.join(columns)}")


def _drop_foreign_keys(columns_of: dict[str, list[str]]) -> None:
    """Drop the tenant-to-tenant foreign keys as they are in the database (by their columns)."""
    inspector = sa.inspect(op.get_bind())
    for table, column, parent in FOREIGN_KEYS:
        for fk in inspector.get_foreign_keys(table):
            if (
                fk["referred_table"] == parent
                and fk["constrained_columns"] == columns_of[f"{table}.{column}"]
            ):
                op.drop_constraint(fk["name"], table, type_="foreignkey")


def _drop_uniques(with_shop: bool) -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in UNIQUES:
        wanted = [*columns, "shop_id"] if with_shop else list(columns)
        for unique in inspector.get_unique_constraints(table):
            if unique["column_names"] == wanted:
                op.drop_constraint(unique["name"], table, type_="unique")


def _replace_primary_keys(with_shop: bool) -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in PRIMARY_KEYS:
        name = inspector.get_pk_constraint(table)["name"]
        op.drop_constraint(name, table, type_="primary")
        key = [*columns, "shop_id"] if with_shop else list(columns)
        op.create_primary_key(op.f(f"pk_{table}"), table, key)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: DDL unchanged (see the docstring)
    _drop_foreign_keys({f"{t}.{c}": [c] for t, c, _ in FOREIGN_KEYS})
    _drop_uniques(with_shop=False)
    _replace_primary_keys(with_shop=True)
    for table, columns in UNIQUES:
        op.create_unique_constraint(
            _uq_name(table, (*columns, "shop_id")), table, [*columns, "shop_id"]
        )
    for table, column, parent in FOREIGN_KEYS:
        op.create_foreign_key(
            _fk_name(table, column, parent),
            table,
            parent,
            [column, "shop_id"],
            ["id", "shop_id"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _drop_foreign_keys({f"{t}.{c}": [c, "shop_id"] for t, c, _ in FOREIGN_KEYS})
    _drop_uniques(with_shop=True)
    _replace_primary_keys(with_shop=False)
    for table, columns in UNIQUES:
        op.create_unique_constraint(_uq_name(table, columns), table, list(columns))
    for table, column, parent in FOREIGN_KEYS:
        op.create_foreign_key(_fk_name(table, column, parent), table, parent, [column], ["id"])

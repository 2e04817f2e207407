"""M6 (issue 15): the schema is ready to be distributed by shop (Citus, ``shop_id``).

The metadata test is the rule for every table, present and future: a table is a tenant table
or a reference table, and a tenant table's primary key, unique constraints and foreign keys
to other tenant tables include ``shop_id``. The database tests prove the migration did it on
PostgreSQL (and left SQLite's DDL alone) without losing a row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian.accounts.models import Buyer, Shop
from xiaodian.db import get_owned, make_engine
from xiaodian.errors import NotFound
from xiaodian.models import metadata
from xiaodian.orders.models import Order, OrderItem, Product
from xiaodian.runtime import upgrade
from xiaodian.shard import REFERENCE, TENANT, citus_commands, shard_problems

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PRE_M6 = (
    "aftersales_0003",
    "doudian_0002",
    "laike_0001",
    "luckybags_0001",
    "platform_0001",
    "redpackets_0002",
    "s2_0001",
    "s4_s5_0001",
    "u6_0001",
)


def test_M6_every_table_is_tenant_or_reference_and_keyed_by_shop() -> None:
    problems = shard_problems(metadata)
    assert problems == [], "M6 (docs/scaling.md) — change these tables:\n" + "\n".join(problems)


def test_M6_global_tables_are_reference_tables_and_shop_data_is_tenant() -> None:
    kinds = {name: table.info.get("shard") for name, table in metadata.tables.items()}
    for name in (
        "shops",
        "users",
        "api_apps",
        "buyers",
        "platform_operators",
        "sim_clock",
        "system_state",
    ):
        assert kinds[name] == REFERENCE, name
    for name in ("orders", "order_items", "coupon_claims", "ledger_entries", "redpackets"):
        assert kinds[name] == TENANT, name
        key = [c.name for c in metadata.tables[name].primary_key.columns]
        assert key[-1] == "shop_id", (name, key)


def test_M6_the_rule_says_what_to_change_in_a_table_that_breaks_it() -> None:
    """A table added without following M6 fails the metadata test with the fix spelled out."""
    md = MetaData()
    Table("shops", md, Column("id", Integer, primary_key=True), info={"shard": REFERENCE})
    Table(
        "parcels",
        md,
        Column("id", BigInteger, primary_key=True),
        Column("shop_id", ForeignKey("shops.id"), nullable=False),
        Column("code", String(20)),
        UniqueConstraint("code"),
        info={"shard": TENANT},
    )
    Table(
        "parcel_lines",
        md,
        Column("id", BigInteger, primary_key=True),
        Column("shop_id", BigInteger, nullable=False),
        Column("parcel_id", ForeignKey("parcels.id")),
        info={"shard": TENANT},
    )
    Table("parcel_notes", md, Column("id", Integer, primary_key=True), info={"shard": TENANT})
    Table(
        "couriers",
        md,
        Column("id", Integer, primary_key=True),
        Column("parcel_id", ForeignKey("parcels.id")),
        info={"shard": REFERENCE},
    )
    Table("loose", md, Column("id", Integer, primary_key=True))

    problems = "\n".join(shard_problems(md))

    assert "loose: declares no shard" in problems and "`__shard__ = TENANT`" in problems
    assert "parcels: primary key (id) lacks shop_id. Put `tenant_pk()`" in problems
    assert "`__mapper_args__ = TENANT_IDENTITY`" in problems
    assert "parcels: unique constraint (code) lacks shop_id. Replace `unique=True` / " in problems
    assert '`*tenant_unique("code")`' in problems
    assert '`*tenant_fk("parcel_lines", "parcel_id", "parcels")`' in problems
    assert "parcel_notes: a tenant table needs a non-null shop_id column" in problems
    assert "couriers.parcel_id -> parcels: a reference table cannot point at a tenant" in problems
    # The SQLite form of the same models (original keys) breaks the rule: the check reads them.
    assert len(shard_problems(metadata, dialect="sqlite")) > 40


def test_M6_the_database_is_keyed_by_shop(engine: Engine) -> None:
    """PostgreSQL: the migrated database itself passes the rule (keys, uniques, foreign keys
    as reflected). SQLite: its DDL is the one from before M6 (``id`` alone, the rowid)."""
    upgrade(engine)
    kinds = {name: table.info["shard"] for name, table in metadata.tables.items()}
    if engine.dialect.name == "postgresql":
        reflected = MetaData()
        reflected.reflect(engine, only=list(kinds))
        problems = shard_problems(reflected, kinds)
        assert problems == [], "\n".join(problems)
        return
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("orders")["constrained_columns"] == ["id"]
    assert inspector.get_unique_constraints("coupon_claims")[0]["column_names"] == ["code"]


@pytest.fixture
def scratch(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the engine under test (a new file, or a new PostgreSQL database)."""
    if engine.dialect.name != "postgresql":
        fresh = make_engine(f"sqlite:///{tmp_path / 'm6.db'}")
        yield fresh
        fresh.dispose()
        return
    name = f"xiaodian_m6_{os.getpid()}"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    fresh = make_engine(engine.url.set(database=name).render_as_string(hide_password=False))
    try:
        yield fresh
    finally:
        fresh.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))


def _add(conn: Any, table: Table, **values: Any) -> int:
    return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


def _order(conn: Any, shop_id: int, buyer_id: int, order_no: str) -> int:
    return _add(
        conn,
        Order.__table__,
        shop_id=shop_id,
        order_no=order_no,
        buyer_id=buyer_id,
        buyer_name="王小明",
        buyer_phone="13800000000",
        address="上海市",
        payment_route="wechat",
        goods_fen=1000,
        status="awaiting_shipment",
        created_at=NOW,
    )


def test_M6_the_migration_keeps_every_row_and_the_rows_keep_their_ids(scratch: Engine) -> None:
    for revision in PRE_M6:
        upgrade(scratch, revision)
    with scratch.begin() as conn:
        shop = _add(conn, Shop.__table__, name="一号店", created_at=NOW)
        other = _add(conn, Shop.__table__, name="二号店", created_at=NOW)
        buyer = _add(
            conn, Buyer.__table__, douyin_id="dy1", nickname="小明", token_hash="h", created_at=NOW
        )
        product = _add(
            conn,
            Product.__table__,
            shop_id=shop,
            title="茶叶",
            price_fen=1000,
            stock=5,
            created_at=NOW,
        )
        order = _order(conn, shop, buyer, "2612070000000000001")
        item = _add(
            conn,
            OrderItem.__table__,
            shop_id=shop,
            order_id=order,
            product_id=product,
            title="茶叶",
            qty=1,
            unit_price_fen=1000,
            amount_fen=1000,
        )

    upgrade(scratch, "m6_0001")

    with Session(scratch) as session:
        assert session.get(Order, order) is not None
        assert get_owned(session, Order, shop, order, ("订单", "Order")).order_no.endswith("1")
        with pytest.raises(NotFound):
            get_owned(session, Order, other, order, ("订单", "Order"))
        line = session.scalars(select(OrderItem).where(OrderItem.order_id == order)).one()
        assert (line.id, line.shop_id, line.product_id) == (item, shop, product)
        added = Order(
            shop_id=shop,
            order_no="2612070000000000002",
            buyer_id=buyer,
            buyer_name="王小明",
            buyer_phone="13800000000",
            address="上海市",
            payment_route="wechat",
            goods_fen=1000,
            status="awaiting_shipment",
            created_at=NOW,
        )
        session.add(added)
        session.flush()
        assert added.id > order  # the sequence / rowid carries on
        session.rollback()

    if scratch.dialect.name != "postgresql":
        key = inspect(scratch).get_pk_constraint("order_items")["constrained_columns"]
        assert key == ["id"]  # SQLite: nothing changed
        return
    inspector = inspect(scratch)
    assert inspector.get_pk_constraint("order_items")["constrained_columns"] == ["id", "shop_id"]
    # A line can no longer point at another shop's order (the composite foreign key) …
    with pytest.raises(IntegrityError), scratch.begin() as conn:
        _add(
            conn,
            OrderItem.__table__,
            shop_id=other,
            order_id=order,
            product_id=product,
            title="茶叶",
            qty=1,
            unit_price_fen=1000,
            amount_fen=1000,
        )
    # … and an order number is unique within its shop (the shard's own constraint).
    with pytest.raises(IntegrityError), scratch.begin() as conn:
        _order(conn, shop, buyer, "2612070000000000001")

    # Back down and up again: the downgrade restores the pre-M6 keys with the rows.
    from alembic import command

    from xiaodian.runtime import alembic_config

    command.downgrade(alembic_config(scratch), "u6_0001")  # one step: the merge undone
    assert inspect(scratch).get_pk_constraint("orders")["constrained_columns"] == ["id"]
    upgrade(scratch, "m6_0001")
    with scratch.connect() as conn:
        assert conn.execute(select(Order.__table__.c.id)).scalars().all() == [order]


def test_M6_scaling_doc_gives_the_distribution_commands_for_every_table() -> None:
    """docs/scaling.md carries the Citus commands for the current schema (reference tables,
    then tenant tables colocated, parents first). A new table: paste
    ``python -m xiaodian.shard`` into the page."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "scaling.md").read_text("utf-8")
    commands = citus_commands(metadata)
    block = "```sql\n" + "\n".join(commands) + "\n```"
    assert block in doc, "docs/scaling.md: replace the ```sql block by `python -m xiaodian.shard`"
    assert len(commands) == len(metadata.tables)
    first_tenant = next(i for i, c in enumerate(commands) if "create_distributed_table" in c)
    assert all("create_reference_table" in c for c in commands[:first_tenant])
    assert commands[first_tenant] == "SELECT create_distributed_table('orders', 'shop_id');"
    position = {c.split("'")[1]: i for i, c in enumerate(commands)}
    for table in metadata.tables.values():
        for fk in table.foreign_key_constraints:
            assert position[fk.referred_table.name] < position[table.name], (table.name, fk)


@pytest.mark.postgres_only
def test_M6_lookups_by_id_or_by_a_code_alone_keep_an_index(pg_only: None, engine: Engine) -> None:
    """shop_id comes last in the new keys: ``session.get`` by id and a look-up by a token or
    an order number alone still probe an index, not a scan of every shop's rows."""
    upgrade(engine)
    probes = {
        "SELECT * FROM orders WHERE id = 1": "pk_orders",
        "SELECT * FROM order_items WHERE id = 1": "pk_order_items",
        "SELECT * FROM orders WHERE order_no = 'x'": "uq_orders_order_no_shop_id",
        "SELECT * FROM lucky_bag_wins WHERE token = 'x'": "uq_lucky_bag_wins_token_shop_id",
        "SELECT * FROM coupon_staff_tokens WHERE token_hash = 'x'": (
            "uq_coupon_staff_tokens_token_hash_shop_id"
        ),
    }
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        for query, index in probes.items():
            plan = "\n".join(conn.execute(text(f"EXPLAIN {query}")).scalars())
            assert index in plan, (query, plan)


def test_M6_sqlite_ddl_from_the_models_is_the_one_from_before(tmp_path: Path) -> None:
    """The models' own DDL on SQLite (``metadata.create_all``) keeps ``id`` as the rowid key
    and the original constraints, equal to what the migrations build there."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from xiaodian.shard import include_object

    fresh = make_engine(f"sqlite:///{tmp_path / 'models.db'}")
    try:
        metadata.create_all(fresh)
        inspector = inspect(fresh)
        assert inspector.get_pk_constraint("orders")["constrained_columns"] == ["id"]
        assert inspector.get_pk_constraint("staff_stores")["constrained_columns"] == [
            "staff_id",
            "store_id",
        ]
        with fresh.connect() as conn:
            opts = {"compare_type": True, "include_object": include_object("sqlite")}
            context = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(context, metadata) == []
        with Session(fresh) as session:
            shop = Shop(name="一号店", created_at=NOW)
            session.add(shop)
            session.flush()
            product = Product(shop_id=shop.id, title="茶", price_fen=1, stock=1, created_at=NOW)
            session.add(product)
            session.flush()
            assert product.id == 1  # the rowid still numbers the rows
            session.commit()
    finally:
        fresh.dispose()

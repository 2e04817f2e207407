"""M6: the schema is ready to be distributed by shop (Citus, ``shop_id`` as distribution column).

Every table declares what it is, as a class attribute read into ``Table.info["shard"]``:

* ``__shard__ = TENANT`` — one shop's rows (orders, coupons, ledgers …). It has a non-null
  ``shop_id``; its primary key and every unique constraint include ``shop_id``; a foreign key
  to another tenant table is ``(x_id, shop_id) → parent (id, shop_id)`` (:func:`tenant_fk`), so
  a row and its parent always live on the same shard. On Citus it becomes
  ``create_distributed_table('<table>', 'shop_id', colocate_with => 'orders')``
  (docs/scaling.md, :func:`citus_commands`).
* ``__shard__ = REFERENCE`` — global rows (shops, accounts, apps, buyers, operators, the clock,
  settings): replicated to every node (``create_reference_table``). A reference table never
  points at a tenant table.

``tests/test_M6_shard_ready.py`` reads the metadata and names what to change in any table that
breaks the rule.

SQLite needs no sharding and cannot autoincrement a composite primary key, so on SQLite the
DDL stays as it was before M6: :func:`tenant_pk` compiles to the old key there (``id`` stays
the rowid alias), and :func:`tenant_unique` / :func:`tenant_fk` give one constraint per engine
(``ddl_if``): the shop-scoped one on PostgreSQL, the original one on SQLite (stricter: unique
across all shops). :func:`include_object` makes Alembic compare only the constraints of the
engine it looks at. ``id`` stays globally unique (one sequence), and the ORM identity of a
tenant row stays ``id`` alone (``__mapper_args__ = TENANT_IDENTITY``): ``session.get(Model, id)``
works unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import (
    ForeignKeyConstraint,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.elements import conv

TENANT: Final = "tenant"
REFERENCE: Final = "reference"
SHARD_KINDS: Final = (TENANT, REFERENCE)
SHARD_COLUMN: Final = "shop_id"


def tenant_identity(*columns: str) -> dict[str, Any]:
    """``__mapper_args__`` of a tenant model: the ORM identity is the key without ``shop_id``
    (``id`` by default), so ``session.get(Model, id)`` works as before M6."""
    return {"primary_key": list(columns or ("id",))}


# The ORM identity of a tenant row keyed by ``id``: ``id`` alone (the table key is (id, shop_id)).
TENANT_IDENTITY: Final[dict[str, Any]] = tenant_identity()

_SQLITE_COLUMNS = "sqlite_columns"
_DIALECT = "dialect"


def tenant_pk(*columns: str) -> PrimaryKeyConstraint:
    """The primary key ``(*columns, shop_id)`` (default ``(id, shop_id)``); on SQLite
    ``(*columns)``. ``shop_id`` comes last so that the key's index still serves a lookup by
    ``id`` alone (``session.get``) as well as by ``(id, shop_id)``."""
    columns = columns or ("id",)
    key = PrimaryKeyConstraint(*columns, SHARD_COLUMN)
    key.info[_SQLITE_COLUMNS] = columns
    return key


def tenant_unique(*columns: str) -> tuple[UniqueConstraint, UniqueConstraint]:
    """UNIQUE ``(*columns, shop_id)`` on PostgreSQL — unique within a shop, and its index
    still serves a lookup by ``columns`` alone (a token, an order number); the original
    UNIQUE ``(*columns)`` on SQLite (unique across shops there, as before M6)."""
    scoped = UniqueConstraint(*columns, SHARD_COLUMN, info={_DIALECT: "postgresql"})
    scoped.ddl_if(dialect="postgresql")
    legacy = UniqueConstraint(*columns, info={_DIALECT: "sqlite"})
    legacy.ddl_if(dialect="sqlite")
    return scoped, legacy


def tenant_fk(
    table: str, column: str, parent: str, parent_column: str = "id"
) -> tuple[ForeignKeyConstraint, ForeignKeyConstraint]:
    """``(column, shop_id) → parent (parent_column, shop_id)`` on PostgreSQL; the original
    ``column → parent (parent_column)`` on SQLite. Both carry the name the single-column key
    had (``fk_<table>_<column>_<parent>``)."""
    name = conv(f"fk_{table}_{column}_{parent}")  # as op.f(): shortened with a hash if long
    scoped = ForeignKeyConstraint(
        [column, SHARD_COLUMN],
        [f"{parent}.{parent_column}", f"{parent}.{SHARD_COLUMN}"],
        name=name,
        info={_DIALECT: "postgresql"},
    )
    scoped.ddl_if(dialect="postgresql")
    legacy = ForeignKeyConstraint(
        [column], [f"{parent}.{parent_column}"], name=name, info={_DIALECT: "sqlite"}
    )
    legacy.ddl_if(dialect="sqlite")
    return scoped, legacy


def applies_to(constraint: Any, dialect: str) -> bool:
    """Whether ``constraint`` (or index) is created on ``dialect`` (see ``tenant_unique``)."""
    wanted = getattr(constraint, "info", {}).get(_DIALECT)
    return wanted is None or wanted == dialect


def include_object(dialect: str) -> Any:
    """Alembic ``include_object`` hook: compare only this engine's constraints from the
    models (what the database has is always compared)."""

    def include(obj: Any, _name: Any, _type: str, reflected: bool, _compare_to: Any) -> bool:
        return reflected or applies_to(obj, dialect)

    return include


def shard_problems(
    metadata: MetaData, kinds: Mapping[str, str] | None = None, dialect: str = "postgresql"
) -> list[str]:
    """What keeps ``metadata`` from being distributed by shop, one line per problem, each
    saying what to change (empty: ready). ``kinds`` maps table → ``TENANT``/``REFERENCE``
    (default: each table's ``info["shard"]``, set from the model's ``__shard__``); only the
    constraints created on ``dialect`` count (the sharded engine is PostgreSQL/Citus)."""
    kind_of = dict(kinds) if kinds is not None else {}
    for table in metadata.tables.values():
        kind_of.setdefault(table.name, table.info.get("shard", ""))
    problems: list[str] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        kind = kind_of.get(table.name, "")
        if kind not in SHARD_KINDS:
            problems.append(
                f"{table.name}: declares no shard. In its model class set `__shard__ = TENANT` "
                "(one shop's rows) or `__shard__ = REFERENCE` (global rows, replicated to every "
                "node), both from xiaodian.shard."
            )
            continue
        if kind == REFERENCE:
            problems.extend(_reference_problems(table, kind_of, dialect))
        else:
            problems.extend(_tenant_problems(table, kind_of, dialect))
    return problems


def _reference_problems(table: Table, kind_of: Mapping[str, str], dialect: str) -> list[str]:
    return [
        f"{table.name}.{', '.join(fk.column_keys)} -> {fk.referred_table.name}: a reference "
        "table cannot point at a tenant table (Citus refuses it). Make "
        f"{table.name} a tenant table (`__shard__ = TENANT`) or drop the foreign key."
        for fk in table.foreign_key_constraints
        if applies_to(fk, dialect) and kind_of.get(fk.referred_table.name) == TENANT
    ]


def _tenant_problems(table: Table, kind_of: Mapping[str, str], dialect: str) -> list[str]:
    name = table.name
    shop = table.columns.get(SHARD_COLUMN)
    if shop is None or shop.nullable:
        return [
            f"{name}: a tenant table needs a non-null {SHARD_COLUMN} column. Add "
            '`shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))` and a migration '
            "that fills it from the parent row; then key the table by shop (tenant_pk)."
        ]
    problems: list[str] = []
    key = [c.name for c in table.primary_key.columns]
    if SHARD_COLUMN not in key:
        rest = ", ".join(f'"{c}"' for c in key if c != "id")
        problems.append(
            f"{name}: primary key ({', '.join(key)}) lacks {SHARD_COLUMN}. Put `tenant_pk({rest})` "
            "first in `__table_args__`, drop `primary_key=True` from the column(s), set "
            f"`__mapper_args__ = {'TENANT_IDENTITY' if not rest else f'tenant_identity({rest})'}`; "
            "in the migration (PostgreSQL) drop the key and create it on "
            f"({', '.join(key)}, {SHARD_COLUMN}) as m6_0001 does."
        )
    uniques: list[tuple[str, list[str]]] = [
        ("unique constraint", [c.name for c in u.columns])
        for u in table.constraints
        if isinstance(u, UniqueConstraint) and applies_to(u, dialect)
    ]
    uniques += [
        (f"unique index {i.name}", [c.name for c in i.columns])
        for i in table.indexes
        if i.unique and applies_to(i, dialect)
    ]
    for what, columns in uniques:
        if SHARD_COLUMN not in columns:
            listed = ", ".join(f'"{c}"' for c in columns)
            problems.append(
                f"{name}: {what} ({', '.join(columns)}) lacks {SHARD_COLUMN}. Replace "
                f"`unique=True` / `UniqueConstraint({listed})` by `*tenant_unique({listed})` in "
                f"`__table_args__` (UNIQUE ({', '.join(columns)}, {SHARD_COLUMN}) on PostgreSQL); "
                "code that finds a row by these columns must know the shop."
            )
    for fk in table.foreign_key_constraints:
        parent = fk.referred_table.name
        if not applies_to(fk, dialect) or kind_of.get(parent) != TENANT:
            continue
        pairs = {e.parent.name: e.column.name for e in fk.elements}
        if pairs.get(SHARD_COLUMN) != SHARD_COLUMN:
            column = next((c for c in pairs if c != SHARD_COLUMN), "?")
            problems.append(
                f"{name}.{column} -> {parent}: a foreign key between tenant tables must include "
                f"{SHARD_COLUMN}. Declare the column `mapped_column(BigId)` (no ForeignKey) and "
                f'add `*tenant_fk("{name}", "{column}", "{parent}")` to `__table_args__` '
                f"(({column}, {SHARD_COLUMN}) -> {parent} ({pairs[column]}, {SHARD_COLUMN}))."
            )
    return problems


# The tenant table every other one is colocated with (its parents are reference tables only).
COLOCATION_ANCHOR: Final = "orders"


def citus_commands(metadata: MetaData) -> list[str]:
    """The statements that distribute this schema on Citus (docs/scaling.md): reference
    tables first, then the tenant tables by ``shop_id``, all in one colocation group, each
    after the tables it points at."""
    tables = metadata.sorted_tables  # parents before children
    reference = [t.name for t in tables if t.info.get("shard") == REFERENCE]
    tenant = [t.name for t in tables if t.info.get("shard") == TENANT]
    commands = [f"SELECT create_reference_table('{name}');" for name in reference]
    if tenant:
        anchor = COLOCATION_ANCHOR if COLOCATION_ANCHOR in tenant else tenant[0]
        commands.append(f"SELECT create_distributed_table('{anchor}', '{SHARD_COLUMN}');")
        commands += [
            f"SELECT create_distributed_table('{name}', '{SHARD_COLUMN}', "
            f"colocate_with => '{anchor}');"
            for name in tenant
            if name != anchor
        ]
    return commands


@compiles(PrimaryKeyConstraint, "sqlite")
def _sqlite_primary_key(constraint: PrimaryKeyConstraint, compiler: Any, **kw: Any) -> str:
    columns = constraint.info.get(_SQLITE_COLUMNS)
    if not columns:
        return str(compiler.visit_primary_key_constraint(constraint, **kw))
    text = ""
    if constraint.name is not None:
        text = f"CONSTRAINT {compiler.preparer.format_constraint(constraint)} "
    return text + f"PRIMARY KEY ({', '.join(compiler.preparer.quote(c) for c in columns)})"


@compiles(CreateColumn, "sqlite")
def _sqlite_column(element: CreateColumn, compiler: Any, **kw: Any) -> str:
    """A tenant key column on SQLite: plain ``INTEGER NOT NULL`` (the key is the old one;
    SQLAlchemy's SQLite compiler refuses autoincrement inside a composite key)."""
    column = element.element
    table = column.table
    if column.primary_key and table is not None and table.primary_key.info.get(_SQLITE_COLUMNS):
        kind = compiler.type_compiler.process(column.type, type_expression=column)
        return f"{compiler.preparer.format_column(column)} {kind} NOT NULL"
    return str(compiler.visit_create_column(element, **kw))


if __name__ == "__main__":  # python -m xiaodian.shard: the block for docs/scaling.md
    import xiaodian.models  # noqa: F401  (every context's tables on the metadata)
    from xiaodian.db import Base

    print("\n".join(citus_commands(Base.metadata)))

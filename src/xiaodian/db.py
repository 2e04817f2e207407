"""Engine, sessions, declarative base and the portable column types.

The same code runs on the embedded SQLite file and on PostgreSQL. Two differences are
handled here, once:

* SQLite keeps no timezone, so ``UTCDateTime`` stores naive UTC and hands back aware UTC.
* SQLite has one writer; every transaction starts with ``BEGIN IMMEDIATE`` so two writers
  queue on ``busy_timeout`` instead of failing half-way when a reader upgrades to a writer.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    create_engine,
    event,
    text,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from xiaodian.config import DatabaseRules

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, on every engine."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """M6: a model's ``__shard__`` (``xiaodian.shard``) goes into its table's info."""
        super().__init_subclass__(**kwargs)
        shard = cls.__dict__.get("__shard__")
        table = cls.__dict__.get("__table__")
        if shard is not None and table is not None:
            table.info["shard"] = shard


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def make_engine(url: str, database: DatabaseRules | None = None, **kwargs: Any) -> Engine:
    """The engine for ``url``. With ``database`` (what ``Runtime`` passes), the pool keeps
    ``database.pool_size`` connections and opens no others (W5: the API admits as many requests
    at once, see ``api.app.InFlightLimit``; a connection opened and closed per request was the
    collapse at 100 clients) and, on PostgreSQL, every session is bounded and watched (W2): a
    statement timeout, the server's periodic check that the client is still connected during a
    query, TCP keep-alives, and a connect timeout (W4)."""
    if database is not None:
        kwargs.setdefault("pool_size", database.pool_size)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", database.pool_timeout_seconds)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        _sqlite_serialized_writes(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    if database is not None:
        kwargs.setdefault("connect_args", postgres_connect_args(database))
    engine = create_engine(url, json_serializer=_json_dumps, pool_pre_ping=True, **kwargs)
    _name_sessions(engine)
    return engine


def _name_sessions(engine: Engine) -> None:
    """Issue 16: every PostgreSQL session says which process and thread opened it
    (``application_name`` ``xiaodian <pid> <thread>``, seen in ``pg_stat_activity``): with
    ``serve --workers N`` an operator sees the N HTTP workers' pools and the one scheduler.
    A name the environment gives (libpq's ``PGAPPNAME``) wins: whoever set it chose it."""

    @event.listens_for(engine, "do_connect")
    def _on_connect(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        if os.environ.get("PGAPPNAME"):
            return
        name = f"xiaodian {os.getpid()} {threading.current_thread().name}"
        params.setdefault("application_name", name[:63])


def postgres_connect_args(database: DatabaseRules) -> dict[str, Any]:
    """libpq parameters for W2/W4 (see ``DatabaseRules``)."""
    options = [f"-c statement_timeout={int(database.statement_timeout_seconds * 1000)}"]
    if database.client_connection_check_interval_seconds > 0:
        interval = int(database.client_connection_check_interval_seconds * 1000)
        options.append(f"-c client_connection_check_interval={interval}")
    return {
        "connect_timeout": database.connect_timeout_seconds,
        "keepalives": 1,
        "keepalives_idle": database.keepalives_idle_seconds,
        "keepalives_interval": database.keepalives_interval_seconds,
        "keepalives_count": database.keepalives_count,
        "options": " ".join(options),
    }


def _sqlite_serialized_writes(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_database_unavailable(exc: BaseException) -> bool:
    """W2/W4: the database cannot be reached or dropped the connection (restart, network,
    pool exhausted, statement cancelled) — a condition that passes, unlike a bug."""
    return isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
    )


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_PARALLEL = "max_parallel_workers_per_gather"


@contextmanager
def serial_plans(session: Session) -> Iterator[None]:
    """PostgreSQL: the statements inside are planned without parallel workers, then the
    transaction's setting is what it was. Why (issue 16, O1 bench): a first page (LIMIT 20)
    the planner believes costly gets a Gather Merge, and starting its two workers took about
    30 ms on a 2-core server, while the serial plan read a few hundred index entries in 5 ms.
    A page is small by design; parallel workers never pay for themselves there."""
    if not is_postgres(session):
        yield
        return
    was = session.scalar(text("SELECT current_setting(:name)"), {"name": _PARALLEL})
    session.execute(text("SELECT set_config(:name, '0', true)"), {"name": _PARALLEL})
    yield
    # Not in a ``finally``: after a failed statement the transaction only rolls back (which
    # ends a local setting too), and a statement sent now would hide the first error.
    session.execute(text("SELECT set_config(:name, :was, true)"), {"name": _PARALLEL, "was": was})


def rowcount(result: Any) -> int:
    """The rows an UPDATE or DELETE matched (issue 15 M3: the one place that reads
    ``CursorResult.rowcount``, which ``Session.execute``'s type does not show); 0 when the
    driver reports none."""
    return int(getattr(result, "rowcount", 0) or 0)


def insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either engine (rows that already exist stay)."""
    if rows:
        session.execute(_on_conflict_do_nothing(session, table), rows)


def insert_if_absent(session: Session, table: Any, row: dict[str, Any]) -> bool:
    """Insert one row unless its key exists; True if this call inserted it. A concurrent
    insert of the same key waits for the first transaction, then finds the row."""
    primary_key = next(iter(table.primary_key.columns))
    statement = _on_conflict_do_nothing(session, table).returning(primary_key)
    return session.execute(statement, row).first() is not None


def insert_select_if_absent_statement(
    dialect: str, table: Any, columns: list[str], source: Any
) -> Any:
    """``INSERT INTO table (columns) SELECT … ON CONFLICT DO NOTHING RETURNING key``: a row
    comes back if one went in (none: the key exists, or ``source`` selected nothing). SQLite
    needs ``source`` to have a WHERE clause (a parsing ambiguity with a join's ON)."""
    primary_key = next(iter(table.primary_key.columns))
    statement = _dialect_insert(dialect, table).from_select(columns, source)
    return statement.on_conflict_do_nothing().returning(primary_key)


def _on_conflict_do_nothing(session: Session, table: Any) -> Any:
    dialect = "postgresql" if is_postgres(session) else "sqlite"
    return _dialect_insert(dialect, table).on_conflict_do_nothing()


def _dialect_insert(dialect: str, table: Any) -> Any:
    """The INSERT construct that knows ON CONFLICT on this engine."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


class ShopOwned(Protocol):
    """A row that belongs to one shop (every tenant table, M6)."""

    @property
    def shop_id(self) -> int: ...


OwnedT = TypeVar("OwnedT", bound=ShopOwned)


def get_owned(
    session: Session, model: type[OwnedT], shop_id: int, ident: Any, what: tuple[str, str]
) -> OwnedT:
    """The row of ``model`` with primary key ``ident`` if it belongs to ``shop_id``; otherwise
    NotFound — another shop's object is indistinguishable from a missing one (X2)."""
    from xiaodian.errors import NotFound

    row = session.get(model, ident)
    if row is None or row.shop_id != shop_id:
        raise NotFound(what[0], what[1], ident)
    return row

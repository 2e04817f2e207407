"""The Alembic migrations build exactly the schema the models describe, on this engine."""

from __future__ import annotations

import os
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from xiaodian.db import make_engine
from xiaodian.models import metadata
from xiaodian.runtime import upgrade
from xiaodian.shard import include_object


def _compare_options(engine: Engine) -> dict[str, object]:
    """As migrations/env.py: the models' constraints of this engine (M6, ``xiaodian.shard``)."""
    return {"compare_type": True, "include_object": include_object(engine.dialect.name)}


def test_migrations_match_models(engine: Engine) -> None:
    upgrade(engine)  # idempotent: the app runs it on every start
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=_compare_options(engine))
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ: {diff}"


@pytest.mark.postgres_only
def test_processes_starting_together_migrate_a_fresh_database_once(
    pg_only: None, engine: Engine
) -> None:
    """Several API/worker processes started at once on a new PostgreSQL database: one
    migrates, the others wait on the advisory lock and find the schema current."""
    name = f"xiaodian_migrate_race_{os.getpid()}"
    admin = engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    fresh = make_engine(engine.url.set(database=name).render_as_string(hide_password=False))
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        barrier.wait()
        try:
            upgrade(fresh)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with fresh.connect() as conn:
            context = MigrationContext.configure(conn, opts=_compare_options(fresh))
            assert compare_metadata(context, metadata) == []
    finally:
        fresh.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))

"""The Alembic migrations build exactly the schema the models describe, on this engine."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from xiaodian.models import metadata
from xiaodian.runtime import upgrade


def test_migrations_match_models(engine: Engine) -> None:
    upgrade(engine)  # idempotent: the app runs it on every start
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ: {diff}"

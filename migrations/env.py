"""Alembic environment: migrates the engine handed in by ``xiaodian.runtime.upgrade``, or
the URL from XIAODIAN_DATABASE_URL when run as ``alembic`` from the command line."""

from __future__ import annotations

from alembic import context

from xiaodian.config import get_settings
from xiaodian.db import make_engine
from xiaodian.models import metadata
from xiaodian.shard import include_object

config = context.config
engine = config.attributes.get("engine") or make_engine(get_settings().database_url)

with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # W2's statement timeout bounds sweeps and requests, not a migration's index build.
        connection.exec_driver_sql("SET statement_timeout = 0")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # M6: the models hold one form of a tenant constraint per engine (xiaodian.shard).
        include_object=include_object(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()

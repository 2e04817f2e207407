"""The assembled system: settings, database engine, session factory and clocks.

One ``Runtime`` is built per process (API server, worker, CLI command, test) and passed down.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from xiaodian.clock import Clock, SimulatedClock, SystemClock
from xiaodian.config import Settings, get_settings
from xiaodian.context import Ctx
from xiaodian.db import make_engine, make_sessionmaker, transaction

if TYPE_CHECKING:
    from alembic.config import Config

# One advisory-lock id for migrations ("xiaodian" in ASCII, +1).
MIGRATION_LOCK = 0x78696164_69616E01


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    clock: Clock
    wall: Clock = field(default_factory=SystemClock)

    @classmethod
    def create(
        cls, settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = True
    ) -> Runtime:
        settings = settings or get_settings()
        engine = make_engine(settings.database_url, settings.database)
        if migrate:
            upgrade(engine)
            settings = with_installation_secret(settings, engine)
        if clock is None:
            clock = SimulatedClock(engine) if settings.clock_mode == "simulated" else SystemClock()
        return cls(settings=settings, engine=engine, factory=make_sessionmaker(engine), clock=clock)

    @property
    def simulated(self) -> bool:
        return isinstance(self.clock, SimulatedClock)

    @contextmanager
    def unit(self, actor: str = "system") -> Iterator[Ctx]:
        """One service operation: a transaction and the instant it happens at."""
        now = self.clock.now()
        with transaction(self.factory) as session:
            yield Ctx(session=session, now=now, settings=self.settings, actor=actor)


def with_installation_secret(settings: Settings, engine: Engine) -> Settings:
    """Settings whose ``secret_key`` (console cookies, C7 verify tokens) is read once per
    process: XIAODIAN_SECRET_KEY, else the secret the database keeps for this installation
    (the same for every process), instead of a query on each use."""
    if settings.secret_key:
        return settings
    from xiaodian.accounts.service import installation_secret

    with transaction(make_sessionmaker(engine)) as session:
        secret = installation_secret(session)
    return settings.model_copy(update={"secret_key": secret})


def migrations_dir() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "migrations", here.parent / "_migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("Alembic migrations directory not found")


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(.+)$", re.M)


def script_heads() -> set[str] | None:
    """The heads of the migration scripts, read from their ``revision`` / ``down_revision``
    lines without importing Alembic or the models (K5); None when a file does not read plainly
    (the caller then asks Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations_dir() / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        value = down.group(1).split("#")[0].strip()
        if value.startswith(("(", "[")) and not value.endswith((")", "]")):
            return None
        revisions.add(revision.group(1))
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", value))
    return (revisions - parents) or None


def schema_is_current(engine: Engine) -> bool:
    """True when the database's Alembic versions are exactly the scripts' heads: a command
    can then skip Alembic (about 0.3 s of imports) — K5, the CLI starts fast."""
    heads = script_heads()
    if heads is None:
        return False
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            stored = {row[0] for row in rows}
    except SQLAlchemyError:  # no version table yet, or unreachable: let Alembic decide
        return False
    return stored == heads


def upgrade(engine: Engine, revision: str = "heads", *, force: bool = False) -> None:
    """Bring the schema to ``revision`` (idempotent; the app runs it on start).

    Each bounded context owns a branch of migrations rooted at the foundation revision, so
    the default target is every head. On PostgreSQL several processes starting at once take
    turns (a session advisory lock): the first migrates, the others find the schema current.
    A schema already at every head is left alone without loading Alembic unless ``force``."""
    if revision == "heads" and not force and schema_is_current(engine):
        return
    from alembic import command

    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), revision)
        return
    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            lock.commit()

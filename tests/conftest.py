"""Test harness: real databases, real HTTP, real clock objects.

* SQLite (a real file) by default; PostgreSQL when ``XIAODIAN_TEST_DATABASE_URL`` (or
  ``--db-url``) is set. The schema is built by the real Alembic migrations once per run, and
  every table is emptied between tests.
* ``rt`` is a Runtime whose business clock and wall clock are ``ManualClock`` objects the test
  can move.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies import models as fastapi_dependency_models
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from xiaodian.accounts import service as accounts
from xiaodian.accounts.scopes import APP_SCOPES
from xiaodian.api.app import create_app
from xiaodian.clock import ManualClock
from xiaodian.config import Settings, SmsSettings
from xiaodian.db import Base, make_engine, make_sessionmaker
from xiaodian.models import metadata
from xiaodian.runtime import Runtime, upgrade
from xiaodian.signing import signed_headers

# The browser harness (live_server, browser, browser_page): browser tests live beside the
# other tests of their context (M7: test folders mirror the source), so its fixtures are global.
pytest_plugins = ["tests.browser"]

CLASSIFICATION_CACHES = (
    "_is_gen_callable_cached",
    "_is_async_gen_callable_cached",
    "_is_coroutine_callable_cached",
)

START = datetime(2026, 11, 2, 2, 0, 0, tzinfo=UTC)  # 10:00 Asia/Shanghai, a Monday


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Let each test's app go. FastAPI keeps every dependency callable it classified in
    module-level ``lru_cache``s (4,096 entries each); our dependencies are closures over their
    app, so every app a test built stayed alive — by the end of the suite ~900 apps and 2.6 GB,
    every full garbage collection walked them all and the last one took minutes. A server builds
    one app, so only the tests need this."""
    for name in CLASSIFICATION_CACHES:
        cached = getattr(fastapi_dependency_models, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db-url", default=None, help="database URL to test against")


@pytest.fixture(scope="session")
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = request.config.getoption("--db-url") or os.environ.get("XIAODIAN_TEST_DATABASE_URL")
    if url:
        return str(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite file the ``xiaodian`` CLI reads from XIAODIAN_DATABASE_URL (wide
    terminal for tables); the cached settings are dropped before and after."""
    from xiaodian.config import get_settings

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("XIAODIAN_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def is_pg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@pytest.fixture
def pg_only(is_pg: bool) -> None:
    if not is_pg:
        pytest.skip(
            "needs PostgreSQL: set XIAODIAN_TEST_DATABASE_URL (real concurrent connections)"
        )


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # The 演示手机 stands in for the SMS provider (F3): tests read the codes it receives.
    return Settings(
        database_url=db_url,
        clock_mode="system",
        secret_key="test-secret-key",
        sms=SmsSettings(demo_phone=True),
    )


@pytest.fixture
def rt(engine: Engine, settings: Settings) -> Iterator[Runtime]:
    _empty_all_tables(engine)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=ManualClock(START),
        wall=ManualClock(datetime.now(UTC).replace(microsecond=0)),
    )
    yield runtime


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt), raise_server_exceptions=False) as test_client:
        yield test_client


class SignedClient:
    """An ERP client: signs every request the way README tells ISVs to."""

    def __init__(self, client: TestClient, rt: Runtime, app_key: str, secret: str) -> None:
        self.client, self.rt, self.app_key, self.secret = client, rt, app_key, secret

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        signed = signed_headers(
            self.app_key,
            self.secret,
            method,
            path,
            raw,
            timestamp=int(self.rt.wall.now().timestamp()),
        )
        signed.update(headers)
        if raw:
            signed["Content-Type"] = "application/json"
        return self.client.request(method, path, content=raw, headers=signed)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)


@dataclass
class ShopFixture:
    shop_id: int
    user_id: int
    username: str
    password: str
    app_key: str
    secret: str
    api: SignedClient


@pytest.fixture
def make_shop(rt: Runtime, client: TestClient) -> Any:
    counter = {"n": 0}

    def _make(name: str | None = None, **kwargs: Any) -> ShopFixture:
        counter["n"] += 1
        n = counter["n"]
        password = "secret-pass-1"
        with rt.unit() as ctx:
            shop, user = accounts.create_shop(
                ctx,
                name=name or f"测试小店{n}",
                username=f"owner{n}",
                password=password,
                phone=f"1380000000{n % 10}",
                **kwargs,
            )
            # Every scope (S2): the contexts' tests call every route; tests/api/test_scopes.py
            # proves the refusals with apps of their own.
            app = accounts.create_app(ctx, shop.id, "ERP", APP_SCOPES)
            ids = (shop.id, user.id, app.app_key, app.secret)
        return ShopFixture(
            shop_id=ids[0],
            user_id=ids[1],
            username=f"owner{n}",
            password=password,
            app_key=ids[2],
            secret=ids[3],
            api=SignedClient(client, rt, ids[2], ids[3]),
        )

    return _make


@pytest.fixture
def shop(make_shop: Any) -> ShopFixture:
    result: ShopFixture = make_shop("抖音好物小店")
    return result


__all__ = ["START", "Base", "ShopFixture", "SignedClient"]

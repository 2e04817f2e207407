"""Never a 500 under load: more requests at once than pooled connections queue on the event
loop instead of stalling the process until the pool times out (a real uvicorn server, a
small pool, many concurrent signed requests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Connection, text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from xiaodian.api.app import create_app, requests_in_flight_limit
from xiaodian.api.deps import _check_signature, _Nonce
from xiaodian.clock import SystemClock
from xiaodian.config import Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.runtime import Runtime
from xiaodian.signing import api_signature, signed_headers

POOL = 2


def _small_pool_runtime(settings: Settings, wait: float = 10.0) -> Runtime:
    """A runtime built the way ``Runtime.create`` builds one: the engine sized by the
    settings (W5: ``database.pool_size`` is the one setting)."""
    tuned = settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"pool_size": POOL, "pool_timeout_seconds": 3}
            ),
            "api": settings.api.model_copy(update={"admission_wait_seconds": wait}),
        }
    )
    engine = make_engine(tuned.database_url, tuned.database)
    return Runtime(
        settings=tuned, engine=engine, factory=make_sessionmaker(engine), clock=SystemClock()
    )


@contextmanager
def _serving(served: Runtime) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        served.engine.dispose()


@pytest.fixture
def small_pool_server(rt: Runtime, settings: Settings) -> Iterator[tuple[str, Runtime]]:
    served = _small_pool_runtime(settings, wait=120)  # a burst of 120 on a shared machine
    with _serving(served) as base:
        yield base, served


def test_W5_the_pool_size_is_the_admission_limit_and_the_only_connections(
    settings: Settings,
) -> None:
    """W5: one setting: ``database.pool_size`` connections kept, none opened beyond them, and
    as many requests admitted at once."""
    runtime = _small_pool_runtime(settings)
    try:
        assert requests_in_flight_limit(runtime) == POOL == runtime.engine.pool.size()
        held = [runtime.engine.connect() for _ in range(POOL)]
        with pytest.raises(PoolTimeout):  # no overflow: a third connection is never opened
            runtime.engine.connect()
        for connection in held:
            connection.close()
    finally:
        runtime.engine.dispose()
    with pytest.raises(ValueError):
        Settings(database={"pool_size": 0})


def _hold_the_nonce_table(rt: Runtime) -> Connection:
    """A transaction of the test's own that makes every signed request's nonce write wait:
    on PostgreSQL an exclusive lock on ``api_nonces``, on SQLite the one writer's lock."""
    connection = rt.engine.connect()
    if rt.engine.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE api_nonces IN EXCLUSIVE MODE"))
    else:
        connection.execute(
            text(
                "INSERT INTO api_nonces (app_key, nonce, expires_at) "
                "VALUES ('hold', 'hold-the-writer', '2100-01-01')"
            )
        )
    return connection


def _signed_get(base: str, shop: Any, path: str = "/api/v1/shop") -> httpx.Response:
    headers = signed_headers(
        shop.app_key, shop.secret, "GET", path, b"", timestamp=int(time.time())
    )
    return httpx.get(base + path, headers=headers, timeout=60)


def test_W5_a_request_beyond_the_limit_queues_then_gets_503_with_retry_after(
    rt: Runtime, settings: Settings, shop: Any
) -> None:
    """W5: with every place in the app taken (``POOL`` requests stuck on a lock), the next
    request waits ``api.admission_wait_seconds`` and is answered 503 ``overloaded`` with
    ``Retry-After``; the stuck ones finish 200 once the lock goes, and the app admits again."""
    served = _small_pool_runtime(settings, wait=0.5)
    with _serving(served) as base:
        holder = _hold_the_nonce_table(rt)
        try:
            with ThreadPoolExecutor(POOL + 1) as pool:
                stuck = [pool.submit(_signed_get, base, shop) for _ in range(POOL)]
                time.sleep(0.5)  # let them in (they now wait on the lock inside the app)
                beyond = _signed_get(base, shop)
                assert not any(f.done() for f in stuck)
                holder.rollback()
                holder.close()
                assert [f.result().status_code for f in stuck] == [200] * POOL
        finally:
            holder.close()
        assert beyond.status_code == 503
        assert beyond.headers["retry-after"] == str(settings.api.retry_after_seconds)
        assert beyond.headers["content-type"].startswith("application/problem+json")
        assert beyond.json()["code"] == "overloaded"
        assert _signed_get(base, shop).status_code == 200


def test_W5_a_queued_request_is_served_when_a_place_frees_within_the_wait(
    rt: Runtime, settings: Settings, shop: Any
) -> None:
    """W5: the wait is a queue, not a refusal: a request arriving while the app is full is
    served as soon as a place frees (here: the lock goes while it waits)."""
    served = _small_pool_runtime(settings, wait=30)
    with _serving(served) as base:
        holder = _hold_the_nonce_table(rt)
        try:
            with ThreadPoolExecutor(POOL + 1) as pool:
                stuck = [pool.submit(_signed_get, base, shop) for _ in range(POOL)]
                time.sleep(0.5)
                queued = pool.submit(_signed_get, base, shop)
                time.sleep(0.5)
                assert not queued.done()
                holder.rollback()
                holder.close()
                assert [f.result().status_code for f in [*stuck, queued]] == [200] * (POOL + 1)
        finally:
            holder.close()


def _commit_modes(rt: Runtime, shop: Any, methods: tuple[str, ...]) -> list[str]:
    """The synchronous_commit each signed request's transaction runs with."""
    seen = []
    for i, method in enumerate(methods):
        with rt.unit() as ctx:
            nonce = _Nonce(shop.app_key, f"w5-{method}-{i}-{id(seen)}xx", rt.wall.now())
            stamp = str(int(rt.wall.now().timestamp()))
            signature = api_signature(shop.secret, method, "/api/v1/shop", stamp, nonce.nonce, b"")
            _check_signature(ctx, {}, (method, "/api/v1/shop", b""), (stamp, signature), nonce)
            seen.append(ctx.session.execute(text("SHOW synchronous_commit")).scalar_one())
    return seen


def test_W5_a_signed_read_commits_without_waiting_for_the_wal_a_write_waits(
    rt: Runtime, shop: Any, pg_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """W5: by default every commit waits for the WAL (measured faster on an idle disk); with
    api.async_read_commits on, the one write of a signed GET (its nonce) is committed with
    synchronous_commit off for that transaction only, and a POST keeps the durable commit."""
    assert _commit_modes(rt, shop, ("GET", "POST")) == ["on", "on"]
    api = rt.settings.api.model_copy(update={"async_read_commits": True})
    monkeypatch.setattr(rt, "settings", rt.settings.model_copy(update={"api": api}))
    assert _commit_modes(rt, shop, ("GET", "POST", "GET")) == ["off", "on", "off"]


def test_X2_a_burst_larger_than_pool_and_thread_pool_is_served_without_errors(
    small_pool_server: tuple[str, Runtime], shop: Any
) -> None:
    base, _served = small_pool_server

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=150, max_keepalive_connections=150)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

            async def one(_: int) -> int:
                headers = signed_headers(
                    shop.app_key,
                    shop.secret,
                    "GET",
                    "/api/v1/shop",
                    b"",
                    timestamp=int(time.time()),
                )
                return (await client.get("/api/v1/shop", headers=headers)).status_code

            return list(await asyncio.gather(*(one(i) for i in range(120))))

    codes: list[int] = []
    # A thread of its own: a browser test earlier in the session (Playwright's sync API) may
    # leave an event loop running in this one, where asyncio.run() refuses to start.
    runner = threading.Thread(target=lambda: codes.extend(asyncio.run(burst())))
    runner.start()
    runner.join()
    assert codes == [200] * 120

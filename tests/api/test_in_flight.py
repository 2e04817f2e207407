"""Never a 500 under load: more requests at once than pooled connections queue on the event
loop instead of stalling the process until the pool times out (a real uvicorn server, a
small pool, many concurrent signed requests)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from xiaodian.api.app import create_app, requests_in_flight_limit
from xiaodian.clock import SystemClock
from xiaodian.config import Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.runtime import Runtime
from xiaodian.signing import signed_headers

POOL = 2


def _small_pool_runtime(settings: Settings, limit: int) -> Runtime:
    engine = make_engine(settings.database_url, pool_size=POOL, max_overflow=0, pool_timeout=3)
    tuned = settings.model_copy(
        update={"api": settings.api.model_copy(update={"max_requests_in_flight": limit})}
    )
    return Runtime(
        settings=tuned, engine=engine, factory=make_sessionmaker(engine), clock=SystemClock()
    )


@pytest.fixture
def small_pool_server(rt: Runtime, settings: Settings) -> Iterator[tuple[str, Runtime]]:
    served = _small_pool_runtime(settings, limit=0)
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
    yield f"http://127.0.0.1:{port}", served
    server.should_exit = True
    thread.join(timeout=10)
    served.engine.dispose()


def test_W5_default_limit_is_the_pool_size(settings: Settings) -> None:
    """W5: by default one admitted request per kept connection (was: pool capacity − 1,
    which let in more requests than kept connections)."""
    expected = {0: POOL, -1: 0, 7: 7}  # setting → requests let in at once (0: no limit)
    for configured, limit in expected.items():
        runtime = _small_pool_runtime(settings, limit=configured)
        assert requests_in_flight_limit(runtime) == limit
        runtime.engine.dispose()


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


def test_W5_a_limit_above_the_pool_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"database\.pool_size"):
        Settings(api={"max_requests_in_flight": 11}, database={"pool_size": 10})
    coherent = Settings(api={"max_requests_in_flight": 10}, database={"pool_size": 10})
    assert coherent.api.max_requests_in_flight == coherent.database.pool_size

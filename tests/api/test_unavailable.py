"""W4: a database that cannot be reached answers 503 problem+json ``unavailable`` with
Retry-After (API and console), ``/healthz`` names the dependency that is down, and an error
response never drops the client's keep-alive connection (a real uvicorn)."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from xiaodian.api.app import create_app
from xiaodian.clock import SystemClock
from xiaodian.config import Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.runtime import Runtime
from xiaodian.signing import signed_headers
from xiaodian.web.session import TOKEN_KEY


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable() -> Iterator[Runtime]:
    """The app on a PostgreSQL address where nothing listens (a stopped server)."""
    settings = Settings(
        database_url=f"postgresql+psycopg://xiaodian:x@127.0.0.1:{_free_port()}/gone",
        secret_key="test-secret-key",
        api={"retry_after_seconds": 7},
        database={"pool_timeout_seconds": 2, "connect_timeout_seconds": 2},
    )
    engine = make_engine(settings.database_url, settings.database)
    yield Runtime(
        settings=settings, engine=engine, factory=make_sessionmaker(engine), clock=SystemClock()
    )
    engine.dispose()


def test_W4_unreachable_database_answers_503_problem_with_retry_after(
    unreachable: Runtime,
) -> None:
    with TestClient(create_app(unreachable), raise_server_exceptions=False) as client:
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.headers["retry-after"] == "7"
        body = health.json()
        assert body["status"] == "unavailable" and body["down"] == ["database"]
        assert body["checks"]["database"]["status"] == "down"
        assert body["checks"]["database"]["error"]

        path = "/api/v1/funds"
        signed = client.get(path, headers=signed_headers("app_x", "secret", "GET", path, b""))
        assert signed.status_code == 503
        assert signed.headers["content-type"].startswith("application/problem+json")
        assert signed.headers["retry-after"] == "7"
        assert signed.json()["code"] == "unavailable"
        assert "稍后重试" in signed.json()["message_zh"]


def test_W4_console_page_of_a_logged_in_user_answers_503_page(unreachable: Runtime) -> None:
    """A console page whose user must be loaded from the database: a Chinese 503 page with
    Retry-After, not the 500 page."""
    cookie = TimestampSigner("test-secret-key").sign(
        base64.b64encode(json.dumps({TOKEN_KEY: "a-session-token"}).encode())
    )
    with TestClient(create_app(unreachable), raise_server_exceptions=False) as client:
        client.cookies.set("xiaodian_session", cookie.decode())
        page = client.get("/console/orders", follow_redirects=False)
        assert page.status_code == 503, page.text[:300]
        assert page.headers["retry-after"] == "7"
        assert page.headers["content-type"].startswith("text/html")
        assert "服务暂时不可用" in page.text


def _serve(app: FastAPI) -> Iterator[int]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def served(unreachable: Runtime) -> Iterator[int]:
    app = create_app(unreachable)

    @app.get("/boom-for-test")
    def boom() -> Any:
        raise RuntimeError("a bug")

    yield from _serve(app)


def test_W4_error_responses_keep_the_connection_open(served: int) -> None:
    """500s and 503s, one after another on ONE keep-alive connection: each gets its answer
    and the next request on the same socket is answered too (before: uvicorn closed the
    connection after each 500, and the next request on it got no answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    conn.connect()
    first_socket = conn.sock
    statuses = []
    funds = "/api/v1/funds"
    for path in ["/boom-for-test", "/healthz", funds, "/boom-for-test"] * 3:
        headers = signed_headers("app_x", "secret", "GET", funds, b"") if path == funds else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        assert response.getheader("connection", "").lower() != "close"
    assert statuses == [500, 503, 503, 500] * 3
    assert conn.sock is first_socket
    conn.close()

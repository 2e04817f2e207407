"""Issue 16: a request to a fixed path reaches its route by one lookup (``api/route_index.py``)
— the same route, the same scope and the same answer as FastAPI's scan of every route."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import ShopFixture
from xiaodian.api.route_index import RouteIndex


def _index(client: TestClient) -> RouteIndex:
    index = client.app.router.middleware_stack  # type: ignore[attr-defined]
    assert isinstance(index, RouteIndex)
    return index


def _call(app: Any, method: str, path: str) -> tuple[dict[str, Any], int, list[Any], bytes]:
    """One unsigned request through the whole app; the scope as the app left it."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", b"0")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    answer: dict[str, Any] = {"body": b""}
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return scope, answer["status"], sorted(answer["headers"]), answer["body"]


def _via_scan(client: TestClient, method: str, path: str) -> Any:
    index = _index(client)
    router = client.app.router  # type: ignore[attr-defined]
    router.middleware_stack = index.scan
    try:
        return _call(client.app, method, path)
    finally:
        router.middleware_stack = index


def test_16_every_indexed_path_gets_the_route_and_answer_of_the_scan(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200  # the table is built on a first request
    index = _index(client)
    assert len(index.table) > 100
    for method, path in sorted(index.table):
        fast = _call(client.app, method, path)
        scan = _via_scan(client, method, path)
        what = f"{method} {path}"
        assert fast[0]["route"] is scan[0]["route"], what
        assert fast[0]["endpoint"] is scan[0]["endpoint"], what
        assert fast[0]["path_params"] == scan[0]["path_params"] == {}, what
        assert _answer(fast) == _answer(scan), what


def _answer(call: Any) -> tuple[Any, ...]:
    """Status, headers and body; a page that sets a fresh session (a login form's CSRF token)
    differs by that token only: its names of headers are compared, not the body."""
    _scope, status, headers, body = call
    if any(name == b"set-cookie" for name, _ in headers):
        return status, [name for name, _ in headers]
    # 来客 answers carry a fresh log id; /healthz the time it answers at and how long it took.
    body = re.sub(rb'"logid":"[^"]*"|\d{4}-\d\d-\d\dT[0-9:.+]+|"ms":[0-9.]+', b"", body)
    return status, [h for h in headers if h[0] != b"content-length"], body


def test_16_signed_hot_paths_take_the_lookup_and_still_work(shop: ShopFixture) -> None:
    client = shop.api.client
    assert shop.api.get("/api/v1/funds").status_code == 200
    table = _index(client).table
    for key in (
        ("POST", "/api/v2/verification/prepare"),
        ("POST", "/api/v2/verification/verify"),
        ("GET", "/api/v1/funds"),
        ("HEAD", "/api/v1/funds"),
    ):
        assert key in table, key
    # A path with parameters is not in the table: the scan still routes it.
    assert not any("{" in path for _, path in table)
    answer = shop.api.get("/api/v2/verification/claims/999999")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"


def test_16_unknown_paths_and_methods_answer_as_before(client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/v2/verification/verify"),  # POST only: 405 with Allow
        ("DELETE", "/api/v1/funds"),
        ("GET", "/api/v1/no-such-thing"),  # 404
        ("GET", "/api/v1/funds/"),  # the other path form: 404 (K8)
    ):
        fast = _call(client.app, method, path)
        scan = _via_scan(client, method, path)
        assert fast[1:] == scan[1:], (method, path)
        assert fast[1] in (404, 405)
    allow = dict(_call(client.app, "GET", "/api/v2/verification/verify")[2])
    assert allow[b"allow"] == b"POST"

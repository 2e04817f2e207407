"""Open API authentication: app key + timestamp + nonce + HMAC-SHA256 over method, path, body.
Timestamps outside ±5 min are refused; a replayed signature is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from xiaodian.accounts import service as accounts
from xiaodian.runtime import Runtime
from xiaodian.signing import signed_headers


def _call(
    client: TestClient, shop: Any, method: str, path: str, body: bytes = b"", **overrides: Any
) -> Any:
    ts = overrides.pop("timestamp", int(shop.api.rt.wall.now().timestamp()))
    headers = signed_headers(
        shop.app_key,
        overrides.pop("secret", shop.secret),
        method,
        path,
        body,
        timestamp=ts,
        nonce=overrides.pop("nonce", None),
    )
    headers.update(overrides.pop("headers", {}))
    headers["Content-Type"] = "application/json"
    return client.request(method, path, content=body, headers=headers)


def test_X2_signed_request_is_accepted(client: TestClient, shop: Any) -> None:
    response = _call(client, shop, "GET", "/api/v1/shop")
    assert response.status_code == 200
    assert response.json()["id"] == shop.shop_id


def test_X2_signature_covers_query_string(client: TestClient, shop: Any) -> None:
    assert _call(client, shop, "GET", "/api/v1/notices?limit=5").status_code == 200
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "GET",
        "/api/v1/notices?limit=5",
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    tampered = client.get("/api/v1/notices?limit=50", headers=headers)
    assert tampered.status_code == 401
    assert tampered.json()["code"] == "bad_signature"


def test_X2_tampered_body_is_refused(client: TestClient, shop: Any) -> None:
    body = json.dumps({"amount_fen": 100, "idempotency_key": "a"}).encode()
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "POST",
        "/api/v1/funds/deposit/topup",
        body,
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers["Content-Type"] = "application/json"
    evil = json.dumps({"amount_fen": 999999, "idempotency_key": "a"}).encode()
    response = client.post("/api/v1/funds/deposit/topup", content=evil, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_X2_wrong_secret_and_unknown_key_are_refused(client: TestClient, shop: Any) -> None:
    assert _call(client, shop, "GET", "/api/v1/shop", secret="nope").status_code == 401
    headers = {
        "X-App-Key": "ak_unknown",
        "X-Timestamp": "1",
        "X-Nonce": "abcdefgh",
        "X-Signature": "00",
    }
    assert client.get("/api/v1/shop", headers=headers).status_code == 401


def test_X2_missing_headers_are_refused_with_bilingual_problem(client: TestClient) -> None:
    response = client.get("/api/v1/shop")
    assert response.status_code == 401
    problem = response.json()
    assert problem["code"] == "signature_missing"
    assert "签名" in problem["message_zh"] and "signature" in problem["message_en"]


def test_X2_timestamp_window_is_plus_minus_five_minutes(
    client: TestClient, shop: Any, rt: Runtime
) -> None:
    now = int(rt.wall.now().timestamp())
    assert _call(client, shop, "GET", "/api/v1/shop", timestamp=now - 300).status_code == 200
    assert _call(client, shop, "GET", "/api/v1/shop", timestamp=now + 300).status_code == 200
    old = _call(client, shop, "GET", "/api/v1/shop", timestamp=now - 301)
    future = _call(client, shop, "GET", "/api/v1/shop", timestamp=now + 301)
    assert old.status_code == future.status_code == 401
    assert old.json()["code"] == "timestamp_out_of_window"


def test_X2_signature_window_reads_wall_clock_not_simulated_business_clock(
    client: TestClient, shop: Any, rt: Runtime
) -> None:
    rt.clock.set(rt.clock.now() + timedelta(days=40))  # type: ignore[attr-defined]
    assert _call(client, shop, "GET", "/api/v1/shop").status_code == 200


def test_X2_replayed_request_is_refused(client: TestClient, shop: Any) -> None:
    body = json.dumps({"amount_fen": 100, "idempotency_key": "once"}).encode()
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "POST",
        "/api/v1/funds/balance/topup",
        body,
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers["Content-Type"] = "application/json"
    first = client.post("/api/v1/funds/balance/topup", content=body, headers=headers)
    replay = client.post("/api/v1/funds/balance/topup", content=body, headers=headers)
    assert first.status_code == 200
    assert replay.status_code == 401 and replay.json()["code"] == "replayed_request"


def test_X2_revoked_app_is_refused(client: TestClient, shop: Any, rt: Runtime) -> None:
    """Also when the process has already seen the app sign (its credentials are cached): the
    revocation is checked with the nonce on every request."""
    assert _call(client, shop, "GET", "/api/v1/shop").status_code == 200
    with rt.unit() as ctx:
        app = accounts.app_credentials(ctx.session, shop.app_key)
        assert app is not None
        accounts.revoke_app(ctx, shop.shop_id, app.app_id)
    refused = _call(client, shop, "GET", "/api/v1/shop")
    assert refused.status_code == 401 and refused.json()["code"] == "app_revoked"  # S9
    again = _call(client, shop, "GET", "/api/v1/shop")  # no longer cached: read again
    assert again.status_code == 401 and again.json()["code"] == "app_revoked"


def test_X2_malformed_nonce_and_timestamp_are_4xx(client: TestClient, shop: Any) -> None:
    assert _call(client, shop, "GET", "/api/v1/shop", nonce="x").status_code == 401
    headers = {
        "X-App-Key": shop.app_key,
        "X-Timestamp": "soon",
        "X-Nonce": "abcdefgh1",
        "X-Signature": "00",
    }
    assert client.get("/api/v1/shop", headers=headers).status_code == 401


def test_X2_a_refused_request_cannot_be_replayed_either(client: TestClient, shop: Any) -> None:
    """The nonce is written in the route's transaction; when the route fails and that
    transaction rolls back, the nonce is still kept."""
    path = "/api/v1/redpackets/999999/reclaim"
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "POST",
        path,
        b"{}",
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers["Content-Type"] = "application/json"
    first = client.post(path, content=b"{}", headers=headers)
    replay = client.post(path, content=b"{}", headers=headers)
    assert first.status_code == 404
    assert replay.status_code == 401 and replay.json()["code"] == "replayed_request"


def test_X1_X2_events_caused_by_a_signed_request_name_the_app(
    client: TestClient, shop: Any, rt: Runtime
) -> None:
    from sqlalchemy import select

    from xiaodian.notify.models import Event

    created = shop.api.post("/api/v1/products", {"title": "龙井", "price_fen": 100, "stock": 1})
    assert created.status_code == 201
    with rt.unit() as ctx:
        app = accounts.app_credentials(ctx.session, shop.app_key)
        assert app is not None
        actors = set(ctx.session.scalars(select(Event.actor).where(Event.shop_id == shop.shop_id)))
    assert actors == {f"app:{app.app_id}"}


def test_X2_concurrent_requests_with_one_nonce_run_once_on_postgres(
    pg_only: None, client: TestClient, shop: Any
) -> None:
    """Eight threads send the same signed top-up at once: one is served, seven are replays."""
    import threading

    body = json.dumps({"amount_fen": 100, "idempotency_key": "race-nonce"}).encode()
    path = "/api/v1/funds/balance/topup"
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "POST",
        path,
        body,
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers["Content-Type"] = "application/json"
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def send() -> None:
        barrier.wait()
        codes.append(client.post(path, content=body, headers=headers).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] + [401] * 7

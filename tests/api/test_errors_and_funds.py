"""Bad input is 4xx problem+json with a stable code and Chinese + English messages, never a
500; funds API moves money once per idempotency key (X3)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    "body",
    [
        {},  # missing everything
        {"amount_fen": "lots", "idempotency_key": "k"},
        {"amount_fen": 1.5, "idempotency_key": "k"},
        {"amount_fen": -100, "idempotency_key": "k"},
        {"amount_fen": 100, "idempotency_key": ""},
        {"amount_fen": 10**15, "idempotency_key": "k"},
        [1, 2, 3],
    ],
)
def test_X3_bad_topup_input_is_422_problem(shop: Any, body: Any) -> None:
    response = shop.api.request("POST", "/api/v1/funds/deposit/topup", body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "invalid_request"
    assert problem["message_zh"] and problem["message_en"] and problem["errors"]


def test_malformed_json_is_422_not_500(client: TestClient, shop: Any) -> None:
    from xiaodian.signing import signed_headers

    raw = b"{not json"
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "POST",
        "/api/v1/funds/deposit/topup",
        raw,
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers["Content-Type"] = "application/json"
    response = client.post("/api/v1/funds/deposit/topup", content=raw, headers=headers)
    assert response.status_code == 422


def test_unknown_account_and_unknown_path_are_4xx(shop: Any) -> None:
    assert (
        shop.api.post(
            "/api/v1/funds/escrow/topup", {"amount_fen": 1, "idempotency_key": "k"}
        ).status_code
        == 422
    )
    missing = shop.api.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["message_zh"] == "地址不存在"


def test_X3_topup_via_api_is_idempotent_and_shows_in_statement(shop: Any) -> None:
    body = {"amount_fen": 12_345, "idempotency_key": "erp-2026-0001"}
    first = shop.api.post("/api/v1/funds/deposit/topup", body).json()
    again = shop.api.post("/api/v1/funds/deposit/topup", body).json()
    assert first["replayed"] is False and again["replayed"] is True
    assert first["txn_id"] == again["txn_id"]
    balances = shop.api.get("/api/v1/funds").json()
    assert balances["deposit_fen"] == 12_345
    assert sum(balances["accounts"].values()) == 0
    statement = shop.api.get("/api/v1/funds/deposit/entries").json()
    assert [e["amount_fen"] for e in statement["items"]] == [12_345]
    assert statement["items"][0]["balance_after_fen"] == 12_345


def test_X3_statement_pages_with_keyset(shop: Any) -> None:
    for i in range(5):
        shop.api.post(
            "/api/v1/funds/balance/topup", {"amount_fen": 100 + i, "idempotency_key": f"k{i}"}
        )
    page1 = shop.api.get("/api/v1/funds/balance/entries?limit=2").json()
    page2 = shop.api.get(
        f"/api/v1/funds/balance/entries?limit=2&before_id={page1['next_before_id']}"
    ).json()
    page3 = shop.api.get(
        f"/api/v1/funds/balance/entries?limit=2&before_id={page2['next_before_id']}"
    ).json()
    amounts = [e["amount_fen"] for p in (page1, page2, page3) for e in p["items"]]
    assert amounts == [104, 103, 102, 101, 100]
    assert page3["next_before_id"] is None


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/v1/funds/{account}/topup" in spec["paths"]
    assert "/sim/clock/advance" not in spec["paths"]  # hidden in system clock mode
    assert client.post("/sim/clock/advance", json={"seconds": 1}).status_code == 404


HUGE = 10**20  # past BIGINT: SQLite's driver overflows, PostgreSQL compares as numeric


def test_out_of_range_ids_in_any_route_are_4xx_never_500(client: TestClient, shop: Any) -> None:
    """Every open-API, buyer and media route with its path ids and ``before_id`` set past BIGINT
    answers without a server error; a route naming an object by such an id answers 4xx."""
    import re

    token = client.post("/buyer/v1/register", json={"douyin_id": "big_ids", "nickname": "x"})
    buyer = {"Authorization": f"Bearer {token.json()['token']}"}
    paths = client.get("/openapi.json").json()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in sorted(paths.items())
        if path.startswith(("/api/", "/buyer/", "/media/"))
        for method in sorted(operations)
    ]
    assert any(path.startswith("/buyer/") for _, path in routes)
    for method, template in routes:
        path = re.sub(r"{account}", "deposit", template)
        path = re.sub(r"{\w+}", str(HUGE), path)
        if method == "GET":
            path += f"?before_id={HUGE}"
        body = None if method == "GET" else {}
        if template.startswith("/api/"):
            response = shop.api.request(method, path, body)
        else:
            response = client.request(method, path, json=body, headers=buyer)
        outcome = f"{method} {template} -> {response.status_code}"
        assert response.status_code < 500, outcome
        if re.search(r"{(?!account)\w+}", template):
            assert 400 <= response.status_code < 500, outcome


def test_out_of_range_ids_in_bodies_and_filters_are_422(shop: Any) -> None:
    cases = [
        ("GET", f"/api/v1/orders?product={'9' * 30}", None),
        ("GET", f"/api/v1/orders/{HUGE}", None),
        ("POST", "/api/v1/aftersales/erp/cancel_shipment", {"order_id": HUGE}),
        ("POST", "/api/v1/aftersales/batch", {"request_ids": [HUGE], "action": "agree"}),
    ]
    for method, path, body in cases:
        response = shop.api.request(method, path, body)
        assert 400 <= response.status_code < 500, f"{method} {path} -> {response.status_code}"
        problem = response.json()
        assert problem["message_zh"] and problem["message_en"]

"""S9 (authentication answers, issue 11): every 401 says how to authenticate
(``WWW-Authenticate``); a malformed timestamp is called malformed; a revoked app is told it is
revoked; the signature's canonical path and query and its lowercase hex are as README says."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ShopFixture
from tests.web.conftest import page_token
from xiaodian.accounts import service as accounts
from xiaodian.api.challenge import BUYER, CONSOLE, OPEN_API, STAFF
from xiaodian.runtime import Runtime
from xiaodian.signing import api_signature, signed_headers


def _headers(shop: ShopFixture, method: str, path: str, **overrides: Any) -> dict[str, Any]:
    headers = signed_headers(
        shop.app_key,
        overrides.pop("secret", shop.secret),
        method,
        path,
        overrides.pop("body", b""),
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers.update(overrides)
    return headers


# ----- WWW-Authenticate on every 401 ------------------------------------------------------------


def test_S9_every_401_carries_www_authenticate(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    """Whichever part answers 401 — the open API (each refusal), the buyer and staff tokens,
    the console's login form — the answer names its scheme."""
    now = str(int(rt.wall.now().timestamp()))
    open_api = {
        "missing": client.get("/api/v1/shop"),
        "bad nonce": client.get(
            "/api/v1/shop", headers=_headers(shop, "GET", "/x", **{"X-Nonce": "x"})
        ),
        "malformed ts": client.get(
            "/api/v1/shop", headers=_headers(shop, "GET", "/api/v1/shop", **{"X-Timestamp": "soon"})
        ),
        "old ts": client.get(
            "/api/v1/shop", headers=_headers(shop, "GET", "/api/v1/shop", **{"X-Timestamp": "1"})
        ),
        "bad signature": client.get(
            "/api/v1/funds", headers=_headers(shop, "GET", "/api/v1/funds", secret="wrong")
        ),
        "unknown app": client.get(
            "/api/v2/verification/claims/1",
            headers={**_headers(shop, "GET", "/x"), "X-App-Key": "ak_nobody", "X-Timestamp": now},
        ),
    }
    for what, response in open_api.items():
        assert response.status_code == 401, what
        assert response.headers["www-authenticate"] == OPEN_API, what
        assert response.headers["www-authenticate"].startswith("XiaodianHMAC realm=")
    buyer = client.get("/buyer/v1/me")
    forged = client.get("/buyer/v1/me", headers={"Authorization": "Bearer bt_forged"})
    staff = client.get("/staff/v1/me", headers={"Authorization": "Bearer nope"})
    for response, challenge in ((buyer, BUYER), (forged, BUYER), (staff, STAFF)):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == challenge
    login = client.post(
        "/console/login",
        data={
            "csrf_token": page_token(client, "/console/login"),
            "username": shop.username,
            "password": "wrong-password",
        },
    )
    assert login.status_code == 401 and login.headers["www-authenticate"] == CONSOLE


def test_S9_answers_other_than_401_carry_no_challenge(
    client: TestClient, shop: ShopFixture
) -> None:
    assert "www-authenticate" not in shop.api.get("/api/v1/shop").headers
    assert "www-authenticate" not in shop.api.get("/api/v1/stores/999999").headers  # 404


# ----- malformed timestamp -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    [
        "soon",
        "1.5e9",
        "1e9",
        "+1767225600",
        "-5",
        " 1767225600",
        "1_767_225_600",
        "１７６７".encode(),
    ],
)
def test_S9_a_malformed_timestamp_is_called_malformed(
    client: TestClient, shop: ShopFixture, stamp: Any
) -> None:
    headers = _headers(shop, "GET", "/api/v1/shop", **{"X-Timestamp": stamp})
    response = client.get("/api/v1/shop", headers=headers)
    assert response.status_code == 401
    problem = response.json()
    assert problem["code"] == "timestamp_malformed", problem
    assert "Malformed X-Timestamp" in problem["message_en"]
    assert "格式错误" in problem["message_zh"] and "±" not in problem["message_zh"]


def test_S9_a_well_formed_but_stale_timestamp_is_still_outside_the_window(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    stale = str(int(rt.wall.now().timestamp()) - 301)
    response = client.get(
        "/api/v1/shop", headers=_headers(shop, "GET", "/api/v1/shop", **{"X-Timestamp": stale})
    )
    assert response.status_code == 401 and response.json()["code"] == "timestamp_out_of_window"


# ----- revoked app -----------------------------------------------------------------------------


def test_S9_a_revoked_app_is_told_revoked_but_a_wrong_signature_learns_nothing(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    with rt.unit() as ctx:
        app = accounts.app_credentials(ctx.session, shop.app_key)
        assert app is not None
        accounts.revoke_app(ctx, shop.shop_id, app.app_id)
    revoked = shop.api.get("/api/v1/shop")  # correctly signed with the revoked app's secret
    assert revoked.status_code == 401
    problem = revoked.json()
    assert problem["code"] == "app_revoked"
    assert "revoked" in problem["message_en"] and "停用" in problem["message_zh"]
    assert revoked.headers["www-authenticate"] == OPEN_API
    # Knowing the key without the secret does not tell revoked from unknown.
    guess = client.get("/api/v1/shop", headers=_headers(shop, "GET", "/api/v1/shop", secret="x"))
    assert guess.status_code == 401 and guess.json()["code"] == "bad_signature"


# ----- canonical path, query, hex --------------------------------------------------------------


def test_S9_the_signed_path_is_percent_decoded_and_the_query_is_as_sent(
    client: TestClient, shop: ShopFixture
) -> None:
    """README "Open API": PATH is the percent-decoded path; QUERY is the query string exactly as
    sent on the wire (still percent-encoded), after a ``?`` when present."""
    raw_path = "/api/v1/stor%65s"  # /api/v1/stores, one letter percent-encoded
    decoded = client.get(raw_path, headers=_headers(shop, "GET", "/api/v1/stores"))
    assert decoded.status_code == 200, decoded.text
    as_sent = client.get(raw_path, headers=_headers(shop, "GET", raw_path))
    assert as_sent.status_code == 401 and as_sent.json()["code"] == "bad_signature"

    raw_query = "/api/v1/orders?buyer_name=%E7%8E%8B"  # 王, as a client encodes it
    kept = client.get(raw_query, headers=_headers(shop, "GET", raw_query))
    assert kept.status_code == 200, kept.text
    unquoted = client.get(raw_query, headers=_headers(shop, "GET", "/api/v1/orders?buyer_name=王"))
    assert unquoted.status_code == 401 and unquoted.json()["code"] == "bad_signature"


def test_S9_the_signature_is_lowercase_hex(client: TestClient, shop: ShopFixture) -> None:
    headers = _headers(shop, "GET", "/api/v1/shop")
    ts, nonce = headers["X-Timestamp"], headers["X-Nonce"]
    expected = api_signature(shop.secret, "GET", "/api/v1/shop", ts, nonce, b"")
    assert headers["X-Signature"] == expected == expected.lower()
    assert any(c in "abcdef" for c in expected)
    upper = client.get("/api/v1/shop", headers={**headers, "X-Signature": expected.upper()})
    assert upper.status_code == 401 and upper.json()["code"] == "bad_signature"
    lower = client.get("/api/v1/shop", headers=_headers(shop, "GET", "/api/v1/shop"))
    assert lower.status_code == 200

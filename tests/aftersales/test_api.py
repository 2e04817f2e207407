"""Open API (A2, A3, A4, A5) and buyer API (A1) over real HTTP with signed requests; events
for every state change (X1); local-carrier controls under /sim (simulated clock only)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi.testclient import TestClient

from tests.aftersales.conftest import PDF, World, png_bytes
from xiaodian.api.app import create_app
from xiaodian.clock import SimulatedClock
from xiaodian.notify import service as notify
from xiaodian.runtime import Runtime
from xiaodian.signing import signed_headers


def _multipart(fields: dict[str, str], name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "xdb" + secrets.token_hex(8)
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body = (
        parts
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _signed_upload(client: TestClient, shop: Any, path: str, name: str, content: bytes) -> Any:
    body, ctype = _multipart({}, name, content)
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "POST",
        path,
        body,
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers["Content-Type"] = ctype
    return client.post(path, content=body, headers=headers)


def test_A1_A4_http_apply_with_images_reject_with_evidence(
    client: TestClient, world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    buyer_id, token = world.buyer()
    order = world.order(shop.shop_id, [(pid, 1)], buyer_id=buyer_id)
    auth = {"Authorization": f"Bearer {token}"}
    body, ctype = _multipart({"order_id": str(order)}, "broken.png", png_bytes())
    up = client.post(
        "/buyer/v1/aftersales/evidence", content=body, headers={**auth, "Content-Type": ctype}
    )
    assert up.status_code == 201, up.text
    ((item, _),) = world.items(shop.shop_id, order)
    apply = {
        "order_id": order,
        "kind": "shipped_refund",
        "items": [{"order_item_id": item, "qty": 1}],
        "amount_fen": 5_001,
        "reason": "missing_items",
        "image_ids": [],
    }
    too_much = client.post(
        "/buyer/v1/aftersales", json={**apply, "image_ids": [up.json()["id"]]}, headers=auth
    )
    assert too_much.status_code == 422
    assert too_much.json()["errors"][0]["max_fen"] == 5_000
    no_images = client.post(
        "/buyer/v1/aftersales", json={**apply, "amount_fen": 5_000}, headers=auth
    )
    assert no_images.status_code == 422 and no_images.json()["errors"][0]["field"] == "images"
    created = client.post(
        "/buyer/v1/aftersales",
        json={**apply, "amount_fen": 5_000, "image_ids": [up.json()["id"]]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.json()["remaining_seconds"] == 48 * 3600
    assert [e["party"] for e in created.json()["evidence"]] == ["buyer"]

    # Merchant: the workbench list, then reject — refused without evidence, fine with it.
    listed = shop.api.get("/api/v1/aftersales?kind=shipped_refund&status=pending").json()
    assert [r["id"] for r in listed["items"]] == [rid]
    refused = shop.api.post(
        f"/api/v1/aftersales/{rid}/operate", {"action": "reject", "reason": "fresh_food"}
    )
    assert refused.status_code == 422 and refused.json()["rule"] == "A4"
    bad = _signed_upload(client, shop, f"/api/v1/aftersales/{rid}/evidence", "x.pdf", b"nope")
    assert bad.status_code == 422 and bad.json()["code"] == "evidence_bad_type"
    ev = _signed_upload(client, shop, f"/api/v1/aftersales/{rid}/evidence", "proof.pdf", PDF)
    assert ev.status_code == 201 and ev.json()["content_type"] == "application/pdf"
    done = shop.api.post(
        f"/api/v1/aftersales/{rid}/operate",
        {"action": "reject", "reason": "fresh_food", "evidence_ids": [ev.json()["id"]]},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "rejected"
    assert [h["action"] for h in done.json()["history"]] == ["created", "rejected"]
    with rt.unit() as ctx:
        types = [
            e.type for e in notify.list_events(ctx.session, shop.shop_id, type_prefix="aftersale.")
        ]
        assert types == ["aftersale.rejected", "aftersale.created"]


def test_A2_http_strategies_erp_cancel_and_batch(
    client: TestClient, world: World, shop: Any, rt: Runtime
) -> None:
    put = shop.api.request(
        "PUT", "/api/v1/aftersales/strategies", {"code": "erp_cancel", "enabled": True}
    )
    assert put.status_code == 200
    assert {s["code"]: s["enabled"] for s in put.json()}["erp_cancel"] is True
    bad = shop.api.request(
        "PUT", "/api/v1/aftersales/strategies", {"code": "small_amount", "threshold_fen": 0}
    )
    assert bad.status_code == 422
    pid = world.product(shop.shop_id)
    first = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, first, 5_000)
    cancel = shop.api.post("/api/v1/aftersales/erp/cancel_shipment", {"order_id": first})
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["request"]["status"] == "refunded"
    assert cancel.json()["request"]["decided_rule"] == "A2.1"
    again = shop.api.post("/api/v1/aftersales/erp/cancel_shipment", {"order_id": first})
    assert again.status_code == 409
    others = [
        world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 100).id for _ in range(2)
    ]
    result = shop.api.post(
        "/api/v1/aftersales/batch", {"request_ids": [req.id, *others], "action": "agree"}
    ).json()
    assert (result["succeeded"], result["failed"]) == (2, 1)
    assert result["results"][0]["code"] == "aftersale_wrong_state"


def test_A2_http_split_packages(client: TestClient, world: World, shop: Any) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 3)])
    ((item, _),) = world.items(shop.shop_id, order)
    split = shop.api.post(
        f"/api/v1/aftersales/orders/{order}/packages",
        {
            "carrier": "ZTO",
            "tracking_no": "731234567890",
            "items": [{"order_item_id": item, "qty": 2}],
        },
    )
    assert split.status_code == 201, split.text
    assert [(p["seq"], p["items"][0]["qty"]) for p in split.json()] == [(1, 1), (2, 2)]
    too_many = shop.api.post(
        f"/api/v1/aftersales/orders/{order}/packages",
        {
            "carrier": "ZTO",
            "tracking_no": "731234567891",
            "items": [{"order_item_id": item, "qty": 5}],
        },
    )
    assert too_many.status_code == 422


def test_A2_sim_logistics_controls_only_with_simulated_clock(
    client: TestClient, world: World, shop: Any, rt: Runtime
) -> None:
    world.strategy(shop.shop_id, "refusal")
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 5_000)
    (package,) = world.packages(shop.shop_id, order)
    path = f"/sim/logistics/packages/{package.id}/events"
    assert shop.api.post(path, {"event": "refused"}).status_code == 404  # system clock: absent
    sim_rt = Runtime(
        settings=rt.settings,
        engine=rt.engine,
        factory=rt.factory,
        clock=SimulatedClock(rt.engine),
        wall=rt.wall,
    )
    with TestClient(create_app(sim_rt), raise_server_exceptions=False) as sim_client:
        from tests.conftest import SignedClient

        api = SignedClient(sim_client, rt, shop.app_key, shop.secret)
        assert api.post(path, {"event": "bogus"}).status_code == 422
        response = api.post(path, {"event": "refused"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "refused"
    assert world.request(shop.shop_id, req.id).status == "refunded"

"""After-sales flows over real HTTP: the buyer API with a bearer token (A5 modify and
withdraw) and the signed open API (A2.4 拒签后退款 by hand, A3 list filters and detail)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.aftersales.conftest import World
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _apply_over_http(
    client: TestClient, token: str, order_id: int, item_id: int, qty: int, amount_fen: int
) -> dict[str, Any]:
    created = client.post(
        "/buyer/v1/aftersales",
        json={
            "order_id": order_id,
            "kind": "shipped_refund",
            "items": [{"order_item_id": item_id, "qty": qty}],
            "amount_fen": amount_fen,
            "reason": "no_longer_wanted",
        },
        headers=_auth(token),
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_A5_http_buyer_modify_while_pending_restarts_deadline_and_withdraws(
    client: TestClient, world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id, price_fen=5_000)
    buyer_id, token = world.buyer()
    _, stranger = world.buyer()
    order = world.order(shop.shop_id, [(pid, 2)], buyer_id=buyer_id)
    ((item, _),) = world.items(shop.shop_id, order)
    rid = _apply_over_http(client, token, order, item, 1, 3_000)["id"]
    path = f"/buyer/v1/aftersales/{rid}"

    rt.clock.advance(3600)  # type: ignore[attr-defined]
    too_much = client.patch(path, json={"amount_fen": 5_001}, headers=_auth(token))
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["max_fen"] == 5_000
    unknown_field = client.patch(path, json={"amount": 1}, headers=_auth(token))
    assert unknown_field.status_code == 422
    assert client.patch(path, json={"amount_fen": 1}, headers=_auth(stranger)).status_code == 404
    assert client.patch(path, json={"amount_fen": 1}).status_code == 401

    modified = client.patch(
        path,
        json={"items": [{"order_item_id": item, "qty": 2}], "amount_fen": 10_000, "note": "两个"},
        headers=_auth(token),
    )
    assert modified.status_code == 200, modified.text
    body = modified.json()
    assert (body["status"], body["amount_fen"], body["note"]) == ("pending", 10_000, "两个")
    assert body["items"] == [{"order_item_id": item, "qty": 2}]
    assert body["remaining_seconds"] == 48 * 3600  # A3 deadline restarts from the change
    assert [h["action"] for h in body["history"]] == ["created", "modified"]
    assert body["history"][-1]["rule"] == "A5"
    merchant_view = shop.api.get(f"/api/v1/aftersales/{rid}").json()
    assert merchant_view["amount_fen"] == 10_000

    assert client.post(f"{path}/withdraw", json={}, headers=_auth(stranger)).status_code == 404
    withdrawn = client.post(f"{path}/withdraw", json={"note": "不退了"}, headers=_auth(token))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["remaining_seconds"] is None
    again = client.post(f"{path}/withdraw", json={}, headers=_auth(token))
    assert again.status_code == 409 and again.json()["code"] == "aftersale_wrong_state"
    late_change = client.patch(path, json={"amount_fen": 100}, headers=_auth(token))
    assert late_change.status_code == 409
    with rt.unit() as ctx:
        assert orders.get_order(ctx.session, shop.shop_id, order).after_sale == "none"
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == 10_000


def test_A5_http_buyer_change_after_agreement_needs_the_merchant(
    client: TestClient, world: World, shop: Any
) -> None:
    """After 同意拒签后退款, the buyer's modify/withdraw is a change request the merchant
    approves or declines through the open API."""
    pid = world.product(shop.shop_id, price_fen=5_000)
    buyer_id, token = world.buyer()
    order = world.order(shop.shop_id, [(pid, 2)], buyer_id=buyer_id)
    ((item, _),) = world.items(shop.shop_id, order)
    rid = _apply_over_http(client, token, order, item, 2, 10_000)["id"]
    operate = f"/api/v1/aftersales/{rid}/operate"
    assert shop.api.post(operate, {"action": "agree_on_refusal"}).status_code == 200

    asked = client.patch(
        f"/buyer/v1/aftersales/{rid}", json={"amount_fen": 4_000}, headers=_auth(token)
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "agreed_on_refusal"
    assert asked.json()["amount_fen"] == 10_000
    assert asked.json()["change_request"]["amount_fen"] == 4_000
    declined = shop.api.post(operate, {"action": "decline_change"})
    assert declined.status_code == 200 and declined.json()["change_request"] is None

    asked = client.post(f"/buyer/v1/aftersales/{rid}/withdraw", json={}, headers=_auth(token))
    assert asked.json()["change_request"]["type"] == "withdraw"
    approved = shop.api.post(operate, {"action": "approve_change"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "withdrawn"
    assert [h["rule"] for h in approved.json()["history"]][-1] == "A5"
    nothing = shop.api.post(operate, {"action": "approve_change"})
    assert nothing.status_code == 409


def test_A2_4_http_agree_on_refusal_then_refused_parcel_refunds(
    client: TestClient, world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id, price_fen=5_000)
    buyer_id, token = world.buyer()
    order = world.order(shop.shop_id, [(pid, 1)], buyer_id=buyer_id)
    ((item, _),) = world.items(shop.shop_id, order)
    rid = _apply_over_http(client, token, order, item, 1, 5_000)["id"]
    operate = f"/api/v1/aftersales/{rid}/operate"

    waiting = shop.api.post(operate, {"action": "agree_on_refusal"})
    assert waiting.status_code == 200, waiting.text
    body = waiting.json()
    assert (body["status"], body["decided_rule"], body["remaining_seconds"]) == (
        "agreed_on_refusal",
        "A2.4",
        None,
    )
    twice = shop.api.post(operate, {"action": "agree_on_refusal"})
    assert twice.status_code == 409 and twice.json()["code"] == "aftersale_wrong_state"
    (package,) = body["packages"]
    world.event(shop.shop_id, package["id"], "in_transit")
    assert shop.api.get(f"/api/v1/aftersales/{rid}").json()["status"] == "agreed_on_refusal"
    world.event(shop.shop_id, package["id"], "refused")  # the carrier reports 拒签

    done = shop.api.get(f"/api/v1/aftersales/{rid}").json()
    assert done["status"] == "refunded" and done["refund_id"] is not None
    assert [(h["action"], h["rule"]) for h in done["history"]] == [
        ("created", "A1"),
        ("agreed_on_refusal", "A2.4"),
        ("agreed", "A2.4"),
        ("refunded", "A6"),
    ]
    assert done["packages"][0]["status"] == "refused"
    buyer_view = client.get(f"/buyer/v1/aftersales/{rid}", headers=_auth(token)).json()
    assert buyer_view["status"] == "refunded"
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == 0
        assert ledger.audit(ctx.session) == []


def test_A2_4_http_agree_on_refusal_only_for_shipped_refund(world: World, shop: Any) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)], ship=False)
    req = world.apply(shop.shop_id, order, 5_000, kind="unshipped_refund")
    refused = shop.api.post(f"/api/v1/aftersales/{req.id}/operate", {"action": "agree_on_refusal"})
    assert refused.status_code == 409 and refused.json()["rule"] == "A2.4"
    bad = shop.api.post(f"/api/v1/aftersales/{req.id}/operate", {"action": "refund_twice"})
    assert bad.status_code == 422


def test_A3_http_list_filters_by_order_no_name_phone_and_apply_date(
    world: World, shop: Any, make_shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    a = world.order(shop.shop_id, [(pid, 1)], name="李雷", phone="13911112222")
    b = world.order(shop.shop_id, [(pid, 1)], name="韩梅梅", phone="13733334444")
    req_a = world.apply(shop.shop_id, a, 100)
    # 10:00 Shanghai + 15 h = 01:00 the next day in Shanghai (still the same UTC day).
    rt.clock.advance(15 * 3600)  # type: ignore[attr-defined]
    req_b = world.apply(shop.shop_id, b, 100)
    with rt.unit() as ctx:
        order_no_a = orders.get_order(ctx.session, shop.shop_id, a).order_no
    applied_a = world.request(shop.shop_id, req_a.id).applied_at
    day_a = (applied_a + timedelta(hours=8)).date()

    def ids(query: str) -> list[int]:
        response = shop.api.get(f"/api/v1/aftersales?{query}")
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert ids(f"order_no={order_no_a}") == [req_a.id]
    assert ids(f"buyer_name={quote('韩')}") == [req_b.id]
    assert ids(f"buyer_name={quote('李雷')}") == [req_a.id]
    assert ids("buyer_phone=13911112222") == [req_a.id]
    assert ids("buyer_phone=4444") == [req_b.id]
    assert ids(f"apply_date={day_a.isoformat()}") == [req_a.id]
    assert ids(f"apply_date={(day_a + timedelta(days=1)).isoformat()}") == [req_b.id]
    assert ids(f"buyer_name={quote('韩')}&apply_date={day_a.isoformat()}") == []
    assert ids("kind=shipped_refund&status=pending") == [req_b.id, req_a.id]
    assert ids("order_no=6900000000000000000") == []
    listed = shop.api.get(f"/api/v1/aftersales?order_no={order_no_a}").json()["items"][0]
    assert listed["buyer_phone"] == "139****2222"  # masked in merchant lists
    for bad in ("apply_date=2026-13-01", "status=lost", "buyer_phone=12"):
        response = shop.api.get(f"/api/v1/aftersales?{bad}")
        assert response.status_code == 422, bad
    other = make_shop("别家小店")
    assert other.api.get(f"/api/v1/aftersales?order_no={order_no_a}").json()["items"] == []


def test_A3_http_detail_has_items_history_packages_and_is_shop_scoped(
    client: TestClient, world: World, shop: Any, make_shop: Any
) -> None:
    pid = world.product(shop.shop_id, price_fen=5_000)
    buyer_id, token = world.buyer()
    order = world.order(shop.shop_id, [(pid, 1)], buyer_id=buyer_id, phone="13911112222")
    ((item, _),) = world.items(shop.shop_id, order)
    rid = _apply_over_http(client, token, order, item, 1, 2_500)["id"]
    detail = shop.api.get(f"/api/v1/aftersales/{rid}")
    assert detail.status_code == 200, detail.text
    d = detail.json()
    assert (d["id"], d["order_id"], d["amount_fen"], d["kind"]) == (
        rid,
        order,
        2_500,
        "shipped_refund",
    )
    assert (d["kind_label"], d["status_label"], d["reason_label"]) == (
        "已发货仅退款",
        "待商家处理",
        "不想要了",
    )
    assert d["items"] == [{"order_item_id": item, "qty": 1}]
    assert d["buyer_phone"] == "139****2222" and d["remaining_seconds"] == 48 * 3600
    assert [h["action"] for h in d["history"]] == ["created"]
    assert [(p["seq"], p["status"], p["items"]) for p in d["packages"]] == [
        (1, "created", [{"order_item_id": item, "qty": 1}])
    ]
    assert d["evidence"] == [] and d["change_request"] is None
    buyer_view = client.get(f"/buyer/v1/aftersales/{rid}", headers=_auth(token)).json()
    assert buyer_view["buyer_phone"] == "13911112222"  # the buyer sees their own number
    other = make_shop("别家小店")
    missing = other.api.get(f"/api/v1/aftersales/{rid}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert shop.api.get("/api/v1/aftersales/999999").status_code == 404
    assert shop.api.get("/api/v1/aftersales/abc").status_code == 422

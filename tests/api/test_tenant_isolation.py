"""X2: one shop never sees another shop's data — through any route.

Shop A ("甲") gets one object of every kind, each carrying a marker string. Then shop B's
credentials call every /api route of the application, with path parameters filled with A's
ids: no answer may be a success that reveals or touches A's objects, and no answer may
contain any of A's markers. A new route whose path parameter this test cannot fill makes the
test fail, so isolation is proven for every route that is ever added.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from xiaodian.accounts import service as accounts
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.orders.export import service as orders_export
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime

MARKERS = [
    "甲店-机密",
    "甲店门店-机密",
    "jia-hook.invalid",
    "甲店通知-机密",
    "jia_staff_secret",
    "987654",
]

# How to fill each path parameter from shop A's objects (extend when a context adds routes).
ParamFiller = Callable[[dict[str, Any]], Any]
PARAMS: dict[str, ParamFiller] = {
    "notice_id": lambda a: a["notice_id"],
    "endpoint_id": lambda a: a["endpoint_id"],
    "delivery_id": lambda a: a["delivery_id"],
    "store_id": lambda a: a["store_id"],
    "staff_id": lambda a: a["staff_id"],
    "account": lambda a: "deposit",
    "export_id": lambda a: a["export_id"],
    "product_id": lambda a: a["product_id"],
    "order_id": lambda a: a["order_id"],
    "request_id": lambda a: a["aftersale_request_id"],
    "coupon_id": lambda a: a["coupon_id"],
    "campaign_id": lambda a: a["campaign_id"],
    "claim_id": lambda a: a["claim_id"],
    "redpacket_id": lambda a: a["redpacket_id"],
    "live_id": lambda a: a["live_id"],
    "lucky_bag_id": lambda a: a["lucky_bag_id"],
    "win_id": lambda a: a["win_id"],
    "conversation_id": lambda a: a["conversation_id"],
}


def _shop_a_objects(rt: Runtime, shop_id: int) -> dict[str, Any]:
    with rt.unit() as ctx:
        store = accounts.create_store(ctx, shop_id, name="甲店门店-机密")
        staff = accounts.add_staff(ctx, shop_id, douyin_id="jia_staff_secret", store_ids=None)
        note = notify.notice(ctx, shop_id, category="system", title="甲店通知-机密")
        endpoint = notify.create_endpoint(ctx, shop_id, url="http://jia-hook.invalid/hook")
        ledger.topup(ctx, shop_id, Account.DEPOSIT, 987_654, "jia-deposit")
        notify.emit(ctx, shop_id, "test.secret", {"marker": "甲店-机密"}, rule="X2")
        delivery = notify.list_deliveries(ctx.session, shop_id, limit=1)[0][0]
        export = orders_export.create_export(
            ctx,
            accounts.Principal(shop_id=shop_id, app_id=0, scopes=frozenset({"orders"})),
            OrderFilter(buyer_name="甲店-机密"),
            "csv",
        )
        objects = {
            "store_id": store.id,
            "staff_id": staff.id,
            "notice_id": note.id,
            "endpoint_id": endpoint.id,
            "delivery_id": delivery.id,
            "export_id": export.id,
        }
    objects.update(_orders_of(rt, shop_id))
    objects.update(_aftersales_of(rt, shop_id))
    objects.update(_coupons_of(rt, shop_id, objects["store_id"]))
    objects.update(_redpackets_of(rt, shop_id))
    objects.update(_luckybags_of(rt, shop_id))
    return objects


def _redpackets_of(rt: Runtime, shop_id: int) -> dict[str, Any]:
    from xiaodian.redpackets import service as redpackets

    with rt.unit() as ctx:
        ledger.topup(ctx, shop_id, Account.BALANCE, 50_00, "jia-redpacket-funds")
        result = redpackets.issue(
            ctx, shop_id, buyer_douyin_ids=["jia_buyer"], amount_fen=10_00, note="甲店-机密"
        )
        return {"redpacket_id": result.rows[0].redpacket_id}


def _orders_of(rt: Runtime, shop_id: int) -> dict[str, Any]:
    from xiaodian.orders import service as orders

    with rt.unit() as ctx:
        product = orders.create_product(ctx, shop_id, title="甲店商品-机密", price_fen=990, stock=5)
        buyer, _ = accounts.create_buyer(
            ctx, douyin_id="jia_buyer", nickname="甲买家机密", phone="13900000001"
        )
        order = orders.place_order(
            ctx,
            buyer,
            shop_id,
            items=[(product.id, 1)],
            address="甲店买家地址",
            payment_route="wechat",
            receiver_name="甲买家机密",
        )
        orders.pay_order(ctx, buyer.id, order.id)
        return {"product_id": product.id, "order_id": order.id, "buyer_id": buyer.id}


def _coupons_of(rt: Runtime, shop_id: int, store_id: int) -> dict[str, Any]:
    from datetime import timedelta

    from xiaodian.coupons import service as coupons

    from ..coupons.helpers import active_coupon

    coupon_id = active_coupon(rt, shop_id, merchant_name="甲店-机密")
    with rt.unit() as ctx:
        draft = coupons.CampaignDraft(
            name="甲店活动-机密",
            starts_at=ctx.now,
            ends_at=ctx.now + timedelta(days=3),
            store_ids=[store_id],
            coupon_ids=[coupon_id],
            per_user_limit=1,
            total_limit=10,
        )
        campaign = coupons.create_campaign(ctx, shop_id, draft)
        buyer, _ = accounts.create_buyer(ctx, douyin_id="jia_coupon_buyer", nickname="领券人")
        claim = coupons.claim(ctx, shop_id, buyer.id, campaign_id=campaign.id, coupon_id=coupon_id)
        return {"coupon_id": coupon_id, "campaign_id": campaign.id, "claim_id": claim.id}


def _aftersales_of(rt: Runtime, shop_id: int) -> dict[str, Any]:
    from xiaodian.aftersales import service as aftersales
    from xiaodian.orders import service as orders

    with rt.unit() as ctx:
        product = orders.create_product(ctx, shop_id, title="甲店售后-机密", price_fen=990, stock=5)
        buyer, _ = accounts.create_buyer(ctx, douyin_id="jia_aftersale_buyer", nickname="甲售后")
        order = orders.place_order(
            ctx,
            buyer,
            shop_id,
            items=[(product.id, 1)],
            address="甲店买家地址",
            payment_route="wechat",
            receiver_phone="13900000002",
        )
        orders.pay_order(ctx, buyer.id, order.id)
        orders.ship_order(ctx, shop_id, order.id, carrier="SF", tracking_no="SF1234567890123")
        item = orders.order_items(ctx.session, order)[0]
        req = aftersales.apply(
            ctx,
            buyer,
            order.id,
            kind="shipped_refund",
            amount_fen=990,
            reason="other",
            items=[aftersales.ItemQty(item.id, 1)],
            note="甲店-机密",
        )
        return {"aftersale_request_id": req.id}


def _luckybags_of(rt: Runtime, shop_id: int) -> dict[str, Any]:
    """A live stream, a drawn lucky bag with one win, and a 飞鸽 conversation of shop A."""
    from datetime import timedelta

    from xiaodian import scheduler
    from xiaodian.luckybags import service as lb
    from xiaodian.luckybags import sweeps as lb_rules
    from xiaodian.orders import service as orders
    from xiaodian.service import service as cs

    with rt.unit() as ctx:
        product = orders.create_product(ctx, shop_id, title="甲店福袋-机密", price_fen=1, stock=5)
        live = lb.schedule_live(
            ctx, shop_id, title="甲店-机密", start=ctx.now, end=ctx.now + timedelta(hours=2)
        )
        lb.start_live(ctx, shop_id, live.id)
        bag = lb.create_lucky_bag(
            ctx,
            shop_id,
            live_id=live.id,
            product_id=product.id,
            winners=1,
            draw_at=ctx.now + timedelta(minutes=1),
            title="甲店-机密",
        )
        buyer, _ = accounts.create_buyer(ctx, douyin_id="jia_lucky_fan", nickname="甲店-机密")
        lb.join(ctx, buyer, bag.id)
        conversation = cs.start_conversation(
            ctx, buyer, shop_id, channel="douyin", text="甲店-机密"
        )
        ids = {"live_id": live.id, "lucky_bag_id": bag.id, "conversation_id": conversation.id}
    scheduler.advance(rt, 60, sweeps=lb_rules.SWEEPS)
    with rt.unit() as ctx:
        ids["win_id"] = lb.list_wins(ctx.session, shop_id, ctx.now)[0].id
    return ids


def _api_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every open-API operation, as the published OpenAPI document lists them."""
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), path)
        for path, operations in sorted(paths.items())
        if path.startswith("/api/")
        for method in sorted(operations)
    ]


def test_X2_shop_b_reaches_none_of_shop_a_objects_through_any_route(
    rt: Runtime, client: TestClient, make_shop: Any
) -> None:
    shop_a = make_shop("甲店-机密")
    shop_b = make_shop("乙店")
    objects = _shop_a_objects(rt, shop_a.shop_id)
    routes = _api_routes(client)
    assert len(routes) > 10

    unknown = sorted({p for _, path in routes for p in re.findall(r"{(\w+)}", path)} - set(PARAMS))
    assert not unknown, f"extend PARAMS in this test for path parameters {unknown}"

    checked = 0
    for method, template in routes:
        path = re.sub(r"{(\w+)}", lambda m: str(PARAMS[m.group(1)](objects)), template)
        has_id = "{" in template and template != "/api/v1/funds/{account}/entries"
        response = shop_b.api.request(method, path, None if method == "GET" else {})
        body = response.text
        leaked = [marker for marker in MARKERS if marker in body]
        assert not leaked, f"{method} {template} leaked {leaked} to shop B"
        if has_id:
            assert response.status_code in (404, 422), (
                f"{method} {template} -> {response.status_code}"
            )
        checked += 1
    assert checked == len(routes)

    # And A's objects are still A's, unchanged, when A looks.
    assert shop_a.api.get(f"/api/v1/webhooks/{objects['endpoint_id']}").json()["active"] is True
    assert shop_a.api.get("/api/v1/funds").json()["deposit_fen"] == 987_654


def test_X2_a_buyer_sees_only_their_own_inbox(rt: Runtime, client: TestClient, shop: Any) -> None:
    alice = client.post(
        "/buyer/v1/register", json={"douyin_id": "alice", "nickname": "Alice"}
    ).json()
    bob = client.post("/buyer/v1/register", json={"douyin_id": "bob", "nickname": "Bob"}).json()
    with rt.unit() as ctx:
        notify.message_buyer(
            ctx, buyer_id=alice["id"], shop_id=shop.shop_id, kind="text", title="给 Alice 的私信"
        )
    as_bob = client.get("/buyer/v1/inbox", headers={"Authorization": f"Bearer {bob['token']}"})
    as_alice = client.get("/buyer/v1/inbox", headers={"Authorization": f"Bearer {alice['token']}"})
    assert as_bob.status_code == 200 and as_bob.json()["items"] == []
    assert [m["title"] for m in as_alice.json()["items"]] == ["给 Alice 的私信"]
    assert (
        client.get("/buyer/v1/inbox", headers={"Authorization": "Bearer bt_forged"}).status_code
        == 401
    )

"""D4: 抖店 push messages. An ERP registers its push URL through the 抖店 gateway (a signed
call of the independent client), and xiaodian's webhook worker delivers order and after-sale
changes in the platform's format to a real HTTP receiver that verifies ``event-sign`` from
REFERENCE.md alone — retried until the receiver answers ``{"code": 0}``, visible in the
delivery log, under the S1 egress rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.aftersales.conftest import World
from tests.conftest import ShopFixture
from tests.doudian.conftest import DoudianClient
from tests.doudian.push_receiver import PushReceiver, event_sign_ok
from tests.notify.test_webhooks import loopback_allowed
from tests.web.conftest import console_login, page_token
from xiaodian.accounts import service as accounts
from xiaodian.aftersales import service as aftersales
from xiaodian.config import Settings
from xiaodian.notify import service as notify
from xiaodian.notify.models import WebhookDelivery
from xiaodian.notify.webhooks import deliver_due
from xiaodian.orders import service as orders
from xiaodian.orders.models import Order
from xiaodian.runtime import Runtime

EVIDENCE = [
    {"type": 1, "url": "https://img.example.com/chat.png", "desc": "聊天记录"},
    {"type": 2, "url": "https://img.example.com/order.mp4", "desc": "定制单"},
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """S1: the receivers listen on 127.0.0.1, which only the development setting allows."""
    return loopback_allowed(settings)


@pytest.fixture
def erp(shop: ShopFixture, dd: Any) -> DoudianClient:
    client: DoudianClient = dd(shop)
    client.login(shop.shop_id)
    return client


def _deliver(rt: Runtime) -> dict[str, int]:
    return deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)


def _order_no(rt: Runtime, order_id: int) -> str:
    with rt.unit() as ctx:
        return ctx.session.scalars(select(Order.order_no).where(Order.id == order_id)).one()


def test_D4_order_and_refund_messages_arrive_signed_in_the_platform_format(
    rt: Runtime, shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    with PushReceiver(shop.app_key, shop.secret) as receiver:
        registered = erp.call("xiaodian.push_url", {"url": receiver.url})
        assert registered["url"] == receiver.url
        assert registered["tags"] == sorted(
            [*map(str, range(100, 107)), *map(str, range(200, 209))]
        )
        product = world.product(shop.shop_id, price_fen=6_800)
        shipped = world.order(shop.shop_id, [(product, 1)], ship=False)
        refunded = world.order(shop.shop_id, [(product, 2)], ship=False)
        erp.call(
            "order.logisticsAdd",
            {
                "order_id": _order_no(rt, shipped),
                "company_code": "shunfeng",
                "logistics_code": "SF1234567890123",
            },
        )
        req = world.apply(shop.shop_id, refunded, 13_600, kind="unshipped_refund")
        erp.call("afterSale.operate", {"type": 201, "items": [{"aftersale_id": str(req.id)}]})
        assert _deliver(rt)["delivered"] == len(receiver.requests)

    assert receiver.rejected == 0
    for headers, body in receiver.requests:
        assert headers["app-id"] == shop.app_key and headers["content-type"].startswith(
            "application/json"
        )
        messages = json.loads(body)
        assert isinstance(messages, list) and len(messages) == 1
        assert set(messages[0]) == {"tag", "msg_id", "data"}
        assert isinstance(messages[0]["data"], str)  # JSON text, as the platform sends it
    by_order: dict[int, list[str]] = {}
    for m in receiver.messages:
        by_order.setdefault(m["data"]["p_id"], []).append(m["tag"])
    assert by_order[int(_order_no(rt, shipped))] == ["100", "101", "102"]
    # The refund: request (200), agreed (201), paid (206); the unshipped order closes (106).
    assert by_order[int(_order_no(rt, refunded))] == ["100", "101", "200", "201", "106", "206"]
    assert len({m["msg_id"] for m in receiver.messages}) == len(receiver.messages)

    paid = next(m["data"] for m in receiver.messages if m["tag"] == "101")
    assert paid["shop_id"] == shop.shop_id and paid["order_status"] == 2
    assert paid["pay_amount"] == 6_800 and isinstance(paid["pay_time"], int)
    assert isinstance(paid["s_ids"][0], int)
    ship = next(m["data"] for m in receiver.messages if m["tag"] == "102")
    assert ship["order_status"] == 3
    assert ship["logistics_msg"] == {"express_company_id": "7", "logistics_code": "SF1234567890123"}
    created = next(m["data"] for m in receiver.messages if m["tag"] == "200")
    assert created["aftersale_id"] == req.id and created["aftersale_status"] == 6
    assert created["aftersale_type"] == 2 and created["refund_amount"] == 13_600
    assert isinstance(created["apply_time"], int) and "T" in created["update_time"]
    success = next(m["data"] for m in receiver.messages if m["tag"] == "206")
    assert success["aftersale_status"] == 12 and isinstance(success["success_time"], int)

    # Tampering with a byte of the body breaks the signature the receiver checks.
    headers, body = receiver.requests[0]
    assert event_sign_ok(shop.app_key, shop.secret, body, headers["event-sign"])
    assert not event_sign_ok(shop.app_key, shop.secret, body + b" ", headers["event-sign"])
    assert not event_sign_ok(shop.app_key, "other", body, headers["event-sign"])

    # The delivery log shows them under the platform's message names.
    with rt.unit() as ctx:
        log = notify.list_deliveries(ctx.session, shop.shop_id, limit=50)
    types = {event.type for _d, event in log}
    assert {"doudian_trade_TradePaid", "doudian_refund_RefundSuccess"} <= types
    assert all(d.status == "delivered" for d, _e in log)


def test_D4_a_200_without_code_0_is_retried_until_the_receiver_acknowledges(
    rt: Runtime, shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    answers = [(200, b'{"code":1,"msg":"busy"}'), (200, b"ok"), (503, b"")]
    with PushReceiver(shop.app_key, shop.secret, answers) as receiver:
        erp.call("xiaodian.push_url", {"url": receiver.url, "tags": ["101"]})
        product = world.product(shop.shop_id)
        world.order(shop.shop_id, [(product, 1)], ship=False)
        wall: Any = rt.wall
        log: list[tuple[str, int | None, str]] = []
        for _ in range(4):
            assert _deliver(rt)["claimed"] == 1
            with rt.unit() as ctx:
                row = ctx.session.scalars(select(WebhookDelivery)).one()
                log.append((row.status, row.last_status_code, row.last_error))
            wall.advance(rt.settings.webhooks.backoff_max_seconds)
    assert log == [
        ("pending", 200, "UnexpectedAnswer"),
        ("pending", 200, "UnexpectedAnswer"),
        ("pending", 503, "HTTP 503"),
        ("delivered", 200, ""),
    ]
    assert len(receiver.requests) == 4 and receiver.tags() == ["101"]
    bodies = {body for _h, body in receiver.requests}
    assert len(bodies) == 1  # every retry is the same message (same msg_id): de-duplicable


def test_D4_push_url_scopes_and_tags(rt: Runtime, shop: ShopFixture, dd: Any, world: World) -> None:
    with rt.unit() as ctx:
        shop_only = accounts.create_app(ctx, shop.shop_id, "仅店铺", ["shop"])
        orders_only = accounts.create_app(ctx, shop.shop_id, "仅订单", ["orders"])
        keys = {
            "shop": (shop_only.app_key, shop_only.secret),
            "orders": (orders_only.app_key, orders_only.secret),
        }
    clients = {}
    for name, (key, secret) in keys.items():
        fixture = ShopFixture(shop.shop_id, shop.user_id, "", "", key, secret, shop.api)
        clients[name] = dd(fixture)
        clients[name].login(shop.shop_id)
    with PushReceiver(*keys["orders"]) as receiver:
        refused = clients["shop"].raw("xiaodian.push_url", {"url": receiver.url})
        assert refused["code"] == 50002 and "insufficient_scope" in refused["sub_code"]
        too_much = clients["orders"].raw(
            "xiaodian.push_url", {"url": receiver.url, "tags": "101,200"}
        )
        assert too_much["code"] == 50002 and "200" in too_much["sub_msg"]
        unknown = clients["orders"].raw("xiaodian.push_url", {"url": receiver.url, "tags": [999]})
        assert unknown["code"] == 40003
        assert clients["orders"].raw("xiaodian.push_url", {})["code"] == 40001
        data = clients["orders"].call("xiaodian.push_url", {"url": receiver.url})
        assert data["tags"] == [str(t) for t in range(100, 107)]  # no refund tags without scope
        again = clients["orders"].call("xiaodian.push_url", {"url": receiver.url, "tags": "102"})
        assert again["endpoint_id"] == data["endpoint_id"] and again["tags"] == ["102"]

        product = world.product(shop.shop_id)
        order_id = world.order(shop.shop_id, [(product, 1)])
        world.apply(shop.shop_id, order_id, 5_000)
        _deliver(rt)
    assert receiver.rejected == 0 and receiver.tags() == ["102"]


def test_D4_push_url_follows_the_egress_rules(erp: DoudianClient) -> None:
    for url in ("http://10.0.0.8/push", "http://169.254.169.254/latest", "ftp://erp.example/x"):
        answer = erp.raw("xiaodian.push_url", {"url": url})
        assert answer["code"] == 50002, (url, answer)
        assert answer["sub_msg"]


def test_D4_push_url_needs_loopback_allowed_for_127(
    rt: Runtime, shop: ShopFixture, dd: Any
) -> None:
    rt.settings = rt.settings.model_copy(
        update={"webhooks": rt.settings.webhooks.model_copy(update={"allow_loopback": False})}
    )
    client: DoudianClient = dd(shop)
    client.login(shop.shop_id)
    answer = client.raw("xiaodian.push_url", {"url": "http://127.0.0.1:9/push"})
    assert answer["code"] == 50002


def test_D4_no_messages_without_a_push_url_or_after_the_app_is_revoked(
    rt: Runtime, shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    product = world.product(shop.shop_id)
    world.order(shop.shop_id, [(product, 1)], ship=False)
    with rt.unit() as ctx:
        types = [e.type for e in notify.list_events(ctx.session, shop.shop_id, limit=100)]
    assert "order.paid" in types and not [t for t in types if t.startswith("doudian_")]

    with PushReceiver(shop.app_key, shop.secret) as receiver:
        erp.call("xiaodian.push_url", {"url": receiver.url})
        with rt.unit() as ctx:
            app = accounts.app_credentials(ctx.session, shop.app_key)
            assert app is not None
            accounts.revoke_app(ctx, shop.shop_id, app.app_id)
        world.order(shop.shop_id, [(product, 1)], ship=False)
        _deliver(rt)
    assert receiver.requests == []


def test_D4_return_flow_tags(
    rt: Runtime, shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    with PushReceiver(shop.app_key, shop.secret) as receiver:
        erp.call(
            "xiaodian.push_url", {"url": receiver.url, "tags": [str(t) for t in range(200, 209)]}
        )
        product = world.product(shop.shop_id)
        returned = world.apply(
            shop.shop_id, world.order(shop.shop_id, [(product, 1)]), 5_000, kind="return_refund"
        )
        refused = world.apply(
            shop.shop_id, world.order(shop.shop_id, [(product, 1)]), 5_000, kind="return_refund"
        )
        erp.call("afterSale.operate", {"type": 101, "items": [{"aftersale_id": returned.id}]})
        buyer_id = world.buyer_of(shop.shop_id, returned.order_id)
        with rt.unit(f"buyer:{buyer_id}") as ctx:
            aftersales.ship_return(
                ctx, buyer_id, returned.id, carrier="SF", tracking_no="SF9876543210987"
            )
        erp.call("afterSale.operate", {"type": 111, "items": [{"aftersale_id": returned.id}]})
        erp.call(
            "afterSale.operate",
            {
                "type": 102,
                "items": [
                    {"aftersale_id": refused.id, "reject_reason_code": 102, "evidence": EVIDENCE}
                ],
            },
        )
        _deliver(rt)
    by_request: dict[int, list[str]] = {}
    for m in receiver.messages:
        by_request.setdefault(m["data"]["aftersale_id"], []).append(m["tag"])
    assert by_request[returned.id] == ["200", "202", "203", "201", "206"]
    assert by_request[refused.id] == ["200", "205"]
    with rt.unit() as ctx:
        assert orders.get_order(ctx.session, shop.shop_id, returned.order_id).refunded_fen == 5_000


def test_D4_console_sets_the_push_url(
    rt: Runtime, shop: ShopFixture, client: TestClient, world: World
) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/settings/doudian-codes")
    with rt.unit() as ctx:
        app = accounts.app_credentials(ctx.session, shop.app_key)
        assert app is not None
        app_id = app.app_id
    refused = client.post(
        "/console/settings/doudian-codes/push",
        data={"csrf_token": token, "app_id": str(app_id), "url": "http://10.0.0.8/push"},
    )
    assert (
        refused.status_code in (400, 422)
        and "10.0.0.8"
        not in client.get("/console/settings/doudian-codes").text.split('data-testid="push-urls"')[
            1
        ]
    )
    with PushReceiver(shop.app_key, shop.secret) as receiver:
        saved = client.post(
            "/console/settings/doudian-codes/push",
            data={"csrf_token": token, "app_id": str(app_id), "url": receiver.url},
        )
        assert saved.status_code == 200  # followed the redirect back to the page
        table = saved.text.split('data-testid="push-urls"')[1]
        assert receiver.url in table and "101" in table and "206" in table
        product = world.product(shop.shop_id)
        world.order(shop.shop_id, [(product, 1)], ship=False)
        _deliver(rt)
    assert receiver.rejected == 0 and receiver.tags() == ["100", "101"]


def test_D4_only_a_json_code_0_acknowledges(
    rt: Runtime, shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    oversized = b'{"code":0,"msg":"' + b"x" * 5000 + b'"}'  # more than egress.ANSWER_LIMIT
    answers = [(200, b'{"code":false}'), (200, b"[0]"), (200, oversized), (204, b"")]
    with PushReceiver(shop.app_key, shop.secret, answers) as receiver:
        erp.call("xiaodian.push_url", {"url": receiver.url, "tags": "100"})
        world.order(shop.shop_id, [(world.product(shop.shop_id), 1)], ship=False)
        wall: Any = rt.wall
        errors = []
        for _ in range(5):
            _deliver(rt)
            with rt.unit() as ctx:
                row = ctx.session.scalars(select(WebhookDelivery)).one()
                errors.append((row.status, row.last_error))
            wall.advance(rt.settings.webhooks.backoff_max_seconds)
    assert errors == [("pending", "UnexpectedAnswer")] * 4 + [("delivered", "")]
    assert receiver.tags() == ["100"]

"""M4 (issue 15): the console refuses a webhook subscription to an event type no context
declares, with the field's message, and creates nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ShopFixture
from tests.web.conftest import console_login, page_token
from xiaodian.notify import service as notify
from xiaodian.runtime import Runtime


def test_M4_console_refuses_a_webhook_for_an_unknown_event_type(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = "/console/settings/webhooks"
    refused = client.post(
        page,
        data={
            "url": "https://erp.example/typo",
            "event_types": "order.paid, order.payed",
            "csrf_token": page_token(client, page),
        },
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "没有这种事件类型：order.payed" in refused.text
    accepted = client.post(
        page,
        data={
            "url": "https://erp.example/ok",
            "event_types": "order.paid, coupon.verified",
            "csrf_token": page_token(client, page),
        },
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    with rt.unit() as ctx:
        endpoints = notify.list_endpoints(ctx.session, shop.shop_id)
        assert [(e.url, e.event_types) for e in endpoints] == [
            ("https://erp.example/ok", ",coupon.verified,order.paid,")
        ]

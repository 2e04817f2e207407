"""F1 gap (issue 17): the buyer asks for 平台介入 on an after-sale the merchant rejected — from
the buyer page and from the buyer API. The request is an event with the rule id, comes first
in the operator's 平台介入 queue, and the operator's decision works as before. Real HTTP."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.aftersales.conftest import World, png_bytes
from tests.platform.conftest import OperatorFixture, op_token
from tests.storefront.conftest import BuyerBrowser
from xiaodian.aftersales import service as aftersales
from xiaodian.ledger.models import Account
from xiaodian.notify.models import Event, Notice
from xiaodian.runtime import Runtime


def _rejected(world: World, rt: Runtime, shop: Any, buyer_id: int, amount: int = 1_000) -> Any:
    pid = world.product(shop.shop_id)
    order_id = world.order(shop.shop_id, [(pid, 1)], buyer_id=buyer_id)
    req = world.apply(shop.shop_id, order_id, amount)
    with rt.unit("user:1") as ctx:
        ev = aftersales.merchant_upload(ctx, shop.shop_id, req.id, "chat.png", png_bytes()).id
    with rt.unit("user:1") as ctx:
        aftersales.reject(ctx, shop.shop_id, req.id, reason="agreed_with_buyer", evidence_ids=[ev])
    return req


def _events(rt: Runtime, type_: str) -> list[Event]:
    with rt.unit() as ctx:
        return list(ctx.session.scalars(select(Event).where(Event.type == type_)))


def _queue(op_client: TestClient) -> list[int]:
    page = op_client.get("/operator/aftersales")
    assert page.status_code == 200
    return [int(i) for i in re.findall(r'data-request-id="(\d+)"', page.text)]


def test_F1_buyer_asks_for_intervention_on_the_page_it_leads_the_operator_queue(
    rt: Runtime,
    shop: Any,
    world: World,
    make_buyer: Any,
    op_client: TestClient,
    operator: OperatorFixture,
) -> None:
    asking: BuyerBrowser = make_buyer("甲")
    quiet: BuyerBrowser = make_buyer("乙")
    first = _rejected(world, rt, shop, asking.buyer_id, 1_000)
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(minutes=5))
    second = _rejected(world, rt, shop, quiet.buyer_id, 2_000)
    assert _queue(op_client) == [second.id, first.id]  # newest first
    path = f"/my/aftersales/{first.id}"
    detail = asking.client.get(path)
    assert "已拒绝" in detail.text and "申请平台介入" in detail.text
    asked = asking.post(f"{path}/intervention", {"note": "商家说协商一致，其实没有"}, page=path)
    assert asked.status_code == 303 and asked.headers["location"].endswith("done=intervention")
    page = asking.client.get(asked.headers["location"])
    assert "已申请平台介入，平台将尽快处理" in page.text
    assert 'data-testid="ask-platform"' not in page.text
    # the request is an event naming the rule, with the buyer as actor
    (event,) = _events(rt, "aftersale.intervention_requested")
    assert (event.shop_id, event.rule, event.actor) == (
        shop.shop_id,
        "A4",
        f"buyer:{asking.buyer_id}",
    )
    assert event.payload["request_id"] == first.id
    with rt.unit() as ctx:
        titles = list(ctx.session.scalars(select(Notice.title)))
    assert f"买家对售后单 {first.id} 申请了平台介入" in titles
    # first in the operator's queue, marked, with the buyer's words
    assert _queue(op_client) == [first.id, second.id]
    queue = op_client.get("/operator/aftersales").text
    assert "买家已申请平台介入" in queue and "商家说协商一致，其实没有" in queue
    # asking twice is refused in Chinese
    again = asking.post(f"{path}/intervention", {"note": ""}, page=path)
    assert again.status_code == 409 and "已申请平台介入，请等待平台处理" in again.text
    assert len(_events(rt, "aftersale.intervention_requested")) == 1
    # the operator's decision still works: overturn → refunded through the usual path
    escrow = world.balance(shop.shop_id, Account.ORDER_ESCROW)
    token = op_token(op_client, "/operator/aftersales")
    done = op_client.post(
        f"/operator/aftersales/{first.id}",
        data={"csrf_token": token, "decision": "overturn", "reason": "聊天记录不能证明协商一致"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert world.request(shop.shop_id, first.id).status == "refunded"
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == escrow - 1_000
    (decided,) = _events(rt, "platform.aftersale_intervened")
    assert decided.actor == operator.actor and decided.rule == "A4"
    assert _queue(op_client) == [second.id]
    assert "退款成功" in asking.client.get(path).text


def test_F1_intervention_is_refused_unless_rejected_and_after_an_upheld_decision(
    rt: Runtime, shop: Any, world: World, make_buyer: Any, operator: OperatorFixture
) -> None:
    buyer: BuyerBrowser = make_buyer()
    pid = world.product(shop.shop_id)
    pending = world.apply(
        shop.shop_id, world.order(shop.shop_id, [(pid, 1)], buyer_id=buyer.buyer_id), 500
    )
    path = f"/my/aftersales/{pending.id}"
    assert 'data-testid="ask-platform"' not in buyer.client.get(path).text
    refused = buyer.post(f"{path}/intervention", {}, page=path)
    assert refused.status_code == 409 and "不能申请平台介入" in refused.text
    upheld = _rejected(world, rt, shop, buyer.buyer_id)
    from xiaodian.platform import service as platform

    with rt.unit(operator.actor) as ctx:
        platform.intervene(ctx, upheld.id, "uphold", "证据充分")
    path = f"/my/aftersales/{upheld.id}"
    late = buyer.post(f"{path}/intervention", {}, page=path)
    assert late.status_code == 409 and "平台已介入处理该售后单" in late.text


def test_F1_buyer_api_requests_intervention_scoped_to_the_buyer(
    rt: Runtime, shop: Any, world: World, client: TestClient, make_buyer: Any
) -> None:
    owner: BuyerBrowser = make_buyer("甲")
    other: BuyerBrowser = make_buyer("乙")
    req = _rejected(world, rt, shop, owner.buyer_id)
    path = f"/buyer/v1/aftersales/{req.id}/intervention"
    assert client.post(path, json={}).status_code == 401
    foreign = client.post(path, json={}, headers={"Authorization": f"Bearer {other.token}"})
    assert foreign.status_code == 404
    bad = client.post(path, json={"note": 5}, headers={"Authorization": f"Bearer {owner.token}"})
    assert bad.status_code == 422
    done = client.post(
        path, json={"note": "请平台核实"}, headers={"Authorization": f"Bearer {owner.token}"}
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "rejected"
    assert body["history"][-1]["action"] == "intervention_requested"
    twice = client.post(path, json={}, headers={"Authorization": f"Bearer {owner.token}"})
    assert twice.status_code == 409
    assert twice.json()["code"] == "intervention_already_requested"
    assert twice.json()["rule"] == "A4"
    long_note = client.post(
        f"/buyer/v1/aftersales/{req.id}/intervention",
        json={"note": "字" * 201},
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert long_note.status_code == 422

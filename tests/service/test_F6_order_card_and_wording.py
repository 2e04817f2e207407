"""F6 (issue 17): lucky bags as seed 001 words them, over HTTP.

* The order card (发送订单) shows the logistics progress 已揽收 → 运输中 → 派送中 → 已签收 from
  the packages the after-sales context tracks, to the buyer (inbox, chat) and the agent
  (panel API, console page) alike, whenever it is read.
* The 中奖福袋 panel: a win past its window reads 未兑奖 with 发送兑奖链接 disabled and the "?"
  hint 已超过兑奖时间; a risk-control failure reads 兑奖失败 with its reason in the hint.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.luckybags.helpers import Scene
from tests.web.conftest import console_login
from xiaodian.aftersales import logistics
from xiaodian.aftersales.models import Package
from xiaodian.errors import Conflict
from xiaodian.runtime import Runtime
from xiaodian.service import service as cs


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _card(client: Any, token: str) -> dict[str, Any]:
    items = client.get("/buyer/v1/inbox", headers=_auth(token)).json()["items"]
    [card] = [m for m in items if m["kind"] == "card"]
    return dict(card)


def test_F6_order_card_follows_the_parcel_to_signed_for(
    rt: Runtime, client: Any, shop: Any
) -> None:
    scene = Scene(rt)
    buyer, token = scene.buyer("小红")
    win = scene.won(shop.shop_id, buyer)
    prize = scene.redeem(win.token).order
    assert prize is not None
    conversation = scene.conversation(shop.shop_id, buyer, "douyin")
    base = f"/api/v1/service/conversations/{conversation}"
    assert shop.api.post(f"{base}/send_order_card", {"win_id": win.id}).status_code == 200
    before = _card(client, token)
    assert before["body"] == "物流：商家尚未发货"
    assert (before["payload"]["logistics_label"], before["payload"]["packages"]) == ("", [])

    shipped = shop.api.post(
        f"/api/v1/orders/{prize.id}/ship", {"carrier": "顺丰", "tracking_no": "SF1234567890123"}
    )
    assert shipped.status_code == 200, shipped.text
    with rt.unit() as ctx:
        [package] = logistics.packages_of(ctx.session, shop.shop_id, prize.id)
        package_id = package.id
    console_login(client, shop.username, shop.password)
    steps = [(None, "created", "已揽收")] + [
        (event, event, label)
        for event, label in (
            ("in_transit", "运输中"),
            ("out_for_delivery", "派送中"),
            ("delivered", "已签收"),
        )
    ]
    for event, status, label in steps:
        if event is not None:  # the carrier reports it (the after-sales tracking)
            with rt.unit() as ctx:
                logistics.carrier_event(ctx, shop.shop_id, package_id, event)
        card = _card(client, token)
        payload = card["payload"]
        assert card["body"] == f"物流：顺丰速运 SF1234567890123 · {label}", event
        assert (payload["logistics_status"], payload["logistics_label"]) == (status, label)
        assert [(p["tracking_no"], p["status_label"]) for p in payload["packages"]] == [
            ("SF1234567890123", label)
        ]
        # The buyer's chat, the agent's panel and the console page show the same progress.
        chat = client.get(
            f"/buyer/v1/service/conversations/{conversation}/messages", headers=_auth(token)
        ).json()
        [in_chat] = [m for m in chat if m["kind"] == "order_card"]
        assert in_chat["payload"]["logistics_label"] == label
        [in_panel] = [m for m in shop.api.get(base).json()["messages"] if m["kind"] == "order_card"]
        assert in_panel["payload"] == in_chat["payload"]
        page = client.get(f"/console/service/{conversation}")
        assert f'data-testid="card-logistics">{label}</span>' in page.text


def _package(seq: int, status: str) -> Package:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return Package(
        shop_id=1, order_id=1, seq=seq, carrier="SF", tracking_no=f"SF{seq}", status=status,
        created_at=now, updated_at=now,
    )  # fmt: skip


def test_F6_an_order_in_several_parcels_shows_the_least_advanced_one() -> None:
    progress = cs.logistics_progress
    assert progress([]) == ("", "")
    assert progress([_package(1, "delivered"), _package(2, "in_transit")]) == (
        "in_transit",
        "运输中",
    )
    assert progress([_package(1, "out_for_delivery"), _package(2, "delivered")]) == (
        "out_for_delivery",
        "派送中",
    )
    assert progress([_package(1, "delivered"), _package(2, "delivered")]) == (
        "delivered",
        "已签收",
    )
    assert progress([_package(1, "delivered"), _package(2, "refused")]) == ("refused", "买家拒签")


def test_F6_out_for_delivery_is_a_carrier_event_of_a_moving_parcel_only(
    rt: Runtime, shop: Any
) -> None:
    scene = Scene(rt)
    buyer, _token = scene.buyer()
    prize = scene.redeem(scene.won(shop.shop_id, buyer).token).order
    assert prize is not None
    shop.api.post(
        f"/api/v1/orders/{prize.id}/ship", {"carrier": "中通", "tracking_no": "731234567890"}
    )
    with rt.unit() as ctx:
        [package] = logistics.packages_of(ctx.session, shop.shop_id, prize.id)
        logistics.carrier_event(ctx, shop.shop_id, package.id, "out_for_delivery")
        logistics.carrier_event(ctx, shop.shop_id, package.id, "delivered")
        package_id = package.id
    with pytest.raises(Conflict) as again, rt.unit() as ctx:  # delivered is delivered
        logistics.carrier_event(ctx, shop.shop_id, package_id, "out_for_delivery")
    assert again.value.code == "bad_carrier_event"
    assert "不能变为派送中" in again.value.message_zh


def test_F6_panel_words_a_lapsed_win_as_unredeemed_and_a_failure_with_its_reason(
    rt: Runtime, client: Any, shop: Any
) -> None:
    scene = Scene(rt)
    product = scene.product(shop.shop_id)
    lapsed, _ = scene.buyer("过期用户")
    scene.won(shop.shop_id, lapsed, product)
    rt.clock.advance(8 * 86400)  # type: ignore[attr-defined]  # past the 7-day window
    failed, _ = scene.buyer("风控用户")
    failed_win = scene.won(shop.shop_id, failed, product)
    scene.block(failed)
    assert scene.redeem(failed_win.token).status.value == "failed"
    reason = "买家在平台风控名单中"

    expected = {
        lapsed: ("expired", "未兑奖", "已超过兑奖时间"),
        failed: ("failed", "兑奖失败", f"兑奖失败：{reason}。请联系平台客服"),
    }
    console_login(client, shop.username, shop.password)
    for buyer_id, (status, label, hint) in expected.items():
        conversation = scene.conversation(shop.shop_id, buyer_id, "douyin")
        base = f"/api/v1/service/conversations/{conversation}"
        [win] = shop.api.get(base).json()["wins"]
        assert (win["status"], win["status_label"]) == (status, label)
        assert win["action"] == {
            "name": "send_redeem_link",
            "label": "发送兑奖链接",
            "enabled": False,
            "hint": hint,
        }
        refused = shop.api.post(f"{base}/send_redeem_link", {"win_id": win["win_id"]})
        assert refused.status_code == 409 and refused.json()["message_zh"] == hint
        page = client.get(f"/console/service/{conversation}").text
        assert f'data-testid="win-status">{label}</span>' in page
        assert f'title="{hint}" data-testid="win-hint"' in page

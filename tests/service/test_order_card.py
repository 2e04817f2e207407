"""L4 发送订单: the order card shows the order's status, shipping and logistics to the buyer
as they are when the buyer reads it — a card sent while 待发货 shows 已发货, the carrier and
the tracking number once the merchant ships the prize order."""

from __future__ import annotations

from typing import Any

from tests.luckybags.helpers import Scene
from xiaodian.runtime import Runtime


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _newest_card(client: Any, token: str) -> dict[str, Any]:
    items = client.get("/buyer/v1/inbox", headers=_auth(token)).json()["items"]
    cards = [m for m in items if m["kind"] == "card"]
    assert len(cards) == 1, items
    card: dict[str, Any] = cards[0]
    return card


def test_L4_order_card_sent_before_shipping_shows_shipping_when_read(
    rt: Runtime, client: Any, shop: Any
) -> None:
    scene = Scene(rt)
    buyer, token = scene.buyer("小红")
    win = scene.won(shop.shop_id, buyer)
    prize = scene.redeem(win.token).order
    assert prize is not None
    order_no = prize.order_no
    conversation = scene.conversation(shop.shop_id, buyer, "douyin")
    base = f"/api/v1/service/conversations/{conversation}"

    sent = shop.api.post(f"{base}/send_order_card", {"win_id": win.id})
    assert sent.status_code == 200, sent.text
    card = _newest_card(client, token)
    assert card["title"] == f"订单 {order_no}：待发货"
    assert card["body"] == "物流：商家尚未发货"
    assert (card["payload"]["status_label"], card["payload"]["tracking_no"]) == ("待发货", None)
    order_id = card["payload"]["order_id"]

    # The merchant ships the prize order through the orders API (O3).
    shipped = shop.api.post(
        f"/api/v1/orders/{order_id}/ship", {"carrier": "顺丰", "tracking_no": "SF1234567890123"}
    )
    assert shipped.status_code == 200, shipped.text

    # The same card, read again, shows the order now: 已发货, carrier and tracking number.
    card = _newest_card(client, token)
    assert card["title"] == f"订单 {order_no}：已发货"
    assert card["body"] == "物流：顺丰速运 SF1234567890123 · 已揽收"
    payload = card["payload"]
    assert (payload["status"], payload["status_label"]) == ("shipped", "已发货")
    assert (payload["carrier_name"], payload["tracking_no"]) == ("顺丰速运", "SF1234567890123")
    assert payload["shipped_at"] is not None and payload["order_no"] == order_no

    # The buyer's chat and the agent's panel show the same current card.
    chat = client.get(
        f"/buyer/v1/service/conversations/{conversation}/messages", headers=_auth(token)
    ).json()
    [in_chat] = [m for m in chat if m["kind"] == "order_card"]
    assert in_chat["payload"]["status_label"] == "已发货"
    assert in_chat["payload"]["tracking_no"] == "SF1234567890123"
    panel = shop.api.get(base).json()
    [in_panel] = [m for m in panel["messages"] if m["kind"] == "order_card"]
    assert in_panel["payload"] == in_chat["payload"]


def test_L4_X2_order_card_follows_only_its_own_shops_order(
    rt: Runtime, client: Any, make_shop: Any
) -> None:
    """The card is resolved through the shop that sent it (a tenant-scoped order lookup):
    another shop can neither see nor ship the order; the card follows its own shop's."""
    scene = Scene(rt)
    first, second = make_shop("甲店"), make_shop("乙店")
    buyer, token = scene.buyer("小红")
    win = scene.won(first.shop_id, buyer)
    scene.redeem(win.token)
    conversation = scene.conversation(first.shop_id, buyer, "douyin_lite")
    sent = first.api.post(
        f"/api/v1/service/conversations/{conversation}/send_order_card", {"win_id": win.id}
    )
    assert sent.status_code == 200, sent.text
    order_id = _newest_card(client, token)["payload"]["order_id"]
    # The other shop cannot see or ship this order …
    assert second.api.get(f"/api/v1/orders/{order_id}").status_code == 404
    # … and the card keeps following its own shop's order.
    refused = second.api.post(
        f"/api/v1/orders/{order_id}/ship", {"carrier": "中通", "tracking_no": "731234567890"}
    )
    assert refused.status_code == 404
    assert _newest_card(client, token)["payload"]["status_label"] == "待发货"
    # … and the card keeps following its own shop's order.
    shipped = first.api.post(
        f"/api/v1/orders/{order_id}/ship", {"carrier": "中通", "tracking_no": "731234567890"}
    )
    assert shipped.status_code == 200, shipped.text
    card = _newest_card(client, token)
    assert (card["payload"]["status_label"], card["payload"]["carrier_name"]) == (
        "已发货",
        "中通快递",
    )

"""飞鸽客服 in real Chromium (L4, L5): one row per distinct outcome of the panel matrix —
the 中奖福袋 button shown or not, each status's action enabled or disabled with its "?" hint,
the 直播链接 / 直播预告 entry — clicking the actions and checking the buyer's inbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import login
from tests.conftest import ShopFixture
from tests.luckybags.helpers import Scene
from xiaodian.aftersales import logistics
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


def _inbox(rt: Runtime, buyer_id: int) -> list[Any]:
    with rt.unit() as ctx:
        return notify.inbox(ctx.session, buyer_id)


def _open(page: Any, base: str, conversation: int) -> None:
    page.goto(f"{base}/console/service/{conversation}")


def test_L4_L5_lucky_bag_panel_and_live_entry_in_the_browser(
    browser_page: Any, live_server: str, rt: Runtime, make_shop: Any
) -> None:
    scene = Scene(rt)
    shop: ShopFixture = make_shop("抖音好物小店", douyin_account="haowu_official")
    product = scene.product(shop.shop_id)
    # 已过期: won first, then the window passes.
    expired, _ = scene.buyer("过期用户")
    scene.won(shop.shop_id, expired, product)
    rt.clock.advance(8 * 86400)
    unredeemed, _ = scene.buyer("未兑奖用户")
    scene.won(shop.shop_id, unredeemed, product)
    redeemed, _ = scene.buyer("已兑奖用户")
    scene.redeem(scene.won(shop.shop_id, redeemed, product).token)
    failed, _ = scene.buyer("风控用户")
    failed_win = scene.won(shop.shop_id, failed, product)
    scene.block(failed)
    scene.redeem(failed_win.token)
    toutiao, _ = scene.buyer("头条用户")
    scene.won(shop.shop_id, toutiao, product)
    live = scene.live(shop.shop_id)  # live now
    conv = {
        "unredeemed": scene.conversation(shop.shop_id, unredeemed, "douyin"),
        "redeemed": scene.conversation(shop.shop_id, redeemed, "douyin_lite"),
        "failed": scene.conversation(shop.shop_id, failed, "douyin"),
        "expired": scene.conversation(shop.shop_id, expired, "douyin_lite"),
        "toutiao": scene.conversation(shop.shop_id, toutiao, "toutiao"),
    }
    page = browser_page
    login(page, live_server, shop.username, shop.password)

    # 未兑奖 (抖音, window open): 中奖福袋 → 发送兑奖链接 → a link in the buyer's inbox.
    _open(page, live_server, conv["unredeemed"])
    assert page.locator("[data-testid=channel]").inner_text() == "抖音"
    page.click("[data-testid=lucky-bag-button]")
    row = page.locator("[data-testid=lucky-bag-panel] .win")
    assert row.locator("[data-testid=win-status]").inner_text() == "未兑奖"
    with page.expect_navigation():
        row.locator("[data-testid=send_redeem_link]").click()
    assert "已发送兑奖链接" in page.inner_text(".flash")
    newest = _inbox(rt, unredeemed)[0]
    assert newest.kind == "link" and newest.payload["url"].startswith("/buyer/luckybags/wins/")
    # L5, bound and live: 直播链接 → one click into the live room.
    assert page.locator("[data-testid=live_preview]").count() == 0
    with page.expect_navigation():
        page.click("[data-testid=live_link]")
    link = _inbox(rt, unredeemed)[0]
    assert link.payload["entry"] == "live_link" and link.payload["live_id"] == live

    # 已兑奖 (抖音极速版): 发送订单 → an order card with order status and logistics.
    _open(page, live_server, conv["redeemed"])
    page.click("[data-testid=lucky-bag-button]")
    row = page.locator("[data-testid=lucky-bag-panel] .win")
    assert row.locator("[data-testid=win-status]").inner_text() == "已兑奖"
    assert row.locator("[data-testid=send_redeem_link]").count() == 0
    with page.expect_navigation():
        row.locator("[data-testid=send_order_card]").click()
    card = _inbox(rt, redeemed)[0]
    assert card.kind == "card" and card.payload["status_label"] == "待发货"
    assert "订单卡片" in page.inner_text("[data-testid=messages]")
    # F6: the card follows the parcel — shipped, then 派送中 as the carrier reports it.
    with rt.unit() as ctx:
        order_id = card.payload["order_id"]
        orders.ship_order(
            ctx, shop.shop_id, order_id, carrier="顺丰", tracking_no="SF1234567890123"
        )
        [package] = logistics.packages_of(ctx.session, shop.shop_id, order_id)
        logistics.carrier_event(ctx, shop.shop_id, package.id, "out_for_delivery")
    _open(page, live_server, conv["redeemed"])
    bubble = page.locator("[data-testid=messages] [data-kind=order_card]")
    assert bubble.locator("[data-testid=card-logistics]").inner_text() == "派送中"
    assert "顺丰速运 SF1234567890123" in bubble.inner_text()

    # 兑奖失败: the action is disabled, the "?" explains risk control.
    _open(page, live_server, conv["failed"])
    page.click("[data-testid=lucky-bag-button]")
    row = page.locator("[data-testid=lucky-bag-panel] .win")
    assert row.locator("[data-testid=win-status]").inner_text() == "兑奖失败"
    assert row.locator("[data-testid=send_redeem_link]").is_disabled()
    hint = row.locator("[data-testid=win-hint]")
    hint.hover()
    assert hint.get_attribute("title") == "兑奖失败：买家在平台风控名单中。请联系平台客服"
    before = len(_inbox(rt, failed))
    # The server refuses it too (a forged POST from the console's own form).
    page.evaluate("document.querySelector('[data-testid=send_redeem_link]').disabled = false")
    with page.expect_navigation():
        row.locator("[data-testid=send_redeem_link]").click()
    assert "兑奖失败：买家在平台风控名单中。请联系平台客服" in page.content()
    assert len(_inbox(rt, failed)) == before

    # Past the window (抖音极速版): reads 未兑奖 (seed 001), disabled with the hint why (F6).
    _open(page, live_server, conv["expired"])
    page.click("[data-testid=lucky-bag-button]")
    row = page.locator("[data-testid=lucky-bag-panel] .win")
    assert row.locator("[data-testid=win-status]").inner_text() == "未兑奖"
    assert row.locator("[data-testid=send_redeem_link]").is_disabled()
    assert row.locator("[data-testid=win-hint]").get_attribute("title") == "已超过兑奖时间"

    # Another channel (头条): no 中奖福袋 button even though the buyer won here.
    _open(page, live_server, conv["toutiao"])
    assert page.locator("[data-testid=context-panel]").is_visible()
    assert page.locator("[data-testid=lucky-bag-button]").count() == 0

    # Not live any more, a live scheduled later → 直播预告 instead of 直播链接.
    scene.end(shop.shop_id, live)
    scene.live(shop.shop_id, start_in=3600, go_live=False)
    _open(page, live_server, conv["failed"])
    assert page.locator("[data-testid=live_link]").count() == 0
    with page.expect_navigation():
        page.click("[data-testid=live_preview]")
    assert _inbox(rt, failed)[0].payload["entry"] == "live_preview"
    page.screenshot(path="/tmp/feige.png", full_page=True)


def test_L4_L5_unbound_shop_without_lucky_bags_shows_neither(
    browser_page: Any, live_server: str, rt: Runtime, make_shop: Any
) -> None:
    scene = Scene(rt)
    shop: ShopFixture = make_shop("普通小店")
    scene.live(shop.shop_id)  # live, but not bound 人店一体
    buyer, _ = scene.buyer("抖音用户")
    conversation = scene.conversation(shop.shop_id, buyer, "douyin")
    page = browser_page
    login(page, live_server, shop.username, shop.password)
    page.click('nav a[data-nav="飞鸽客服"]')
    with page.expect_navigation():
        page.click(f"[data-conversation='{conversation}']")
    assert page.locator("[data-testid=lucky-bag-button]").count() == 0
    assert page.locator("[data-testid=live-entry]").count() == 0
    page.fill("[data-testid=chat-form] input[name=text]", "您好，有什么可以帮您？")
    with page.expect_navigation():
        page.click("[data-testid=chat-form] button[type=submit]")
    assert _inbox(rt, buyer)[0].body == "您好，有什么可以帮您？"

"""F8 (issue 17) the buyer's pages in headless Chromium on a phone-sized viewport, against the
real app on a real port: sign in with the buyer token → the shop homepage → 领取 → 我的卡券
shows the code and a QR image that loads → 申请售后 → 撤销 (the data-confirm dialog of
console.js). Screenshots of the pages go to $XIAODIAN_ARTIFACTS_DIR/screenshots."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from tests.aftersales.conftest import World
from tests.storefront.conftest import campaign
from xiaodian.accounts import service as accounts
from xiaodian.runtime import Runtime

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone_page(browser: Any) -> Any:
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(30_000)
    yield page
    context.close()


def _buyer(rt: Runtime, nickname: str = "小李") -> tuple[int, str]:
    with rt.unit() as ctx:
        buyer, token = accounts.create_buyer(
            ctx, douyin_id="e2e_buyer", nickname=nickname, phone="13900002222"
        )
        return buyer.id, token


def _sign_in(page: Any, base: str, shop_id: int, token: str) -> None:
    page.goto(f"{base}/shop/{shop_id}")
    page.click("[data-testid=claim-login]")
    page.fill("[data-testid=buyer-token]", token)
    with page.expect_navigation():
        page.click("button:has-text('登录')")
    assert page.url.endswith(f"/shop/{shop_id}")


def _fits(page: Any) -> bool:
    width: bool = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return width


def test_F8_buyer_walks_claim_coupon_then_applies_and_withdraws_an_aftersale(
    rt: Runtime, shop: Any, live_server: str, phone_page: Any
) -> None:
    page, base = phone_page, live_server
    campaign(rt, shop.shop_id)
    buyer_id, token = _buyer(rt)
    world = World(rt, itertools.count(500))
    pid = world.product(shop.shop_id, price_fen=5_000, title="保温杯")
    order_id = world.order(shop.shop_id, [(pid, 1)], buyer_id=buyer_id)

    _sign_in(page, base, shop.shop_id, token)
    assert page.locator("[data-testid=shop-coupon] h2").inner_text() == "进店全场95折"
    with page.expect_navigation():
        page.click("[data-testid=claim]")
    assert "/my/coupons" in page.url
    assert "领取成功" in page.locator("[data-testid=buyer-done]").inner_text()
    code = page.locator("[data-testid=claim-code]").inner_text()
    assert len(code.replace(" ", "")) >= 8
    qr = page.locator("[data-testid=claim-qr]")
    qr.wait_for()
    page.wait_for_function(
        "document.querySelector('[data-testid=claim-qr]').complete"
        " && document.querySelector('[data-testid=claim-qr]').naturalWidth > 0"
    )

    page.click("a:has-text('我的订单')")
    page.wait_for_url(f"{base}/my/orders")
    with page.expect_navigation():
        page.click(
            f"[data-testid=my-order][data-order-id='{order_id}'] [data-testid=apply-aftersale]"
        )
    page.select_option("[data-testid=aftersale-choice]", "shipped_refund:no_longer_wanted")
    page.fill("[data-testid=aftersale-amount]", "20")
    with page.expect_navigation():
        page.click("[data-testid=submit-aftersale]")
    assert page.locator("[data-testid=aftersale-status]").inner_text() == "待商家处理"
    assert "售后申请已提交" in page.locator("[data-testid=buyer-done]").inner_text()

    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    with page.expect_navigation():
        page.click("[data-testid=withdraw]")
    assert asked == ["确定撤销这条售后申请？"]
    assert page.locator("[data-testid=aftersale-status]").inner_text() == "已撤销"
    assert page.locator("[data-testid=withdraw]").count() == 0


def test_F8_buyer_pages_screenshots_fit_a_phone(
    rt: Runtime, shop: Any, live_server: str, phone_page: Any, tmp_path: Path
) -> None:
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page, base = phone_page, live_server
    campaign(rt, shop.shop_id)
    _buyer_id, token = _buyer(rt)
    page.goto(f"{base}/my/login")
    page.screenshot(path=str(out / "F8-buyer-login-390.png"), full_page=True)
    _sign_in(page, base, shop.shop_id, token)
    assert _fits(page)
    page.screenshot(path=str(out / "F8-shop-home-390.png"), full_page=True)
    with page.expect_navigation():
        page.click("[data-testid=claim]")
    page.wait_for_function("document.querySelector('[data-testid=claim-qr]').naturalWidth > 0")
    assert _fits(page)
    page.screenshot(path=str(out / "F8-my-coupons-390.png"), full_page=True)
    page.goto(f"{base}/my/inbox")
    assert "领券成功" in page.locator("[data-testid=inbox-message]").first.inner_text()
    assert _fits(page)
    page.screenshot(path=str(out / "F8-inbox-390.png"), full_page=True)
    assert (out / "F8-my-coupons-390.png").stat().st_size > 5_000

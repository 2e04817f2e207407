"""F5 (issue 17) in Chromium at 1400 px: 快递拦截 from a 售后工作台 row (the button asks first;
dismissed, nothing happens) and 线下联系快递 on the 售后详情 page; the outcome in 包裹与物流 and
售后记录 (actor, rule A3.1); 仅退款自主完结时长 on 店铺评级. Screenshots are kept
(XIAODIAN_ARTIFACTS_DIR, else the test's temporary directory)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from tests.aftersales.conftest import World
from tests.browser import login
from tests.conftest import ShopFixture
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


def test_F5_interception_buttons_in_browser(
    rt: Runtime, live_server: str, browser: Any, shop: ShopFixture, tmp_path: Path
) -> None:
    world = World(rt, itertools.count(1))
    world.topup(shop.shop_id, 10_000)
    pid = world.product(shop.shop_id)
    first, second = (
        world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)], name=name), 1_000)
        for name in ("李雷", "韩梅梅")
    )
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login(page, live_server, shop.username, shop.password)
        page.goto(f"{live_server}/console/aftersales")
        row = page.locator(f"tr[data-request-id='{first.id}']")
        page.screenshot(path=str(out / "F5-workbench-1400.png"), full_page=True)

        # The row's 快递拦截 asks first; dismissed, nothing is sent.
        asked: list[str] = []

        def dismiss(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", dismiss)
        row.locator("[data-testid=intercept]").click()
        page.wait_for_timeout(300)
        assert asked and "拦截费用 ¥3.00" in asked[0]
        assert page.url.endswith("/console/aftersales")
        assert world.packages(shop.shop_id, first.order_id)[0].interception == ""

        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            row.locator("[data-testid=intercept]").click()
        page.wait_for_selector("text=已向快递公司发起拦截")
        assert page.url.endswith(f"/console/aftersales/{first.id}")
        assert page.locator("[data-testid=package-interception]").inner_text() == "拦截中"
        history = page.locator("[data-testid=history]").inner_text()
        assert "商家发起快递拦截" in history and "A3.1" in history
        assert page.locator("[data-testid=interception]").count() == 0
        page.screenshot(path=str(out / "F5-interception-requested-1400.png"), full_page=True)

        # 售后详情: 线下联系快递 with a note → intercepted, refunded, no fee.
        page.goto(f"{live_server}/console/aftersales/{second.id}")
        assert page.locator("[data-testid=intercept-carrier]").is_visible()
        page.screenshot(path=str(out / "F5-detail-interception-1400.png"), full_page=True)
        page.fill("[data-testid=intercept-note]", "已电话联系中通网点拦截成功")
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():
            page.click("[data-testid=intercept-offline]")
        page.wait_for_selector("text=已记录线下快递拦截")
        assert page.locator("[data-testid=request-status]").inner_text() == "退款成功"
        cell = page.locator("[data-testid=package-interception]").inner_text()
        assert "线下拦截成功" in cell and "线下结算" in cell
        history = page.locator("[data-testid=history]").inner_text()
        assert "已电话联系中通网点拦截成功" in history and "A3.1" in history
        # U5: the actor by name, never the internal user:<id>
        assert "主账号" in history and f"user:{shop.user_id}" not in history
        page.screenshot(path=str(out / "F5-interception-offline-1400.png"), full_page=True)

        page.goto(f"{live_server}/console/orders/rating")
        card = page.locator("[data-testid=refund-completion]")
        assert "仅退款自主完结时长" in card.inner_text()
        assert "仅退款售后单 1 单" in card.inner_text()
        page.screenshot(path=str(out / "F5-rating-1400.png"), full_page=True)
    finally:
        context.close()

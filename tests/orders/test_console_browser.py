"""Orders console in headless Chromium: filter the list, open an order, ship it (O1, O3),
and see the 违规处理 page after the late-shipment sweeps (O6)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import browser, browser_page, live_server, login  # noqa: F401
from xiaodian import scheduler
from xiaodian.orders import rules
from xiaodian.runtime import Runtime


@pytest.mark.browser
def test_O1_O3_O6_browser_filter_ship_and_violations(
    rt: Runtime,
    shop: Any,
    shopper: Any,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
) -> None:
    product = shopper.product(shop.shop_id, title="手工牛轧糖")
    late = shopper.order(shop.shop_id, product, name="韩梅梅")
    scheduler.advance(rt, int(timedelta(hours=49).total_seconds()), sweeps=rules.SWEEPS)
    fresh = shopper.order(shop.shop_id, product, name="李雷")
    page = browser_page
    login(page, live_server, shop.username, shop.password)
    page.goto(f"{live_server}/console/orders")
    page.fill("input[name=buyer_name]", "李")
    with page.expect_navigation():
        page.click("form[data-testid=order-filters] button[type=submit]")
    rows = page.locator("table[data-testid=orders] tbody tr")
    assert rows.count() == 1
    with page.expect_navigation():
        rows.first.locator("a").click()
    assert page.url.endswith(f"/console/orders/{fresh}")
    page.select_option("select[name=carrier]", "JD")
    page.fill("input[name=tracking_no]", "JDVA12345678901")
    with page.expect_navigation():
        page.click("form[data-testid=ship-form] button[type=submit]")
    assert page.locator("[data-testid=order-status]").inner_text() == "已发货"
    page.goto(f"{live_server}/console/orders/violations")
    table = page.locator("table[data-testid=violations]")
    assert "第 1 次" in table.inner_text() and "待扣款" in table.inner_text()
    page.goto(f"{live_server}/console/orders/{late}")
    assert "第 1 次" in page.locator("table[data-testid=order-violations]").inner_text()

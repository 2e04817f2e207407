"""Orders console in headless Chromium: filter the list, open an order, ship it (O1, O3),
and see the 违规处理 page after the late-shipment sweeps (O6).

The browser runs in a thread of its own: tests/browser.py keeps a session-wide Playwright (sync API)
alive on the main thread, and a second sync Playwright cannot start on a thread that already
runs one."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, live_server, login  # noqa: F401
from xiaodian import scheduler
from xiaodian.orders import sweeps as rules
from xiaodian.runtime import Runtime


def _in_browser(steps: Callable[[Any], None]) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("XIAODIAN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} not found (XIAODIAN_REQUIRE_BROWSER=1)")
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run browser tests")

    def run() -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = chromium.new_context(locale="zh-CN")
                page = context.new_page()
                page.set_default_timeout(30_000)
                steps(page)
            finally:
                chromium.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


@pytest.mark.browser
def test_O1_O3_O6_browser_filter_ship_and_violations(
    rt: Runtime,
    shop: Any,
    shopper: Any,
    live_server: str,  # noqa: F811
) -> None:
    product = shopper.product(shop.shop_id, title="手工牛轧糖")
    late = shopper.order(shop.shop_id, product, name="韩梅梅")
    scheduler.advance(rt, int(timedelta(hours=49).total_seconds()), sweeps=rules.SWEEPS)
    fresh = shopper.order(shop.shop_id, product, name="李雷")

    def steps(page: Any) -> None:
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
        table = page.locator("table[data-testid=violations]").inner_text()
        assert "第 1 次" in table and "待扣款" in table
        page.goto(f"{live_server}/console/orders/{late}")
        assert "第 1 次" in page.locator("table[data-testid=order-violations]").inner_text()

    _in_browser(steps)


@pytest.mark.browser
def test_O9_browser_dashboard_and_rating_page_show_rate_score_and_chart(
    rt: Runtime,
    shop: Any,
    shopper: Any,
    live_server: str,  # noqa: F811
) -> None:
    from tests.orders.conftest import rating_history

    rating_history(rt, shop.shop_id, shopper)  # rate 3/4, 5 judgments, score 20

    def check_panel(page: Any) -> None:
        assert page.locator("[data-testid=late-rate]").inner_text() == "75.00%"
        assert page.locator("[data-testid=rating-score]").inner_text() == "20"
        assert page.locator("[data-testid=judgments]").inner_text() == "5"
        formula = page.locator("[data-testid=rating-score-formula]").inner_text()
        assert formula == "满分 100 − 判定记录 5 − 超时率 75"
        chart = page.locator("svg[data-testid=rating-chart]")
        assert chart.is_visible()
        bars = chart.locator("rect[data-testid=judgment-bar]")
        assert bars.count() == 31
        assert chart.locator("rect[data-day='2026-11-04']").get_attribute("data-count") == "2"
        tall = chart.locator("rect[data-day='2026-11-04']").bounding_box()
        short = chart.locator("rect[data-day='2026-11-05']").bounding_box()
        assert tall is not None and short is not None
        assert tall["height"] == pytest.approx(2 * short["height"], rel=0.05)
        assert chart.locator("polyline[data-testid=rate-line]").count() == 1
        points = chart.locator("circle[data-testid=rate-point]")
        assert points.count() == 31
        assert points.last.get_attribute("data-rate") == "0.7500"
        assert chart.locator("circle[data-day='2026-11-23']").get_attribute("data-rate") == (
            "0.6000"
        )

    def steps(page: Any) -> None:
        login(page, live_server, shop.username, shop.password)
        page.goto(f"{live_server}/console/")
        check_panel(page)
        with page.expect_navigation():
            page.click(".dashboard-rating a[href='/console/orders/rating']")
        assert page.url.endswith("/console/orders/rating")
        check_panel(page)

    _in_browser(steps)

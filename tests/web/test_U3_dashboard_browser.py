"""U3 in real Chromium: the console home with today's figures, the to-dos (each tile opens a
list showing exactly its count), and the two charts drawn server-side as inline SVG across the
full width, with their data table; no script and no CSP violation. Screenshots at 1400 and
390 px are kept (XIAODIAN_ARTIFACTS_DIR, else the test's temporary directory)."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import login
from tests.conftest import ShopFixture
from tests.orders.conftest import Shopper
from tests.web.u3_data import build_day
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))


def _list_count(page: Any, key: str) -> int:
    if key in ("awaiting_shipment", "ship_soon"):
        text = page.inner_text("[data-testid=order-total]")
        total = int(re.sub(r"\D", "", text))
        shown = page.locator("[data-testid=orders] tbody tr:not(:has(td.empty))").count()
        assert shown == min(total, 20)
        return total
    selector = {
        "aftersales": "[data-testid=aftersales] tbody tr[data-request-id]",
        "coupons_reviewing": "[data-testid=coupons] tbody tr[data-coupon-id]",
        "redpackets_expiring": "[data-testid=packets] tbody tr[data-packet]",
        "unread_notices": "li.notice.unread[data-testid=notice]",
    }[key]
    return int(page.locator(selector).count())


def test_U3_dashboard_in_chromium(
    browser_page: Any, live_server: str, rt: Runtime, shop: ShopFixture, shopper: Shopper
) -> None:
    build_day(rt, shop, shopper)
    page = browser_page
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if msg.type == "error" else None)
    login(page, live_server, shop.username, shop.password)
    assert page.url == f"{live_server}/console/"
    assert page.inner_text("[data-testid=today-sales]") == "266.00"
    assert page.inner_text("[data-testid=today-paid-orders]") == "3"
    assert page.inner_text("[data-testid=today-refunds]") == "1"
    assert page.inner_text("[data-testid=today-refund-amount]") == "20.00"

    tiles = page.locator("[data-testid=dash-todos] a.todo")
    todos = []
    for i in range(tiles.count()):
        tile = tiles.nth(i)
        key = (tile.get_attribute("data-testid") or "").removeprefix("todo-")
        todos.append((key, int(tile.locator("[data-testid=todo-count]").inner_text())))
    assert [k for k, _ in todos] == [
        "awaiting_shipment",
        "ship_soon",
        "aftersales",
        "coupons_reviewing",
        "redpackets_expiring",
        "unread_notices",
    ]
    assert dict(todos)["awaiting_shipment"] == 4 and dict(todos)["ship_soon"] == 1
    assert "最近一单剩余 23小时0分" in page.inner_text("[data-testid=todo-aftersales]")
    # Each tile, clicked, opens a list with exactly that many rows.
    for key, count in todos:
        page.goto(f"{live_server}/console/")
        with page.expect_navigation():
            page.click(f"[data-testid=todo-{key}]")
        assert _list_count(page, key) == count, key

    page.goto(f"{live_server}/console/")
    content_width = page.locator("main.content").bounding_box()["width"]
    for key in ("sales", "late"):
        svg = page.locator(f"[data-testid=chart-{key}] svg")
        assert svg.get_attribute("role") == "img"
        box = svg.bounding_box()
        assert box is not None and box["width"] > content_width * 0.85  # full width
        assert svg.locator("rect[data-testid=chart-bar]").count() == 14
        table = page.locator(f"[data-testid=chart-{key}] [data-testid=chart-table]")
        assert not table.is_visible()
        page.click(f"[data-testid=chart-{key}] summary")
        assert table.is_visible() and table.locator("tbody tr").count() == 14
    assert page.locator("script:not([src])").count() == 0
    assert not [v for v in violations if "Content Security Policy" in v], violations


@pytest.mark.parametrize("width", [1400, 390])
def test_U3_dashboard_screenshots(
    browser: Any,
    live_server: str,
    rt: Runtime,
    shop: ShopFixture,
    shopper: Shopper,
    width: int,
    tmp_path: Path,
) -> None:
    build_day(rt, shop, shopper)
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login(page, live_server, shop.username, shop.password)
        assert page.locator("[data-testid=dash-todos]").is_visible()
        assert page.locator("[data-testid=chart-sales] svg").is_visible()
        page.screenshot(path=str(out / f"U3-dashboard-{width}.png"), full_page=True)
    finally:
        context.close()

"""U4 in real Chromium: 订单管理 pages (共 N 条, 上一页/下一页, 20/50/100 per page), the 导出
button exporting exactly the filter on screen (导出记录 shows it, nothing retyped), and the
header's global search. A screenshot at 1400 px is kept (XIAODIAN_ARTIFACTS_DIR, else the
test's temporary directory)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser import login
from tests.conftest import ShopFixture
from tests.orders.conftest import Shopper
from xiaodian.config import Settings
from xiaodian.orders.export.models import OrderExport
from xiaodian.orders.models import Order
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    result = Settings(database_url=db_url, clock_mode="system", secret_key="test-secret-key")
    result.orders.export_dir = str(tmp_path / "exports")
    return result


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))


def _rows(page: Any) -> int:
    return int(page.locator("[data-testid=orders] tbody tr:not(:has(td.empty))").count())


def test_U4_orders_workflow_in_chromium(
    browser: Any,
    live_server: str,
    rt: Runtime,
    shop: ShopFixture,
    shopper: Shopper,
    tmp_path: Path,
) -> None:
    product = shopper.product(shop.shop_id)
    for _ in range(22):
        shopper.order(shop.shop_id, product, name="王芳", phone="13911118888")
    single = shopper.order(shop.shop_id, product, name="李雷", phone="13922227777")
    shopper.order(shop.shop_id, product, pay=False, name="王强", phone="13933336666")
    with rt.unit() as ctx:
        single_no = ctx.session.get(Order, single).order_no
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login(page, live_server, shop.username, shop.password)
        # Global search from the dashboard's header: a phone tail shared by 22 orders → the
        # list filtered by it, page 1 of 2.
        page.fill("[data-testid=global-search-input]", "8888")
        with page.expect_navigation():
            page.press("[data-testid=global-search-input]", "Enter")
        assert page.url.endswith("/console/orders?buyer_phone=8888")
        assert page.input_value("input[name=buyer_phone]") == "8888"
        assert page.inner_text("[data-testid=order-total]") == "共 22 条"
        assert page.inner_text("[data-testid=order-page]") == "第 1 / 2 页"
        assert _rows(page) == 20
        page.screenshot(path=str(out / "U4-orders-1400.png"), full_page=True)
        with page.expect_navigation():
            page.click("[data-testid=next-page]")
        assert _rows(page) == 2 and page.inner_text("[data-testid=order-page]") == "第 2 / 2 页"
        with page.expect_navigation():
            page.click("[data-testid=prev-page]")
        assert _rows(page) == 20
        with page.expect_navigation():
            page.click("[data-testid=page-size-50]")
        assert _rows(page) == 22 and page.inner_text("[data-testid=page-size-current]") == "50"
        assert page.input_value("input[name=buyer_phone]") == "8888"

        # Narrow the filter in the form, then 导出: the export carries exactly that filter.
        page.select_option("select[name=status]", "awaiting_shipment")
        with page.expect_navigation():
            page.click("[data-testid=order-filters] button[type=submit]")
        assert page.inner_text("[data-testid=order-total]") == "共 22 条"
        assert page.inner_text("[data-testid=page-size-current]") == "50"  # size kept
        page.select_option("[data-testid=export-format]", "xlsx")
        with page.expect_navigation():
            page.click("[data-testid=export-button]")
        assert page.url.endswith("/console/orders/exports")
        row = page.locator("[data-testid=export-row]").first
        assert "订单状态=待发货" in row.inner_text() and "买家手机号=8888" in row.inner_text()
        page.screenshot(path=str(out / "U4-export-record-1400.png"), full_page=True)
        with rt.unit() as ctx:
            (record,) = ctx.session.query(OrderExport).all()
            assert record.filter == {"buyer_phone": "8888", "status": "awaiting_shipment"}
            assert record.format == "xlsx"

        # An order no. with exactly one match opens the order itself.
        page.fill("[data-testid=global-search-input]", single_no)
        with page.expect_navigation():
            page.click("[data-testid=global-search-submit]")
        assert page.url == f"{live_server}/console/orders/{single}"
        assert single_no in page.inner_text("main")
    finally:
        context.close()

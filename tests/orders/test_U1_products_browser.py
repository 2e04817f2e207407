"""U1 商品管理 in real Chromium (issue 13): a fresh shop creates a product in the console (a bad
price is refused beside its field with the form kept), edits it, 下架 and 上架 it through the
confirmed buttons, and sees a product banned by O8 with its rule, time, reason and how the ban
is lifted. Screenshots at 1400 px go to XIAODIAN_ARTIFACTS_DIR (else the test's temporary
directory), like the other console screenshot tests."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser import login
from tests.conftest import ShopFixture
from tests.orders.conftest import Shopper
from xiaodian import scheduler
from xiaodian.orders import sweeps as rules
from xiaodian.orders.models import Product
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser
HOUR = 3600


def test_U1_products_console_create_edit_delist_list_banned(
    browser: Any,
    live_server: str,
    rt: Runtime,
    shop: ShopFixture,
    tmp_path: Path,
) -> None:
    shopper = Shopper(rt, itertools.count(1))
    # A product banned by O8: an order paid and never shipped, judged late three times.
    late = shopper.product(shop.shop_id, title="迟发的围巾", price_fen=12_900, stock=40)
    shopper.deposit(shop.shop_id)
    shopper.order(shop.shop_id, late)
    scheduler.advance(rt, 96 * HOUR + 1, sweeps=rules.SWEEPS)

    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    confirms: list[str] = []

    def accept(dialog: Any) -> None:
        confirms.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    try:
        login(page, live_server, shop.username, shop.password)
        page.click('nav a[data-nav="商品管理"]')
        page.wait_for_url(f"{live_server}/console/products")

        # Create: a price with three decimals is refused beside its field, the form kept.
        page.click("[data-testid=new-product]")
        page.wait_for_url(f"{live_server}/console/products/new")
        page.fill("input[name=title]", "羊毛保温杯")
        page.fill("input[name=price]", "59.999")
        page.fill("input[name=stock]", "25")
        with page.expect_navigation():
            page.click("[data-testid=save-product]")
        assert "最多两位小数" in page.inner_text("[data-testid=error-price]")
        assert page.input_value("input[name=title]") == "羊毛保温杯"
        assert page.input_value("input[name=stock]") == "25"
        page.screenshot(path=str(out / "U1-product-form-error-1400.png"), full_page=True)
        page.fill("input[name=price]", "59.90")
        with page.expect_navigation():
            page.click("[data-testid=save-product]")
        assert "已创建" in page.inner_text(".flash-ok")
        assert page.inner_text("[data-testid=product-status]") == "在售"
        product_id = int(page.url.rsplit("/", 1)[1])
        with rt.unit() as ctx:
            product = ctx.session.get(Product, product_id)
            assert product is not None and product.price_fen == 5_990 and product.stock == 25

        # Edit: new price and a pre-sale promise (O4).
        page.fill("input[name=price]", "49.90")
        page.fill("input[name=ship_within_hours]", "360")
        with page.expect_navigation():
            page.click("[data-testid=save-product]")
        assert "已保存" in page.inner_text(".flash-ok")
        assert page.input_value("input[name=price]") == "49.90"
        assert page.input_value("input[name=ship_within_hours]") == "360"

        # 库存调整.
        page.fill("input[name=delta]", "-5")
        with page.expect_navigation():
            page.click("[data-testid=adjust-stock]")
        assert page.inner_text("[data-testid=product-stock]") == "20"

        # 下架 and 上架 from the list, each confirmed.
        page.goto(f"{live_server}/console/products")
        row = page.locator(f"tr[data-product='{product_id}']")
        assert row.locator("[data-testid=product-price]").inner_text() == "49.90"
        with page.expect_navigation():
            page.click(f"[data-testid=delist-{product_id}]")
        assert confirms and "下架" in confirms[-1]
        assert row.locator("[data-testid=product-status]").inner_text() == "已下架"
        with page.expect_navigation():
            page.click(f"[data-testid=list-{product_id}]")
        assert "上架" in confirms[-1]
        assert row.locator("[data-testid=product-status]").inner_text() == "在售"

        # The banned product: its state, rule, time and reason; no 上架 button.
        banned = page.locator(f"tr[data-product='{late}']")
        assert banned.locator("[data-testid=product-status]").inner_text() == "已封禁"
        assert page.locator(f"[data-testid=list-{late}]").count() == 0
        notice = page.inner_text(f"[data-testid=ban-notice-{late}]")
        assert "O8" in notice and "封禁时间 2026-11-06 10:00" in notice
        assert "只有平台运营人员可以解除封禁" in notice
        assert page.inner_text("[data-testid=count-banned]") == "1"
        page.screenshot(path=str(out / "U1-products-1400.png"), full_page=True)

        page.click(f"tr[data-product='{late}'] [data-testid=product-title]")
        page.wait_for_url(f"{live_server}/console/products/{late}")
        detail = page.inner_text("[data-testid=ban-notice]")
        assert "商品已被平台封禁" in detail and "O8" in detail
        assert "整改" in detail and "申诉" in detail
        assert page.locator("[data-testid=list-disabled]").is_disabled()
        page.screenshot(path=str(out / "U1-product-banned-1400.png"), full_page=True)
    finally:
        context.close()

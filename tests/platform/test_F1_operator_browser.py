"""F1 the operator console in real Chromium: log in at /operator, approve a flagged coupon in
卡券审核, unban a product in 商品解封; screenshots (XIAODIAN_ARTIFACTS_DIR, else the test's
temporary directory)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser, browser_page, live_server  # noqa: F401
from tests.coupons.helpers import draft
from tests.orders.conftest import Shopper
from tests.platform.conftest import OperatorFixture
from xiaodian import scheduler
from xiaodian.coupons import service as coupons
from xiaodian.coupons.models import CouponStatus
from xiaodian.orders import sweeps as order_rules
from xiaodian.orders.models import Product
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


def test_F1_operator_console_approves_a_flagged_coupon_and_unbans_a_product_in_chromium(
    rt: Runtime,
    shop: Any,
    shopper: Shopper,
    operator: OperatorFixture,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    page = browser_page
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    product_id = shopper.product(shop.shop_id, title="保温杯")
    shopper.order(shop.shop_id, product_id)
    scheduler.advance(rt, 5 * 86400, sweeps=order_rules.SWEEPS)  # O8: banned
    with rt.unit("user:1") as ctx:
        flagged = coupons.create_coupon(ctx, shop.shop_id, draft(title="全网最低价"))
    assert flagged.auto_reasons

    # The operator console has its own login; a shop's pages are not behind it.
    page.goto(f"{live_server}/operator/coupons")
    assert "/operator/login" in page.url
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", operator.password)
    with page.expect_navigation(timeout=30_000):
        page.click("button[type=submit]")
    assert page.url.endswith("/operator/coupons")
    row = page.locator(f"[data-testid=operator-coupon-queue] tr[data-coupon-id='{flagged.id}']")
    assert "绝对化" in row.locator("[data-testid=machine-flags]").inner_text()
    page.screenshot(path=str(out / "F1-operator-coupons.png"), full_page=True)
    row.locator("input[name=reason]").first.fill("活动价说明，放行")
    row.locator("[data-testid=approve]").click()
    page.wait_for_selector("[data-testid=operator-done]")
    assert page.locator(f"tr[data-coupon-id='{flagged.id}']").count() == 0
    with rt.unit() as ctx:
        status = coupons.get_coupon(ctx.session, shop.shop_id, flagged.id).status
    assert status == CouponStatus.REVIEWING  # approved; takes effect at the 30-minute mark
    scheduler.advance(rt, 1800, sweeps=[])
    with rt.unit() as ctx:
        coupons.finalize_reviews(ctx)
        assert coupons.get_coupon(ctx.session, shop.shop_id, flagged.id).status == "active"

    page.click("[data-nav=商品解封]")
    product_row = page.locator(f"tr[data-product-id='{product_id}']")
    product_row.locator("input[name=note]").fill("商家已整改")
    page.once("dialog", lambda dialog: dialog.accept())  # data-confirm
    product_row.locator("[data-testid=unban]").click()
    page.wait_for_selector("[data-testid=operator-done]")
    assert page.locator(f"tr[data-product-id='{product_id}']").count() == 0
    with rt.unit() as ctx:
        assert ctx.session.get(Product, product_id).banned_at is None
    page.goto(f"{live_server}/operator/")
    assert page.locator("[data-testid=operator-decisions] tbody tr").count() == 2
    page.screenshot(path=str(out / "F1-operator-home.png"), full_page=True)

    # The operator's browser is not logged in to any shop.
    page.goto(f"{live_server}/console/")
    assert "/console/login" in page.url

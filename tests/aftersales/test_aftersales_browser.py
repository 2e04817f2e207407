"""A2/A3/A4 in Chromium: 售后小助手 创建策略, 售后工作台 search and 批量同意退款, and 拒绝 on the
detail page — refused without 举证, accepted with an uploaded image."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.aftersales.conftest import World, png_bytes
from tests.browser import login
from tests.conftest import ShopFixture
from xiaodian.config import AfterSalesRules
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


def test_A2_A3_A4_aftersales_console_in_browser(
    rt: Runtime,
    live_server: str,
    browser_page: Any,
    shop: ShopFixture,
    tmp_path: Path,
) -> None:
    rt.settings.aftersales = AfterSalesRules(evidence_dir=str(tmp_path / "evidence"))
    world = World(rt, itertools.count(1))
    pid = world.product(shop.shop_id)
    reqs = [
        world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)], name=name), 1_000)
        for name in ("李雷", "韩梅梅", "王五")
    ]
    page = browser_page
    login(page, live_server, shop.username, shop.password)

    # 售后小助手 → 创建策略 (小金额自动同意退款).
    page.click("[data-nav=售后小助手]")
    card = page.locator("[data-testid=strategy-small_amount]")
    card.locator("[data-testid=threshold]").fill("5.00")
    card.locator("[data-testid=save-small_amount]").click()
    page.wait_for_selector("text=策略已保存")
    assert card.locator("[data-testid=strategy-state]").inner_text() == "已开启"

    # 售后工作台: 已发货仅退款待处理 with time left; search by customer name.
    page.click("[data-nav=售后工作台]")
    assert page.locator("[data-testid=tab-pending]").inner_text() == "已发货仅退款待处理 (3)"
    assert page.locator("tbody tr").count() == 3
    page.fill("input[name=buyer_name]", "韩")
    page.click("text=查询")
    assert page.locator("tbody tr").count() == 1
    page.click("text=重置")

    # 批量同意退款 on two requests.
    for req in reqs[:2]:
        page.check(f"tr[data-request-id='{req.id}'] input[type=checkbox]")
    page.click("[data-testid=batch-agree]")
    page.wait_for_selector("text=批量同意退款：成功 2 单，失败 0 单")
    assert page.locator("tbody tr").count() == 1

    # Detail: 拒绝 needs 举证; with an image it goes through.
    page.click(f"tr[data-request-id='{reqs[2].id}'] >> text=详情")
    page.select_option("[data-testid=reject-reason]", "fresh_food")
    page.click("[data-testid=reject]")
    page.wait_for_selector("text=拒绝售后须选择拒绝原因并上传对应的举证材料")
    assert page.locator("[data-testid=request-status]").inner_text() == "待商家处理"
    page.select_option("[data-testid=reject-reason]", "fresh_food")
    page.set_input_files(
        "[data-testid=reject-files]",
        files=[{"name": "生鲜说明.png", "mimeType": "image/png", "buffer": png_bytes()}],
    )
    page.click("[data-testid=reject]")
    page.wait_for_selector("text=已拒绝售后申请")
    assert page.locator("[data-testid=request-status]").inner_text() == "已拒绝"
    assert "生鲜说明.png" in page.locator("[data-testid=evidence]").inner_text()
    assert world.request(shop.shop_id, reqs[0].id).status == "refunded"

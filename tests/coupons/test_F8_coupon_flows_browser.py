"""F8 (issue 17) in Chromium: seed 004's clicks by their labels. 创建卡券 → 通用券 → 开始创建 →
完成卡券创建 (a 600×600 image: accepted, with the 686×176 warning on the result page); then
创建活动 → 下一步 → 选择卡券 → 创建新的卡券 (and back to the picker, the draft kept) → 刷新
once reviewed → tick → 确定选择 → 确定. Screenshots go to XIAODIAN_ARTIFACTS_DIR (else the
test's temporary directory)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser import browser, browser_page, live_server, login  # noqa: F401
from tests.coupons.helpers import draft, jpeg
from xiaodian import scheduler
from xiaodian.coupons import service
from xiaodian.coupons.sweeps import SWEEPS
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


def _button(page: Any, label: str) -> Any:
    return page.get_by_role("button", name=label, exact=True)


def _link(page: Any, label: str) -> Any:
    return page.get_by_role("link", name=label, exact=True)


def _create_coupon(page: Any, files: Path, title: str, image: str) -> None:
    """创建卡券 → 通用券 → 开始创建 → fill → 完成卡券创建 (from wherever 创建卡券 was clicked)."""
    page.get_by_text("通用券", exact=True).click()
    _button(page, "开始创建").click()
    page.wait_for_selector("[data-testid=coupon-form]")
    page.set_input_files("input[name=product_image]", str(files / image))
    page.set_input_files("input[name=logo]", str(files / "logo.png"))
    page.fill("input[name=merchant_name]", "好物小店")
    page.fill("input[name=title]", title)
    page.fill("input[name=discount_percent]", "95")
    page.fill("input[name=discount_cap]", "300")
    page.fill("textarea[name=usage_text]", "全场95折，最多抵扣300元")
    page.fill("input[name=service_phone]", "0571-88886666")
    page.fill("input[name=claim_instructions]", "到店出示券码")
    # The machine review (QR/barcode, OCR) runs before the answer: slow on a busy machine.
    with page.expect_navigation(timeout=60_000):
        _button(page, "完成卡券创建").click(no_wait_after=True)
    page.wait_for_selector("text=已提交审核")


def test_F8_coupon_and_campaign_flows_click_by_seed_labels(
    rt: Runtime,
    shop: Any,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    page = browser_page
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    d = draft()
    (tmp_path / "product.png").write_bytes(d.product_image or b"")
    (tmp_path / "square.jpg").write_bytes(jpeg(600, 600))
    (tmp_path / "logo.png").write_bytes(d.logo or b"")
    login(page, live_server, shop.username, shop.password)

    # STEP 2: 创建卡券 → 通用券 → 开始创建 → 完成卡券创建; the page after says where it stands.
    page.goto(f"{live_server}/console/coupons")
    _link(page, "创建卡券").click()
    _create_coupon(page, tmp_path, "方图95折", "square.jpg")
    assert page.locator("h1 [data-testid=status]").inner_text() == "审核中"
    warning = page.locator("[data-testid=coupon-warnings]").inner_text()
    assert "600×600" in warning and "686×176" in warning
    page.screenshot(path=str(out / "F8_coupon_created_with_warning.png"), full_page=True)

    # STEP 3: 创建活动 → name, time, stores → the red 下一步.
    page.goto(f"{live_server}/console/coupons/campaigns")
    _link(page, "创建活动").click()
    now = rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone))
    page.fill("input[name=name]", "开业领券")
    page.fill("input[name=starts_at]", now.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=ends_at]", now.replace(year=now.year + 1).strftime("%Y-%m-%dT%H:%M"))
    _button(page, "下一步").click()
    page.wait_for_selector("[data-testid=campaign-form]")
    assert "开业领券" in page.locator("[data-testid=campaign-summary]").inner_text()

    # STEP 4: 选择卡券 — nothing approved yet; 创建新的卡券 inline and come back.
    _link(page, "选择卡券").click()
    picker = page.locator("[data-testid=pick-list]")
    assert picker.locator("input[name=coupon_ids]").count() == 0
    _link(page, "创建新的卡券").click()
    _create_coupon(page, tmp_path, "新券95折", "product.png")
    assert "/console/coupons/campaigns/new/coupons" in page.url
    assert "点击【刷新】" in page.locator(".flash").first.inner_text()
    page.screenshot(path=str(out / "F8_picker_after_inline_create.png"), full_page=True)

    # About 30 minutes later the platform's default policy approves both; 刷新 shows them.
    scheduler.advance(rt, 31 * 60, sweeps=SWEEPS)
    _button(page, "刷新").click()
    page.wait_for_selector("[data-testid=pick-list] input[name=coupon_ids]")
    with rt.unit() as ctx:
        by_title = {c.title: c.id for c in service.list_coupons(ctx.session, shop.shop_id)}
    assert picker.locator("input[name=coupon_ids]").count() == 2
    page.check(f"[data-testid=pick-list] tr[data-coupon-id='{by_title['新券95折']}'] input")
    _button(page, "确定选择").click()
    chosen = page.locator("[data-testid=chosen-coupons]").inner_text()
    assert "新券95折" in chosen and "方图95折" not in chosen
    assert "开业领券" in page.locator("[data-testid=campaign-summary]").inner_text()
    page.fill("input[name=total_limit]", "50")
    _button(page, "确定").click()
    page.wait_for_selector("text=活动「开业领券」已创建")
    row = page.locator("[data-testid=campaigns] tr", has_text="开业领券")
    assert row.locator("[data-testid=status]").inner_text() == "已上线"
    assert "新券95折" in row.inner_text() and "0/50" in row.inner_text()
    page.screenshot(path=str(out / "F8_campaign_created.png"), full_page=True)

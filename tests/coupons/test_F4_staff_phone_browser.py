"""F4 (issue 17; seed 004 如何手机核销) in Chromium: the merchant searches the clerk's 抖音号 on
the console (1400 px), adds them, issues the phone link; the clerk's phone (390×844, touch,
is_mobile: its own browser context) opens the link, types the buyer's code, sees the coupon,
taps 确定 → 核销成功. Then a photo of the buyer's QR on the same phone. Screenshots are kept
(XIAODIAN_ARTIFACTS_DIR, else the test's temporary directory), named ``F4-…``."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from tests.browser import login
from tests.conftest import ShopFixture
from tests.coupons.f4_world import World
from tests.coupons.helpers import picture
from xiaodian.coupons import service
from xiaodian.coupons.models import ClaimStatus, Verification
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0 Mobile Safari/537.36"
    ),
}


def _qr_photo(code: str, path: Path) -> Path:
    screen = picture(600, 900, (245, 245, 245))
    qr = Image.open(io.BytesIO(service.qr_png(code, scale=6))).convert("RGB")
    screen.paste(qr, (100, 250))
    screen.save(path, format="JPEG", quality=85)
    return path


def test_F4_console_link_then_phone_verifies_in_chromium(
    rt: Runtime, live_server: str, browser: Any, shop: ShopFixture, tmp_path: Path
) -> None:
    w = World(rt, shop)
    typed_code, photo_code = w.claim(), w.claim()
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    desk = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    phone_ctx = browser.new_context(**PHONE)
    page, phone = desk.new_page(), phone_ctx.new_page()
    for p in (page, phone):
        p.set_default_timeout(10_000)
        p.set_default_navigation_timeout(30_000)
    try:
        # Console: 搜索核销人员的抖音号 → the nickname → 添加; then 生成手机核销链接.
        login(page, live_server, shop.username, shop.password)
        page.goto(f"{live_server}/console/coupons/staff")
        page.fill("[data-testid=staff-search] input[name=douyin_id]", "dy_xiaowang")
        with page.expect_navigation():
            page.click("[data-testid=staff-search] button[type=submit]")
        assert page.inner_text("[data-testid=found-nickname]") == "小王店员"
        page.check("[data-testid=staff-add] input[name=scope][value=chosen]")
        page.check(f"[data-testid=staff-add] input[name=store_ids][value='{w.west}']")
        with page.expect_navigation():
            page.click("[data-testid=staff-add] button[type=submit]")
        row = page.locator("tr[data-douyin-id=dy_xiaowang]")
        assert row.locator("[data-testid=scope]").inner_text() == "西湖店"
        with page.expect_navigation():
            row.locator("[data-testid=issue-link]").click()
        assert page.locator("[data-testid=link-qr]").is_visible()
        link = page.input_value("[data-testid=link-url]")
        assert "/staff/m/bind/sl_" in link
        page.screenshot(path=str(out / "F4-console-link-1400.png"), full_page=True)

        # The phone opens the link: bound, no console login.
        phone.goto(link)
        assert phone.url.endswith("/staff/m?bound=1")
        assert "本机已绑定" in phone.inner_text("[data-testid=bound]")
        assert phone.inner_text("[data-testid=staff-name]") == "小王店员"
        assert phone.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
        page_width = phone.evaluate("document.documentElement.scrollWidth")
        assert page_width <= 390, page_width  # no sideways scrolling on the phone
        phone.screenshot(path=str(out / "F4-phone-home-390.png"), full_page=True)

        # 输入券码 → the coupon → 确定 → 核销成功.
        phone.fill("input[name=code]", service.format_code(typed_code))
        with phone.expect_navigation():
            phone.tap("[data-testid=code-form] button[type=submit]")
        assert phone.inner_text("[data-testid=coupon-title]") == "进店全场95折"
        assert "面值 300元" in phone.inner_text("[data-testid=face-value]")
        assert phone.inner_text("[data-testid=store]") == "西湖店"
        assert w.claim_status(typed_code) == ClaimStatus.UNUSED
        phone.screenshot(path=str(out / "F4-phone-confirm-390.png"), full_page=True)
        with phone.expect_navigation():
            phone.tap("[data-testid=confirm]")
        assert "核销成功" in phone.inner_text("[data-testid=verified]")
        assert w.claim_status(typed_code) == ClaimStatus.VERIFIED
        phone.screenshot(path=str(out / "F4-phone-verified-390.png"), full_page=True)

        # 扫描二维码: a photo of the buyer's QR (the page submits it on choosing).
        with phone.expect_navigation():
            phone.tap("[data-testid=next]")
        with phone.expect_navigation():
            phone.set_input_files(
                "input[name=image]", str(_qr_photo(photo_code, tmp_path / "qr.jpg"))
            )
        assert phone.get_attribute("[data-testid=coupon]", "data-code") == photo_code
        with phone.expect_navigation():
            phone.tap("[data-testid=confirm]")
        assert "核销成功" in phone.inner_text("[data-testid=verified]")
        with rt.unit() as ctx:
            channels = sorted(v.channel for v in ctx.session.scalars(select(Verification)))
        assert channels == ["code", "scan"]

        # The console's 卡券核销 lists both, by channel.
        page.goto(f"{live_server}/console/coupons/verify")
        table = page.inner_text("[data-testid=verifications]")
        assert "输入券码（核销人员）" in table and "扫码（核销人员）" in table
    finally:
        desk.close()
        phone_ctx.close()

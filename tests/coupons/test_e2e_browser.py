"""C1–C6 in real Chromium: create (upload images) → review → campaign → claim (buyer API)
→ verify on the PC console by code and by uploading the QR image."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.coupons.helpers import draft, picture
from tests.e2e.conftest import browser, browser_page, live_server, login  # noqa: F401
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


def test_C1_C2_C3_C4_C6_console_flow(
    rt: Runtime,
    shop: Any,
    client: TestClient,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    tmp_path: Any,
) -> None:
    page = browser_page
    with rt.unit() as ctx:
        accounts.create_store(ctx, shop.shop_id, name="西湖店")
    d = draft()
    (tmp_path / "product.png").write_bytes(d.product_image or b"")
    (tmp_path / "logo.png").write_bytes(d.logo or b"")
    login(page, live_server, shop.username, shop.password)

    # C1: a refused form lists every failing field at once.
    page.goto(f"{live_server}/console/coupons")
    page.fill("input[name=title]", "一二三四五六七八九十一二三四五六")
    page.click("button:has-text('完成卡券创建')")
    errors = page.locator("[data-testid=coupon-errors] li")
    fields = {errors.nth(i).get_attribute("data-field") for i in range(errors.count())}
    assert {"product_image", "logo", "title", "merchant_name", "service_phone"} <= fields

    page.set_input_files("input[name=product_image]", str(tmp_path / "product.png"))
    page.set_input_files("input[name=logo]", str(tmp_path / "logo.png"))
    page.fill("input[name=merchant_name]", "好物小店")
    page.fill("input[name=title]", "进店全场95折")
    page.fill("input[name=discount_percent]", "95")
    page.fill("input[name=discount_cap]", "300")
    page.fill("textarea[name=usage_text]", "全场95折,最多抵扣300元")
    page.fill("input[name=service_phone]", "0571-88886666")
    page.fill("input[name=claim_instructions]", "到店出示券码")
    page.click("button:has-text('完成卡券创建')")
    page.wait_for_selector("text=已提交审核")
    assert page.locator("[data-testid=coupons] [data-testid=status]").first.inner_text() == "审核中"

    # C2: the human queue; approval takes effect at the 30-minute mark.
    rt.clock.advance(31 * 60)  # type: ignore[attr-defined]
    page.goto(f"{live_server}/console/coupons/review")
    page.click("[data-testid=review-queue] button:has-text('通过')")
    page.wait_for_selector("text=当前状态:有效中")

    # C3: campaign with all stores, online at once.
    page.goto(f"{live_server}/console/coupons/campaigns")
    now = rt.clock.now().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    page.fill("input[name=name]", "开业领券")
    page.fill("input[name=starts_at]", now.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=ends_at]", now.replace(year=now.year + 1).strftime("%Y-%m-%dT%H:%M"))
    page.check("input[name=coupon_ids]")
    page.click("[data-testid=campaign-form] button[type=submit]")
    page.wait_for_selector("text=已上线")

    # C4: two buyers claim through the buyer API; the homepage page shows the coupon.
    page.goto(f"{live_server}/shops/{shop.shop_id}/coupons")
    item = page.locator("[data-testid=shop-coupon]").first
    campaign_id, coupon_id = (
        item.get_attribute("data-campaign-id"),
        item.get_attribute("data-coupon-id"),
    )
    codes = []
    for name in ("b1", "b2"):
        token = client.post(
            "/buyer/v1/register", json={"douyin_id": name, "nickname": name}
        ).json()["token"]
        claimed = client.post(
            f"/buyer/v1/shops/{shop.shop_id}/coupons/claim",
            json={"campaign_id": int(campaign_id or 0), "coupon_id": int(coupon_id or 0)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert claimed.status_code == 201, claimed.text
        codes.append(claimed.json()["code"])

    # C6: verify by typing the code, then again → refused with the precise reason.
    page.goto(f"{live_server}/console/coupons/verify")
    page.fill("input[name=code]", service.format_code(codes[0]))
    page.click("[data-testid=verify-form] button[type=submit]")
    page.wait_for_selector("text=核销成功")
    page.fill("input[name=code]", codes[0])
    page.click("[data-testid=verify-form] button[type=submit]")
    assert page.locator("[data-testid=refusal]").get_attribute("data-code") == "already_verified"

    # C6: verify by uploading a screenshot of the second buyer's QR.
    shot = picture(480, 760, (255, 255, 255))
    shot.paste(Image.open(io.BytesIO(service.qr_png(codes[1], 5))).convert("RGB"), (60, 180))
    shot.save(tmp_path / "qr.png")
    page.set_input_files("input[name=image]", str(tmp_path / "qr.png"))
    page.click("[data-testid=verify-form] button[type=submit]")
    page.wait_for_selector("text=核销成功")
    with rt.unit() as ctx:
        statuses = {service.find_claim(ctx.session, shop.shop_id, c).status for c in codes}
    assert statuses == {"verified"}

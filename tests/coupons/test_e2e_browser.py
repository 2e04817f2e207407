"""C1–C6 in real Chromium: create (upload images) → review → campaign → claim (buyer API)
→ verify on the PC console by code and by uploading the QR image."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.browser import browser, browser_page, live_server, login  # noqa: F401
from tests.coupons.helpers import (
    active_coupon,
    as_operator,
    draft,
    picture,
    product_with_barcode,
)
from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service
from xiaodian.coupons.sweeps import SWEEPS
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
    page.goto(f"{live_server}/console/coupons/create?kind=general")
    page.fill("input[name=title]", "一二三四五六七八九十一二三四五六")
    page.click("button:has-text('完成卡券创建')")
    errors = page.locator("[data-testid=coupon-errors] li")
    fields = {errors.nth(i).get_attribute("data-field") for i in range(errors.count())}
    assert {"product_image", "logo", "title", "merchant_name", "service_phone"} <= fields

    _submit_coupon_form(page, tmp_path, "进店全场95折")
    page.goto(f"{live_server}/console/coupons")
    assert page.locator("[data-testid=coupons] [data-testid=status]").first.inner_text() == "审核中"

    # C2: the platform's default policy approves a clean coupon at the 30-minute mark (F1);
    # the shop's 卡券审核 page only shows where it stands.
    page.goto(f"{live_server}/console/coupons/review")
    assert "预计" in page.locator("[data-testid=review-state]").first.inner_text()
    assert page.locator("[data-testid=review-queue] button").count() == 0
    scheduler.advance(rt, 31 * 60, sweeps=SWEEPS)
    page.goto(f"{live_server}/console/coupons")
    assert page.locator("[data-testid=coupons] [data-testid=status]").first.inner_text() == "有效中"

    # C3: campaign with all stores, online at once (F8: 下一步 → 选择卡券 → 确定).
    page.goto(f"{live_server}/console/coupons/campaigns/new")
    now = rt.clock.now().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    page.fill("input[name=name]", "开业领券")
    page.fill("input[name=starts_at]", now.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=ends_at]", now.replace(year=now.year + 1).strftime("%Y-%m-%dT%H:%M"))
    page.click("button:has-text('下一步')")
    page.click("[data-testid=pick-coupons]")
    page.check("input[name=coupon_ids]")
    page.click("button:has-text('确定选择')")
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


# ----- shared set-up for the flows below (the actions under test go through Chromium) -------


def _stores(rt: Runtime, shop_id: int) -> dict[str, int]:
    with rt.unit() as ctx:
        return {n: accounts.create_store(ctx, shop_id, name=n).id for n in ("西湖店", "滨江店")}


def _online_campaign(rt: Runtime, shop_id: int, name: str = "开业领券") -> tuple[int, int]:
    coupon_id = active_coupon(rt, shop_id)
    now = rt.clock.now()
    with rt.unit("user:1") as ctx:
        campaign = service.create_campaign(
            ctx,
            shop_id,
            service.CampaignDraft(
                name=name,
                starts_at=now,
                ends_at=now + timedelta(days=7),
                store_ids=None,
                coupon_ids=[coupon_id],
                per_user_limit=1,
                total_limit=100,
            ),
        )
        return campaign.id, coupon_id


def _claimed_codes(rt: Runtime, shop_id: int, count: int) -> list[str]:
    campaign_id, coupon_id = _online_campaign(rt, shop_id)
    codes = []
    for i in range(count):
        with rt.unit() as ctx:
            buyer, _token = accounts.create_buyer(ctx, douyin_id=f"buyer{i}", nickname=f"b{i}")
            claimed = service.claim(
                ctx, shop_id, buyer.id, campaign_id=campaign_id, coupon_id=coupon_id
            )
            codes.append(claimed.code)
    return codes


def _claim_status(rt: Runtime, shop_id: int, code: str) -> str:
    with rt.unit() as ctx:
        return service.find_claim(ctx.session, shop_id, code).status


def test_C5_C6_staff_added_by_douyin_id_with_stores_then_revoked_in_chromium(
    rt: Runtime,
    shop: Any,
    client: TestClient,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
) -> None:
    """C5: the merchant adds a verifier by Douyin ID for chosen stores on 门店与核销人员; the
    staff app verifies within that scope only; once revoked there, its verification is refused."""
    page = browser_page
    stores = _stores(rt, shop.shop_id)
    codes = _claimed_codes(rt, shop.shop_id, 2)
    login(page, live_server, shop.username, shop.password)

    page.goto(f"{live_server}/console/settings/stores")
    form = page.locator("[data-testid=staff-form]")
    form.locator("input[name=douyin_id]").fill("dy_xiaowang")
    form.locator("input[name=name]").fill("小王")
    form.locator("input[name=scope][value=chosen]").check()
    form.locator(f"input[name=store_ids][value='{stores['西湖店']}']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=已添加核销人员 dy_xiaowang")
    row = page.locator("[data-testid=staff] tr[data-douyin-id=dy_xiaowang]")
    assert row.locator("[data-testid=scope]").inner_text() == "西湖店"
    assert row.locator("[data-testid=status]").inner_text() == "有效"
    staff_id = int(row.get_attribute("data-staff-id") or 0)

    # The staff app (phone) gets its token through the open API and verifies in scope only.
    token = shop.api.post(f"/api/v1/coupons/staff/{staff_id}/token").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    out_of_scope = client.post(
        "/staff/v1/coupons/verify",
        json={"code": codes[0], "store_id": stores["滨江店"]},
        headers=auth,
    )
    assert out_of_scope.json()["code"] == "store_out_of_staff_scope", out_of_scope.text
    done = client.post(
        "/staff/v1/coupons/verify",
        json={"code": codes[0], "store_id": stores["西湖店"]},
        headers=auth,
    )
    assert done.status_code == 200, done.text

    # Revoke on the page: the next verification by that staff member is refused.
    row.locator("button:has-text('撤销权限')").click()
    page.wait_for_selector("text=已撤销 dy_xiaowang 的核销权限")
    row = page.locator("[data-testid=staff] tr[data-douyin-id=dy_xiaowang]")
    assert row.locator("[data-testid=status]").inner_text() == "已撤销"
    assert row.locator("button:has-text('撤销权限')").count() == 0
    refused = client.post(
        "/staff/v1/coupons/verify",
        json={"code": codes[1], "store_id": stores["西湖店"]},
        headers=auth,
    )
    assert refused.status_code == 403 and refused.json()["code"] == "staff_revoked"
    assert _claim_status(rt, shop.shop_id, codes[0]) == "verified"
    assert _claim_status(rt, shop.shop_id, codes[1]) == "unused"


def test_C2_reject_with_reason_and_auto_barcode_rejection_shown_as_audit_failed_in_chromium(
    rt: Runtime,
    shop: Any,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    tmp_path: Any,
) -> None:
    """C2 with F1: the platform's operator rejects with a reason; 卡券中心 then lists the
    coupon as 审核失败 with that reason. A coupon uploaded with a barcode in its image is flagged
    by the machine: the shop's 卡券审核 shows it waiting for the platform with the reason, and
    once the operator rejects it, 审核失败 with the contact-details reason."""
    page = browser_page
    rt.settings.coupons.require_human_review = True
    with rt.unit("user:1") as ctx:
        queued = service.create_coupon(ctx, shop.shop_id, draft(title="到店满减券"))
    login(page, live_server, shop.username, shop.password)
    as_operator(rt, queued.id, approve=False, reason="图片有第三方水印")

    # A barcode in the product image, uploaded through the form.
    d = draft(product_image=product_with_barcode())
    (tmp_path / "product.png").write_bytes(d.product_image or b"")
    (tmp_path / "logo.png").write_bytes(d.logo or b"")
    page.goto(f"{live_server}/console/coupons/create?kind=general")
    _submit_coupon_form(page, tmp_path, "条码券")
    page.goto(f"{live_server}/console/coupons/review")
    waiting = page.locator("[data-testid=review-queue] tr", has_text="条码券")
    assert "等待平台人工审核" in waiting.locator("[data-testid=review-state]").inner_text()
    assert "条形码" in waiting.locator("[data-testid=review-reason]").first.inner_text()
    barcode_id = int(waiting.get_attribute("data-coupon-id") or 0)
    as_operator(rt, barcode_id, approve=False, reason="图片含条形码")
    scheduler.advance(rt, 31 * 60, sweeps=SWEEPS)

    page.goto(f"{live_server}/console/coupons")
    rejected = page.locator(f"[data-testid=coupons] tr[data-coupon-id='{queued.id}']")
    assert rejected.locator("[data-testid=status]").inner_text() == "审核失败"
    assert rejected.locator("[data-testid=reject-reason]").inner_text() == (
        "人工审核驳回：图片有第三方水印"
    )
    barcode = page.locator("[data-testid=coupons] tr", has_text="条码券")
    assert barcode.locator("[data-testid=status]").inner_text() == "审核失败"
    reasons = barcode.locator("[data-testid=reject-reason]").all_inner_texts()
    assert "条形码" in reasons[0] and reasons[1] == "人工审核驳回：图片含条形码"


def test_C3_C4_campaign_taken_offline_by_hand_leaves_the_shop_homepage_in_chromium(
    rt: Runtime,
    shop: Any,
    client: TestClient,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
) -> None:
    """C3 下线 by hand on 卡券投放: the campaign is 已下线 at once, its coupons leave the shop
    homepage, and a claim is refused."""
    page = browser_page
    campaign_id, coupon_id = _online_campaign(rt, shop.shop_id, name="周末领券")
    login(page, live_server, shop.username, shop.password)
    page.goto(f"{live_server}/shops/{shop.shop_id}/coupons")
    assert page.locator(f"[data-testid=shop-coupon][data-campaign-id='{campaign_id}']").count() == 1

    page.goto(f"{live_server}/console/coupons/campaigns")
    row = page.locator(f"[data-testid=campaigns] tr[data-campaign-id='{campaign_id}']")
    assert row.locator("[data-testid=status]").inner_text() == "已上线"
    row.locator("[data-testid=offline]").click()
    page.wait_for_selector("text=活动「周末领券」已下线")
    row = page.locator(f"[data-testid=campaigns] tr[data-campaign-id='{campaign_id}']")
    assert row.locator("[data-testid=status]").inner_text() == "已下线"
    assert "手动下线" in row.inner_text()
    assert row.locator("[data-testid=offline]").count() == 0

    page.goto(f"{live_server}/shops/{shop.shop_id}/coupons")
    assert page.locator("[data-testid=shop-coupon]").count() == 0
    assert page.locator("text=暂无可领取的卡券").count() == 1
    token = client.post(
        "/buyer/v1/register", json={"douyin_id": "late", "nickname": "late"}
    ).json()["token"]
    refused = client.post(
        f"/buyer/v1/shops/{shop.shop_id}/coupons/claim",
        json={"campaign_id": campaign_id, "coupon_id": coupon_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "campaign_not_online"


def test_C7_cancel_verification_from_console_within_window_only_in_chromium(
    rt: Runtime,
    shop: Any,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
) -> None:
    """C7 from 卡券核销: 撤销核销 within the window makes the code usable again; a page left open
    past the window refuses the cancel with the reason, and the button is gone on reload."""
    page = browser_page
    _stores(rt, shop.shop_id)
    code = _claimed_codes(rt, shop.shop_id, 1)[0]
    login(page, live_server, shop.username, shop.password)

    def verify_in_page() -> None:
        page.goto(f"{live_server}/console/coupons/verify")
        page.fill("input[name=code]", code)
        page.click("[data-testid=verify-form] button[type=submit]")
        page.wait_for_selector("text=核销成功")

    verify_in_page()
    rt.clock.advance(59 * 60)  # type: ignore[attr-defined]
    page.reload()
    row = page.locator(f"[data-testid=verifications] tr[data-code='{code}']").first
    row.locator("[data-testid=cancel]").click()
    page.wait_for_selector("text=已撤销核销，券码恢复可用")
    assert _claim_status(rt, shop.shop_id, code) == "unused"
    cancelled = page.locator(f"[data-testid=verifications] tr[data-code='{code}']").first
    assert cancelled.locator("[data-testid=status]").inner_text() == "已撤销"

    # Verified again; the page stays open past the 60-minute window, then the click is refused.
    verify_in_page()
    page.reload()
    assert page.locator("[data-testid=verifications] [data-testid=cancel]").count() == 1
    rt.clock.advance(60 * 60 + 1)  # type: ignore[attr-defined]
    page.locator("[data-testid=verifications] [data-testid=cancel]").click()
    refusal = page.locator("[data-testid=refusal]")
    assert refusal.get_attribute("data-code") == "cancel_window_passed"
    assert "60 分钟" in refusal.inner_text()
    assert page.locator("[data-testid=verifications] [data-testid=cancel]").count() == 0
    assert _claim_status(rt, shop.shop_id, code) == "verified"


def _submit_coupon_form(page: Any, tmp_path: Path, title: str) -> None:
    """C1: fill 创建卡券 with the images written to ``tmp_path`` and submit it."""
    page.set_input_files("input[name=product_image]", str(tmp_path / "product.png"))
    page.set_input_files("input[name=logo]", str(tmp_path / "logo.png"))
    page.fill("input[name=merchant_name]", "好物小店")
    page.fill("input[name=title]", title)
    page.fill("input[name=discount_percent]", "95")
    page.fill("input[name=discount_cap]", "300")
    page.fill("textarea[name=usage_text]", "全场95折，最多抵扣300元")
    page.fill("input[name=service_phone]", "0571-88886666")
    page.fill("input[name=claim_instructions]", "到店出示券码")
    # The machine review (QR/barcode, OCR) runs before the answer: slow on a busy machine.
    with page.expect_navigation(timeout=60_000):
        page.click("button:has-text('完成卡券创建')", no_wait_after=True)
    page.wait_for_selector("text=已提交审核")

"""Console pages of coupons over plain HTTP (no browser): every refusal is a 4xx HTML page that
names what failed — never a 500, never JSON (C1, C2, C3, C6, C7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.coupons.helpers import active_coupon, draft, png
from tests.web.conftest import console_login, page_token
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service
from xiaodian.coupons.models import INT_FIELD_MAX, Campaign, Coupon
from xiaodian.runtime import Runtime

HTML = "text/html"


def _html_4xx(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(HTML)
    return str(response.text)


def _count(rt: Runtime, model: Any) -> int:
    from sqlalchemy import func, select

    with rt.unit() as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(model)) or 0)


def _coupon_form(client: TestClient, **fields: str) -> dict[str, str]:
    values = {
        "csrf_token": page_token(client, "/console/coupons"),
        "merchant_name": "好物小店",
        "title": "进店全场95折",
        "condition_kind": "discount",
        "discount_percent": "95",
        "discount_cap": "300",
        "usage_text": "全场95折，最多抵扣300元",
        "validity_kind": "relative",
        "valid_days": "7",
        "service_phone": "0571-88886666",
        "claim_instructions": "到店出示券码",
        "store_scope": "all",
    }
    values.update(fields)
    return values


def test_C1_console_upload_not_an_image_lists_every_failing_field(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    """A text file named .png, a PDF as logo, a 16-character title and no phone: one 422 page
    naming all four fields, the typed values kept, nothing stored."""
    console_login(client, shop.username, shop.password)
    response = client.post(
        "/console/coupons",
        data=_coupon_form(client, title="一二三四五六七八九十一二三四五六", service_phone=""),
        files={
            "product_image": ("product.png", b"hello, not an image", "image/png"),
            "logo": ("logo.jpg", b"%PDF-1.4 fake", "image/jpeg"),
        },
    )
    html = _html_4xx(response, 422)
    assert 'data-testid="coupon-errors"' in html
    for field in ("product_image", "logo", "title", "service_phone"):
        assert f'data-field="{field}"' in html, field
    assert "商品图片须为 jpg、jpeg 或 png 图片" in html
    assert "商家logo须为 jpg、jpeg 或 png 图片" in html
    assert 'value="好物小店"' in html  # what the merchant typed is kept
    assert _count(rt, Coupon) == 0


def test_C1_console_oversized_and_truncated_uploads_are_refused_not_500(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    console_login(client, shop.username, shop.password)
    limit = rt.settings.coupons.image_max_bytes
    whole = png(686, 176)
    response = client.post(
        "/console/coupons",
        data=_coupon_form(client),
        files={
            "product_image": ("big.png", png(686, 176, pad_to=limit), "image/png"),
            "logo": ("logo.png", whole[: len(whole) // 2], "image/png"),
        },
    )
    html = _html_4xx(response, 422)
    assert 'data-field="product_image"' in html and "1 MB" in html
    assert 'data-field="logo"' in html
    assert _count(rt, Coupon) == 0


def test_C1_console_empty_form_names_every_required_field(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/coupons")
    html = _html_4xx(client.post("/console/coupons", data={"csrf_token": token}), 422)
    for field in (
        "product_image",
        "logo",
        "merchant_name",
        "title",
        "usage_text",
        "service_phone",
        "claim_instructions",
    ):
        assert f'data-field="{field}"' in html, field


def test_C2_console_review_page_shows_status_and_reasons_without_deciding(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    """F1: 卡券审核 shows where each coupon stands and the machine's reasons; the shop has no
    way to approve or reject its own coupons any more (the route is gone)."""
    with rt.unit("user:1") as ctx:
        clean = service.create_coupon(ctx, shop.shop_id, draft())
        flagged = service.create_coupon(ctx, shop.shop_id, draft(title="第一名店"))
    console_login(client, shop.username, shop.password)
    html = client.get("/console/coupons/review").text
    assert f'data-coupon-id="{clean.id}"' in html and f'data-coupon-id="{flagged.id}"' in html
    assert "等待平台人工审核" in html and flagged.auto_reasons[0]["message_zh"] in html
    assert "<form" not in html.split('data-testid="review-queue"')[1]
    token = page_token(client, "/console/coupons/review")
    answer = client.post(
        f"/console/coupons/review/{flagged.id}",
        data={"csrf_token": token, "decision": "approve"},
    )
    assert answer.status_code in (404, 405)
    with rt.unit() as ctx:
        assert service.get_coupon(ctx.session, shop.shop_id, flagged.id).decision is None


def test_C3_console_campaign_form_errors_listed_with_values_kept(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/coupons/campaigns")
    response = client.post(
        "/console/coupons/campaigns",
        data={
            "csrf_token": token,
            "name": "",
            "starts_at": "not a date",
            "ends_at": "2020-01-01T00:00",
            "store_scope": "chosen",
            "per_user_limit": "abc",
            "total_limit": "0",
        },
    )
    html = _html_4xx(response, 422)
    assert 'data-testid="campaign-errors"' in html
    for field in ("name", "starts_at", "store_ids", "coupon_ids", "per_user_limit", "total_limit"):
        assert f'data-field="{field}"' in html, field
    assert 'value="abc"' in html
    assert _count(rt, Campaign) == 0
    assert coupon_id


def test_C3_console_offline_twice_and_unknown_campaign_are_html_4xx(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    now = rt.clock.now()
    with rt.unit() as ctx:
        campaign = service.create_campaign(
            ctx,
            shop.shop_id,
            service.CampaignDraft(
                name="领券",
                starts_at=now,
                ends_at=now + timedelta(days=1),
                coupon_ids=[coupon_id],
                per_user_limit=1,
                total_limit=10,
            ),
        )
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/coupons/campaigns")
    path = f"/console/coupons/campaigns/{campaign.id}/offline"
    first = client.post(path, data={"csrf_token": token}, follow_redirects=False)
    assert first.status_code == 303
    assert "活动已下线" in _html_4xx(client.post(path, data={"csrf_token": token}), 409)
    _html_4xx(
        client.post(
            f"/console/coupons/campaigns/{campaign.id + 999}/offline", data={"csrf_token": token}
        ),
        404,
    )


def test_C6_C7_console_verify_refusals_are_html_4xx_with_the_reason(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    with rt.unit() as ctx:
        store = accounts.create_store(ctx, shop.shop_id, name="西湖店").id
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/coupons/verify")
    unknown = client.post(
        "/console/coupons/verify",
        data={"csrf_token": token, "store_id": str(store), "code": "2345 6789 ABCD"},
    )
    assert 'data-code="unknown_code"' in _html_4xx(unknown, 404)
    not_image = client.post(
        "/console/coupons/verify",
        data={"csrf_token": token, "store_id": str(store)},
        files={"image": ("qr.png", b"not an image at all", "image/png")},
    )
    html = _html_4xx(not_image, not_image.status_code)
    assert 400 <= not_image.status_code < 500 and 'data-testid="refusal"' in html
    cancel_unknown = client.post(
        "/console/coupons/verify/123456/cancel", data={"csrf_token": token}
    )
    assert 'data-testid="refusal"' in _html_4xx(cancel_unknown, 404)


def test_C3_console_limit_one_over_the_bound_is_a_field_error(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/coupons/campaigns")
    now = rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone))
    form = {
        "csrf_token": token,
        "name": "上限活动",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "store_scope": "all",
        "coupon_ids": str(coupon_id),
        "per_user_limit": "1",
        "total_limit": str(INT_FIELD_MAX + 1),
    }
    html = _html_4xx(client.post("/console/coupons/campaigns", data=form), 422)
    assert 'data-field="total_limit"' in html and f"不能超过 {INT_FIELD_MAX}" in html
    form["total_limit"] = str(INT_FIELD_MAX)
    created = client.post("/console/coupons/campaigns", data=form, follow_redirects=False)
    assert created.status_code == 303
    with rt.unit() as ctx:
        assert service.list_campaigns(ctx.session, shop.shop_id)[0].total_limit == INT_FIELD_MAX

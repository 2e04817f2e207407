"""F8 (issue 17): 686×176 is seed 004's *recommendation* ("推荐 686px *176px分辨率"). Any other
size or aspect is accepted with a visible warning — on the create result, on the coupon's
detail page and in the API response's ``warnings`` — while the format, < 1 MB and the pixel cap
still refuse. Real PNG/JPEG bytes, real HTTP."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.coupons.helpers import draft, jpeg, png
from tests.coupons.test_s8_image_decoding import tiny_png
from tests.web.conftest import console_login, page_token
from xiaodian.coupons import rules, service
from xiaodian.coupons.models import CouponStatus
from xiaodian.errors import ValidationFailed
from xiaodian.runtime import Runtime

MB = 1024 * 1024


def _create(rt: Runtime, shop_id: int, image: bytes) -> Any:
    with rt.unit("user:1") as ctx:
        return service.create_coupon(ctx, shop_id, draft(product_image=image))


def _refused(rt: Runtime, shop_id: int, image: bytes) -> str:
    with rt.unit("user:1") as ctx, pytest.raises(ValidationFailed) as info:
        service.create_coupon(ctx, shop_id, draft(product_image=image))
    return {e["field"]: e["message_zh"] for e in info.value.errors}["product_image"]


def test_F8_image_warning_rules_recommend_686x176() -> None:
    assert rules.product_image_warnings(686, 176, 10) == []
    (same,) = rules.product_image_warnings(1372, 352, 10)
    assert same["field"] == "product_image" and "比例一致" in same["message_zh"]
    (square,) = rules.product_image_warnings(600, 600, 10)
    assert "600×600" in square["message_zh"] and "686×176" in square["message_zh"]
    assert "裁剪" in square["message_zh"] and square["message_en"]
    # The tolerance decides which of the two notes, never a refusal.
    assert "比例一致" not in rules.product_image_warnings(700, 176, 10)[0]["message_zh"]
    assert "比例一致" in rules.product_image_warnings(700, 176, 30)[0]["message_zh"]


def test_F8_image_other_sizes_and_aspects_are_accepted_with_a_warning(
    rt: Runtime, shop: Any
) -> None:
    exact = _create(rt, shop.shop_id, png(686, 176))
    assert exact.warnings == []
    for width, height in ((600, 600), (176, 686), (686, 300), (343, 88)):
        coupon = _create(rt, shop.shop_id, jpeg(width, height))
        assert coupon.status == CouponStatus.REVIEWING
        (warning,) = coupon.warnings
        assert warning["field"] == "product_image"
        assert f"{width}×{height}" in warning["message_zh"]
        with rt.unit() as ctx:
            stored = service.get_image(ctx.session, shop.shop_id, coupon.product_image_sha)
            assert (stored.width, stored.height) == (width, height)


def test_F8_image_format_size_and_pixel_cap_still_refuse(rt: Runtime, shop: Any) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (600, 600)).save(gif, format="GIF")
    assert "jpg" in _refused(rt, shop.shop_id, gif.getvalue())
    assert "1 MB" in _refused(rt, shop.shop_id, png(600, 600, pad_to=MB))
    assert _create(rt, shop.shop_id, png(600, 600, pad_to=MB - 1)).warnings  # just under
    cap = rt.settings.coupons.product_image_max_pixels
    # Any aspect over the cap is refused from the header: a square and a 686:176 strip.
    assert "像素过多" in _refused(rt, shop.shop_id, tiny_png(800, 800))
    assert cap < 800 * 800
    assert "像素过多" in _refused(rt, shop.shop_id, tiny_png(2744, 704))


def test_F8_image_api_returns_the_warning_list(shop: Any) -> None:
    d = draft()
    body = {
        "title": d.title,
        "merchant_name": d.merchant_name,
        "product_image_base64": base64.b64encode(jpeg(640, 480)).decode(),
        "logo_base64": base64.b64encode(d.logo or b"").decode(),
        "condition_kind": "amount_off",
        "threshold_fen": 500_00,
        "amount_off_fen": 30_00,
        "usage_text": "订单满500元可用，立减30元。",
        "validity_kind": "relative",
        "valid_days": 7,
        "service_phone": "13812345678",
        "claim_instructions": "到店出示券码。",
    }
    created = shop.api.post("/api/v1/coupons", body)
    assert created.status_code == 201, created.text
    (warning,) = created.json()["warnings"]
    assert warning["field"] == "product_image" and "640×480" in warning["message_zh"]
    assert "686×176" in warning["message_en"]
    again = shop.api.get(f"/api/v1/coupons/{created.json()['id']}").json()
    assert again["warnings"] == created.json()["warnings"]
    body["product_image_base64"] = base64.b64encode(png(686, 176)).decode()
    assert shop.api.post("/api/v1/coupons", body).json()["warnings"] == []


def test_F8_image_console_shows_the_warning_on_the_result_and_the_detail(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    console_login(client, shop.username, shop.password)
    d = draft()
    form = {
        "csrf_token": page_token(client, "/console/coupons/create?kind=general"),
        "merchant_name": "好物小店",
        "title": "方图也可以",
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
    response = client.post(
        "/console/coupons",
        data=form,
        files={
            "product_image": ("square.jpg", jpeg(500, 500), "image/jpeg"),
            "logo": ("logo.png", d.logo or b"", "image/png"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    detail_path = response.headers["location"]
    with rt.unit() as ctx:
        (coupon,) = service.list_coupons(ctx.session, shop.shop_id)
    assert detail_path == f"/console/coupons/{coupon.id}"
    detail = client.get(detail_path)  # the flash (create result) and the detail itself
    assert detail.status_code == 200
    assert 'data-testid="coupon-warnings"' in detail.text
    assert detail.text.count("500×500") >= 2  # in the flash and in the warning list
    assert "审核中" in detail.text and "大约需要30分钟" in detail.text
    assert "500×500" in client.get("/console/coupons").text  # and in the list
    other = client.get(f"/console/coupons/{coupon.id + 999}")
    assert other.status_code == 404

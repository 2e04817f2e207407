"""C1 创建卡券 (通用券): every field required; the error names every failing field at once."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from tests.coupons.helpers import draft, jpeg, png
from xiaodian.coupons import rules, service
from xiaodian.coupons.models import CouponImage, CouponStatus
from xiaodian.errors import ValidationFailed
from xiaodian.runtime import Runtime

MB = 1024 * 1024


def _create(rt: Runtime, shop_id: int, **overrides: Any) -> Any:
    with rt.unit("user:1") as ctx:
        return service.create_coupon(ctx, shop_id, draft(**overrides))


def _fields(rt: Runtime, shop_id: int, **overrides: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        _create(rt, shop_id, **overrides)
    assert info.value.code == "invalid_coupon" and info.value.rule == "C1"
    return {e["field"]: e["message_zh"] for e in info.value.errors}


def test_C1_valid_coupon_is_created_reviewing_with_images_stored(rt: Runtime, shop: Any) -> None:
    coupon = _create(rt, shop.shop_id)
    assert coupon.status == CouponStatus.REVIEWING
    assert coupon.warnings == []
    with rt.unit() as ctx:
        image = service.get_image(ctx.session, shop.shop_id, coupon.product_image_sha)
        assert (image.width, image.height, image.content_type) == (686, 176, "image/png")
        assert ctx.session.query(CouponImage).count() == 2


def test_C1_every_missing_field_is_reported_at_once(rt: Runtime, shop: Any) -> None:
    with pytest.raises(ValidationFailed) as info, rt.unit() as ctx:
        service.create_coupon(ctx, shop.shop_id, service.CouponDraft())
    fields = {e["field"] for e in info.value.errors}
    assert fields >= {
        "product_image",
        "merchant_name",
        "logo",
        "title",
        "condition_kind",
        "usage_text",
        "validity_kind",
        "service_phone",
        "claim_instructions",
    }
    assert all(e["message_zh"] and e["message_en"] for e in info.value.errors)


def test_C1_merchant_name_10_ok_11_refused(rt: Runtime, shop: Any) -> None:
    # One Latin letter counts as one character, like one 汉字.
    assert (
        _create(rt, shop.shop_id, merchant_name="好物小店ABCDEF").merchant_name == "好物小店ABCDEF"
    )
    fields = _fields(rt, shop.shop_id, merchant_name="好物小店ABCDEFG")
    assert "merchant_name" in fields and "10" in fields["merchant_name"]


def test_C1_title_15_ok_16_refused(rt: Runtime, shop: Any) -> None:
    assert _create(rt, shop.shop_id, title="进店全场95折限定门店ABCD").title
    assert len("进店全场95折限定门店ABCD") == 15
    assert "title" in _fields(rt, shop.shop_id, title="进店全场95折限定门店ABCDE")


def test_C1_image_under_1MB_ok_exactly_1MB_refused(rt: Runtime, shop: Any) -> None:
    ok = png(686, 176, pad_to=MB - 1)
    assert len(ok) == MB - 1
    _create(rt, shop.shop_id, product_image=ok)
    fields = _fields(rt, shop.shop_id, product_image=png(686, 176, pad_to=MB))
    assert "1 MB" in fields["product_image"]
    assert "logo" in _fields(rt, shop.shop_id, logo=png(132, 132, pad_to=MB))


def test_C1_logo_132x132_ok_133x132_refused(rt: Runtime, shop: Any) -> None:
    _create(rt, shop.shop_id, logo=jpeg(132, 132))
    fields = _fields(rt, shop.shop_id, logo=png(133, 132))
    assert "132×132" in fields["logo"]


def test_C1_product_aspect_same_ratio_warned_other_ratio_warned_too(rt: Runtime, shop: Any) -> None:
    coupon = _create(rt, shop.shop_id, product_image=jpeg(1372, 352))
    assert coupon.warnings and coupon.warnings[0]["field"] == "product_image"
    other = _create(rt, shop.shop_id, product_image=png(686, 300))  # F8: accepted, warned
    assert "686×176" in other.warnings[0]["message_zh"]


def test_C1_format_is_judged_by_content(rt: Runtime, shop: Any) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (686, 176)).save(gif, format="GIF")
    assert "jpg" in _fields(rt, shop.shop_id, product_image=gif.getvalue())["product_image"]
    assert "product_image" in _fields(rt, shop.shop_id, product_image=b"not an image at all")
    truncated = png(686, 176)[:-200]
    assert "product_image" in _fields(rt, shop.shop_id, product_image=truncated)


def test_C1_decompression_bomb_refused_cleanly(rt: Runtime, shop: Any) -> None:
    # 20000×20000 of one colour compresses to a few hundred KB: a classic bomb.
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < MB
    fields = _fields(rt, shop.shop_id, product_image=bomb.getvalue())
    assert "product_image" in fields


def test_C1_conditions_discount_and_amount_off(rt: Runtime, shop: Any) -> None:
    discount = _create(rt, shop.shop_id)
    assert rules.condition_summary(discount) == "9.5折，最多减300元"
    off = _create(
        rt,
        shop.shop_id,
        condition_kind="amount_off",
        threshold_fen=500_00,
        amount_off_fen=30_00,
        usage_text="订单满500元可用，立减30元。",
    )
    assert rules.condition_summary(off) == "满500元减30元"
    fields = _fields(rt, shop.shop_id, discount_percent=100, discount_cap_fen=0)
    assert {"discount_percent", "discount_cap_fen"} <= set(fields)
    fields = _fields(
        rt, shop.shop_id, condition_kind="amount_off", threshold_fen=30_00, amount_off_fen=30_00
    )
    assert "amount_off_fen" in fields


def test_C1_store_restriction_must_name_own_stores(rt: Runtime, shop: Any, make_shop: Any) -> None:
    from xiaodian.accounts import service as accounts

    other = make_shop("别人的店")
    with rt.unit() as ctx:
        mine = accounts.create_store(ctx, shop.shop_id, name="西湖店").id
        theirs = accounts.create_store(ctx, other.shop_id, name="他们的店").id
    assert _create(rt, shop.shop_id, store_ids=[mine]).store_ids == [mine]
    assert "store_ids" in _fields(rt, shop.shop_id, store_ids=[theirs])


def test_C1_validity_fixed_or_relative(rt: Runtime, shop: Any) -> None:
    from datetime import timedelta

    now = rt.clock.now()
    fixed = _create(
        rt,
        shop.shop_id,
        validity_kind="fixed",
        valid_days=None,
        valid_from=now,
        valid_until=now + timedelta(days=30),
    )
    assert fixed.valid_until == now + timedelta(days=30)
    assert "valid_until" in _fields(
        rt, shop.shop_id, validity_kind="fixed", valid_from=now, valid_until=now - timedelta(days=1)
    )
    assert "valid_days" in _fields(rt, shop.shop_id, valid_days=0)


@pytest.mark.parametrize("phone", ["13812345678", "0571-88886666", "01088886666", "400-820-8820"])
def test_C1_service_phone_valid(rt: Runtime, shop: Any, phone: str) -> None:
    assert _create(rt, shop.shop_id, service_phone=phone).service_phone


@pytest.mark.parametrize("phone", ["12345", "1381234567", "88886666", "phone", "23812345678"])
def test_C1_service_phone_invalid(rt: Runtime, shop: Any, phone: str) -> None:
    assert "service_phone" in _fields(rt, shop.shop_id, service_phone=phone)

"""C2 审核: automatic checks flag what a machine can; a coupon they pass is approved by the
platform's default policy at the end of the review delay (30 minutes); a flagged one — or every
one, with ``coupons.require_human_review`` — waits for a platform operator (F1); the outcome
(有效中 / 审核失败) takes effect after the review delay."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.coupons.helpers import (
    as_operator,
    draft,
    png,
    product_with_barcode,
    product_with_qr,
    qr_image,
)
from xiaodian import scheduler
from xiaodian.coupons import moderation, service
from xiaodian.coupons.models import CouponStatus
from xiaodian.coupons.sweeps import SWEEPS
from xiaodian.errors import Conflict, ValidationFailed
from xiaodian.notify.models import Event, Notice
from xiaodian.runtime import Runtime


def _create(rt: Runtime, shop_id: int, **overrides: Any) -> Any:
    with rt.unit("user:1") as ctx:
        return service.create_coupon(ctx, shop_id, draft(**overrides))


def _status(rt: Runtime, shop_id: int, coupon_id: int) -> Any:
    with rt.unit() as ctx:
        return service.get_coupon(ctx.session, shop_id, coupon_id)


def _codes(coupon: Any) -> set[str]:
    return {r["code"] for r in coupon.auto_reasons}


def test_C2_clean_coupon_is_approved_by_the_default_policy_at_the_delay(
    rt: Runtime, shop: Any
) -> None:
    coupon = _create(rt, shop.shop_id)
    assert coupon.auto_reasons == [] and coupon.decided_by == service.POLICY_ACTOR
    with rt.unit() as ctx:
        assert service.review_queue(ctx.session, shop.shop_id) == []
    scheduler.advance(rt, 3 * 3600, sweeps=SWEEPS)
    final = _status(rt, shop.shop_id, coupon.id)
    assert final.status == CouponStatus.ACTIVE
    assert final.reviewed_at == coupon.created_at + timedelta(minutes=30)


def test_C2_with_require_human_a_clean_coupon_waits_for_an_operator(rt: Runtime, shop: Any) -> None:
    rt.settings.coupons.require_human_review = True
    coupon = _create(rt, shop.shop_id)
    assert coupon.auto_reasons == [] and coupon.finalize_at is None
    with rt.unit() as ctx:
        assert [c.id for c in service.review_queue(ctx.session, shop.shop_id)] == [coupon.id]
    scheduler.advance(rt, 3 * 3600, sweeps=SWEEPS)
    assert _status(rt, shop.shop_id, coupon.id).status == CouponStatus.REVIEWING


def test_C2_absolute_words_fail_with_every_reason(rt: Runtime, shop: Any) -> None:
    coupon = _create(
        rt, shop.shop_id, title="全网最低价", claim_instructions="国家级品质，第一选择"
    )
    reasons = coupon.auto_reasons
    assert {(r["field"], r["code"]) for r in reasons} >= {
        ("title", "absolute_words"),
        ("claim_instructions", "absolute_words"),
    }
    assert all(r["rule"] == "C2.4" for r in reasons)


def test_C2_allowed_phrases_are_not_absolute_words(rt: Runtime, shop: Any) -> None:
    coupon = _create(rt, shop.shop_id, usage_text="最多抵扣300元，最终解释权归门店所有。")
    assert coupon.auto_reasons == []


def test_C2_imitation_official_wording(rt: Runtime, shop: Any) -> None:
    coupon = _create(rt, shop.shop_id, title="抖音同款官方推荐")
    assert "imitation_official" in _codes(coupon)


@pytest.mark.parametrize(
    "text",
    [
        "咨询请拨13812345678",
        "详见 www.example.com",
        "加VX号 haowu8888 领取",
        "关注公众号好物小店",
        "淘宝搜索好物小店",
        "电话 0571-88886666",
    ],
)
def test_C2_contact_details_in_text_fail(rt: Runtime, shop: Any, text: str) -> None:
    coupon = _create(rt, shop.shop_id, claim_instructions=text)
    assert "contact_details" in _codes(coupon), text


def test_C2_qr_in_image_fails_qr_absent_passes(rt: Runtime, shop: Any) -> None:
    with_qr = _create(rt, shop.shop_id, product_image=product_with_qr())
    assert "code_in_image" in _codes(with_qr)
    assert [r["field"] for r in with_qr.auto_reasons] == ["product_image"]
    logo_qr = _create(
        rt, shop.shop_id, logo=png(132, 132, image=qr_image("http://x.cn", 3).resize((132, 132)))
    )
    assert "code_in_image" in _codes(logo_qr)
    assert _create(rt, shop.shop_id).auto_reasons == []


@pytest.mark.parametrize(
    ("kind", "text"), [("Code128", "VX-haowu8888"), ("EAN13", "6901234567892")]
)
def test_C2_barcode_in_image_fails_with_contact_reason(
    rt: Runtime, shop: Any, kind: str, text: str
) -> None:
    """C2 rule 5: a 1-D barcode inside the product image is refused like a QR code (a contact
    detail / traffic diversion), and the refusal reaches the coupon at the review delay."""
    coupon = _create(rt, shop.shop_id, product_image=product_with_barcode(text, kind))
    assert [(r["rule"], r["code"], r["field"]) for r in coupon.auto_reasons] == [
        ("C2.5", "code_in_image", "product_image")
    ]
    assert "条形码" in coupon.auto_reasons[0]["message_zh"]
    rt.clock.set(coupon.review_due_at)  # type: ignore[attr-defined]
    as_operator(rt, coupon.id, approve=False, reason="图片含条形码")
    final = _status(rt, shop.shop_id, coupon.id)
    assert final.status == CouponStatus.REJECTED
    assert [r["code"] for r in final.reject_reasons] == ["code_in_image", "human_rejected"]


def test_C2_barcode_check_passes_an_image_without_one(rt: Runtime, shop: Any) -> None:
    """The same picture without the barcode passes the image check (no false positive)."""
    assert moderation.check_images({"product_image": _decoded(png(686, 176))}) == []
    assert moderation.check_images({"product_image": _decoded(product_with_barcode())}) != []
    assert _create(rt, shop.shop_id).auto_reasons == []


def _decoded(data: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


def test_C2_merchant_name_must_match_registered_name(rt: Runtime, make_shop: Any) -> None:
    shop = make_shop("好物小店", registered_name="杭州好物电子商务有限公司")
    assert _create(rt, shop.shop_id, merchant_name="好物").auto_reasons == []
    assert _create(rt, shop.shop_id, merchant_name="杭州好物电子商务").auto_reasons == []
    assert "merchant_name_mismatch" in _codes(_create(rt, shop.shop_id, merchant_name="星巴克"))
    assert moderation.check_merchant_name("Hao Wu", "HAOWU有限公司", "") == []


def test_C2_flagged_coupon_waits_for_an_operator_then_rejection_applies_at_the_delay(
    rt: Runtime, shop: Any
) -> None:
    coupon = _create(rt, shop.shop_id, title="第一名店")
    assert coupon.finalize_at is None  # flagged: no outcome until an operator decides
    with rt.unit() as ctx:
        assert [c.id for c in service.review_queue(ctx.session)] == [coupon.id]
    rt.clock.set(coupon.created_at + timedelta(minutes=5))  # type: ignore[attr-defined]
    as_operator(rt, coupon.id, approve=False, reason="标题使用绝对化用语")
    rt.clock.set(coupon.created_at + timedelta(minutes=30) - timedelta(seconds=1))  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert service.finalize_reviews(ctx) == {"approved": 0, "rejected": 0}
    rt.clock.set(coupon.created_at + timedelta(minutes=30))  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert service.finalize_reviews(ctx) == {"approved": 0, "rejected": 1}
    with rt.unit() as ctx:  # idempotent: the same instant again changes nothing
        assert service.finalize_reviews(ctx) == {"approved": 0, "rejected": 0}
    after = _status(rt, shop.shop_id, coupon.id)
    assert after.status == CouponStatus.REJECTED and after.reject_reasons
    with rt.unit() as ctx:
        notices = list(ctx.session.scalars(select(Notice).where(Notice.shop_id == shop.shop_id)))
        assert any("审核失败" in n.title and n.rule == "C2" for n in notices)
        events = list(ctx.session.scalars(select(Event.type).where(Event.shop_id == shop.shop_id)))
        assert "coupon.rejected" in events
    with pytest.raises(Conflict):
        as_operator(rt, coupon.id, approve=True)


def test_C2_early_human_approval_takes_effect_at_the_delay(rt: Runtime, shop: Any) -> None:
    rt.settings.coupons.require_human_review = True
    coupon = _create(rt, shop.shop_id)
    rt.clock.advance(5 * 60)  # type: ignore[attr-defined]
    decided = as_operator(rt, coupon.id, approve=True)
    assert decided.status == CouponStatus.REVIEWING
    assert decided.finalize_at == coupon.created_at + timedelta(minutes=30)
    with rt.unit() as ctx:
        assert service.next_review_due(ctx.session, rt.clock.now()) == decided.finalize_at
    report = scheduler.advance(rt, 3600, sweeps=SWEEPS)
    assert report.counts["coupons.review_finalize"]["approved"] == 1
    final = _status(rt, shop.shop_id, coupon.id)
    assert final.status == CouponStatus.ACTIVE and final.reviewed_at == decided.finalize_at
    with rt.unit() as ctx:
        notices = list(
            ctx.session.scalars(select(Notice.title).where(Notice.shop_id == shop.shop_id))
        )
        assert any("有效中" in t for t in notices)


def test_C2_late_human_rejection_takes_effect_at_once_with_reason(rt: Runtime, shop: Any) -> None:
    rt.settings.coupons.require_human_review = True
    coupon = _create(rt, shop.shop_id)
    rt.clock.advance(45 * 60)  # type: ignore[attr-defined]
    with pytest.raises(ValidationFailed):
        as_operator(rt, coupon.id, approve=False, reason=" ")
    final = as_operator(rt, coupon.id, approve=False, reason="图片有第三方水印")
    assert final.status == CouponStatus.REJECTED
    assert "水印" in final.reject_reasons[0]["message_zh"]
    with pytest.raises(Conflict):
        as_operator(rt, coupon.id, approve=True)


def test_C2_other_shop_cannot_see_or_review(rt: Runtime, shop: Any, make_shop: Any) -> None:
    from xiaodian.errors import NotFound

    other = make_shop("别家")
    coupon = _create(rt, shop.shop_id)
    with pytest.raises(NotFound), rt.unit() as ctx:
        service.decide_review(ctx, other.shop_id, coupon.id, approve=True)

"""Issue 17 F2: text inside coupon images is read (OCR) and checked like the text fields.

Seed 004: "图片中不得出现联系方式，包括电话、网址、微信号、二维码等", "图文均不包含广告法禁止
的绝对性词汇". The images are drawn here with a CJK font (Debian ``fonts-wqy-zenhei``) and read
by the real Tesseract with its Chinese model (Debian ``tesseract-ocr-chi-sim``). Without OCR the
coupon goes to a human with a note saying so, never passes silently.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.coupons.helpers import draft
from xiaodian.coupons import moderation, ocr, service
from xiaodian.coupons.models import CouponStatus
from xiaodian.runtime import Runtime

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
OCR_READY = not ocr.missing_parts() and FONT.exists()

needs_ocr = pytest.mark.skipif(
    not OCR_READY and os.environ.get("XIAODIAN_REQUIRE_OCR") != "1",
    reason="needs tesseract-ocr, tesseract-ocr-chi-sim and fonts-wqy-zenhei (apt)",
)


def product_with_text(*lines: str, size: int = 28) -> bytes:
    """A 686×176 product picture with ``lines`` printed on it."""
    font = ImageFont.truetype(str(FONT), size)
    image = Image.new("RGB", (686, 176), (255, 244, 236))
    pen = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        pen.text((24, 20 + n * (size + 18)), line, fill=(30, 30, 30), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _create(rt: Runtime, shop_id: int, **overrides: Any) -> Any:
    with rt.unit("user:1") as ctx:
        return service.create_coupon(ctx, shop_id, draft(**overrides))


def _findings(coupon: Any) -> set[tuple[str, str]]:
    return {(r["field"], r["code"]) for r in coupon.auto_reasons}


@needs_ocr
@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (("到店消费满100减20", "咨询电话 138-1234-5678"), "contact_details"),
        (("官方旗舰店同款", "www.haowu-shop.com"), "contact_details"),
        (("新客专享 加微信 haowu_8888",), "contact_details"),
        (("全网最低价 限时抢购",), "absolute_words"),
    ],
)
def test_F2_text_in_the_product_image_is_checked_like_a_field(
    rt: Runtime, shop: Any, lines: tuple[str, ...], code: str
) -> None:
    coupon = _create(rt, shop.shop_id, product_image=product_with_text(*lines))
    assert ("product_image", code) in _findings(coupon), coupon.auto_reasons
    reason = next(r for r in coupon.auto_reasons if r["field"] == "product_image")
    assert reason["message_zh"].startswith("商品图片中的文字")
    # flagged like a text field's finding: it waits for a platform operator (F1), never
    # approved by the default policy
    assert coupon.decision is None and coupon.finalize_at is None


@needs_ocr
def test_F2_clean_printed_text_passes_the_machine(rt: Runtime, shop: Any) -> None:
    coupon = _create(
        rt, shop.shop_id, product_image=product_with_text("到店消费满100减20", "周末可用")
    )
    assert coupon.auto_reasons == [] and coupon.status == CouponStatus.REVIEWING
    assert coupon.decided_by == service.POLICY_ACTOR  # approved at the end of the window


def test_F2_ocr_off_sends_the_coupon_to_a_human_with_a_note(rt: Runtime, shop: Any) -> None:
    rt.settings.coupons.ocr_enabled = False
    coupon = _create(rt, shop.shop_id)
    notes = [r for r in coupon.auto_reasons if moderation.needs_human(r)]
    assert {(r["field"], r["code"]) for r in notes} == {
        ("product_image", "image_text_unread"),
        ("logo", "image_text_unread"),
    }
    assert "需人工审核" in notes[0]["message_zh"]
    # not a refusal and not a pass: the default policy does not approve it, an operator decides
    assert coupon.decision is None and coupon.finalize_at is None
    assert coupon.status == CouponStatus.REVIEWING
    with rt.unit() as ctx:
        assert [c.id for c in service.review_queue(ctx.session, shop.shop_id)] == [coupon.id]


def test_F2_missing_tesseract_is_unavailable_not_a_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A machine without the program (PATH holds no tesseract): the reader refuses to say
    anything about the image instead of returning no text."""
    monkeypatch.setenv("PATH", str(tmp_path))
    ocr.missing_parts.cache_clear()
    try:
        reader = ocr.TesseractOcr(ocr.OcrSettings())
        with pytest.raises(ocr.OcrUnavailable, match="tesseract"):
            reader.read(Image.new("RGB", (686, 176)), "no-cache-" + tmp_path.name)
    finally:
        ocr.missing_parts.cache_clear()


def test_F2_chinese_gaps_from_ocr_are_joined() -> None:
    assert ocr.normalise("加 微 信 haowu 8888\n") == "加微信 haowu 8888"

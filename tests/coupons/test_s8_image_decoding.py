"""S8 image decoding (issue 11): format and dimensions are judged on the header, only what
passed is decoded, and decodes are bounded per process. Real PNG bytes, real Pillow."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from PIL import Image, ImageFile

from tests.coupons.helpers import draft, jpeg, png
from xiaodian import imaging
from xiaodian.aftersales.service import check_evidence_file
from xiaodian.coupons import service
from xiaodian.coupons.images import check_logo, check_product_image, decode_upload
from xiaodian.errors import ValidationFailed
from xiaodian.runtime import Runtime


def tiny_png(width: int, height: int) -> bytes:
    """A real, valid PNG of ``width``×``height`` 1-bit pixels: a few KB on disk, width × height
    bytes (×3 as RGB) once decoded."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


BOMB = tiny_png(4096, 4096)


def _errors(rt: Runtime, shop_id: int, **overrides: Any) -> dict[str, str]:
    with rt.unit("user:1") as ctx, pytest.raises(ValidationFailed) as info:
        service.create_coupon(ctx, shop_id, draft(**overrides))
    return {e["field"]: e["message_zh"] for e in info.value.errors}


def test_S8_bomb_is_a_real_small_png_of_4096_squared() -> None:
    assert len(BOMB) < 4096
    assert Image.open(io.BytesIO(BOMB)).size == (4096, 4096)


def test_S8_4096_logo_is_refused_from_its_header_without_decoding(rt: Runtime, shop: Any) -> None:
    before = imaging.decodes_started
    errors = _errors(rt, shop.shop_id, logo=BOMB)
    assert "132×132" in errors["logo"] and "4096×4096" in errors["logo"]
    # The (valid) product image was decoded; the logo never reached load().
    assert imaging.decodes_started == before + 1


def test_S8_a_valid_logo_is_decoded_so_the_counter_counts(rt: Runtime) -> None:
    rules = rt.settings.coupons
    before = imaging.decodes_started
    checked, errors = check_logo(png(132, 132), rules)
    assert errors == [] and checked is not None and checked.image.size == (132, 132)
    assert imaging.decodes_started == before + 1


def test_S8_product_image_over_its_pixel_cap_is_refused_before_decoding(rt: Runtime) -> None:
    rules = rt.settings.coupons
    assert rules.product_image_max_pixels == 1372 * 352
    before = imaging.decodes_started
    # The 686:176 aspect, at four times the scale: 2744×704 pixels in a 2 KB file.
    big = tiny_png(2744, 704)
    checked, errors = check_product_image(big, rules)
    assert checked is None and "像素过多" in errors[0]["message_zh"]
    # A square 4096² is refused for its pixels (F8: its aspect alone would only warn).
    checked, errors = check_product_image(BOMB, rules)
    assert checked is None and "像素过多" in errors[0]["message_zh"]
    assert imaging.decodes_started == before
    # Twice the scale is still accepted (with the 686×176 recommendation as a warning).
    checked, errors = check_product_image(jpeg(1372, 352), rules)
    assert errors == [] and checked is not None and checked.warnings
    assert imaging.decodes_started == before + 1


def test_S8_scanned_photo_over_its_cap_is_not_decoded(rt: Runtime) -> None:
    rules = rt.settings.coupons.model_copy(update={"image_max_pixels": 1000 * 1000})
    before = imaging.decodes_started
    assert decode_upload(tiny_png(2000, 2000), rules) is None
    assert imaging.decodes_started == before
    image = decode_upload(png(686, 176), rules)
    assert image is not None and imaging.decodes_started == before + 1


def test_S8_pillow_bomb_guard_stays_on() -> None:
    """A header past Pillow's own MAX_IMAGE_PIXELS is refused by Pillow itself at open."""
    huge = tiny_png(1, 1)
    # Patch the IHDR dimensions to 20000×20000 (400 M pixels) and fix its CRC.
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    start = huge.index(b"IHDR")
    chunk = b"IHDR" + ihdr
    huge = huge[: start - 4] + struct.pack(">I", 13) + chunk
    huge += struct.pack(">I", zlib.crc32(chunk)) + tiny_png(1, 1)[start + 4 + 13 + 4 :]
    with pytest.raises(imaging.ImageRefused) as info:
        imaging.read_header(huge)
    assert info.value.reason == "bomb"
    assert Image.MAX_IMAGE_PIXELS is not None  # the process-global guard is not switched off


def test_S8_evidence_photo_over_its_cap_is_refused_without_decoding() -> None:
    before = imaging.decodes_started
    with pytest.raises(ValidationFailed) as info:
        check_evidence_file("a.png", BOMB, max_bytes=10**6, allow_pdf=False, max_pixels=10**6)
    assert info.value.message_zh == "图片尺寸过大"
    assert imaging.decodes_started == before
    assert check_evidence_file(
        "b.png", png(64, 48), max_bytes=10**6, allow_pdf=False, max_pixels=10**6
    ) == ("image/png", "png")
    assert imaging.decodes_started == before + 1


def test_S8_concurrent_decodes_are_bounded(rt: Runtime) -> None:
    """16 decodes started at once: at most ``image_decodes_in_flight`` run together."""
    in_flight = rt.settings.limits.image_decodes_in_flight
    assert in_flight == 2
    photo = jpeg(1800, 1800)
    active = peak = 0
    lock = threading.Lock()
    original = ImageFile.ImageFile.load

    def watched_load(self: ImageFile.ImageFile) -> Any:  # observes, does not replace, the decode
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.02)
            return original(self)
        finally:
            with lock:
                active -= 1

    barrier = threading.Barrier(16)

    def one() -> None:
        barrier.wait()
        imaging.decode(photo, max_pixels=10**7, in_flight=in_flight)

    ImageFile.ImageFile.load = watched_load  # type: ignore[method-assign]
    try:
        threads = [threading.Thread(target=one) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        ImageFile.ImageFile.load = original  # type: ignore[method-assign]
    assert 1 <= peak <= in_flight

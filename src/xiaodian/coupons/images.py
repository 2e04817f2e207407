"""Image checks for coupons (C1) and QR/barcode detection inside images (C2 rule 5).

Rules, and the choices made where the article is loose:

* Format is judged by **content**, never by file name: Pillow must identify the bytes as JPEG or
  PNG ("jpg/jpeg/png"); anything else (GIF, WebP, a renamed PDF, garbage) is refused.
* Size: "< 1 MB" is strict — ``len(data) < image_max_bytes`` (1,048,576): exactly 1 MB is
  refused, 1 MB − 1 byte accepted.
* Product image: the article *recommends* 686×176 (F8, issue 17). Exactly 686×176 passes
  silently; any other size or aspect is accepted **with a warning** (``rules.product_image_
  warnings``: same aspect within ``product_aspect_tolerance_permille`` → scaled; another
  aspect → shown at 686:176 centred and cropped, never stretched). Format, < 1 MB and the pixel
  cap refuse.
* Logo: exactly 132×132 ("分辨率132*132").
* Decompression bombs (S8): format, dimensions, the logo's 132×132, the
  product image's pixel cap (``product_image_max_pixels``, 686×176 at twice the scale) and a scanned
  photo's cap (``image_max_pixels``) are all judged on the header, before any pixel is
  decoded; only what passed is decoded, ``limits.image_decodes_in_flight`` at a time (see
  ``xiaodian.imaging``). Pillow's own DecompressionBombError/Warning are caught as well. We do
  not lower the process-global ``Image.MAX_IMAGE_PIXELS``: other contexts share the
  interpreter, and the explicit checks here are stricter than Pillow's default.
* Corrupt or truncated files fail ``load()`` and are refused with a clear field error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zxingcpp
from PIL import Image

from xiaodian import imaging
from xiaodian.config import CouponRules
from xiaodian.coupons import rules as coupon_rules
from xiaodian.errors import field_error

LOGO_SIZE = (132, 132)
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass
class CheckedImage:
    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int
    image: Image.Image  # decoded, for moderation (QR detection)
    warnings: list[dict[str, Any]] = field(default_factory=list)


def _mb(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MB"


SizeCheck = Callable[[int, int], list[dict[str, Any]]]


def check_image(
    data: bytes | None,
    field_name: str,
    label: str,
    rules: CouponRules,
    max_bytes: int | None = None,
    *,
    max_pixels: int | None = None,
    size_check: SizeCheck | None = None,
    in_flight: int = 2,
) -> tuple[CheckedImage | None, list[dict[str, Any]]]:
    """Check one uploaded image and decode it; return it, or the field errors.

    S8: format and dimensions come from the header first (``imaging.read_header``);
    ``size_check`` (the logo's 132×132) and the ``max_pixels`` cap refuse there,
    before any pixel is decoded; only what passed is decoded, ``in_flight`` at a time."""
    limit = rules.image_max_bytes if max_bytes is None else max_bytes
    cap = rules.image_max_pixels if max_pixels is None else max_pixels
    if not data:
        return None, [field_error(field_name, f"请上传{label}", f"{field_name} is required")]
    if len(data) >= limit:
        return None, [
            field_error(
                field_name,
                f"{label}大小须小于 {_mb(limit)}（当前 {len(data)} 字节）",
                f"{field_name} must be smaller than {_mb(limit)} ({len(data)} bytes given)",
            )
        ]
    bad_format = field_error(
        field_name,
        f"{label}须为 jpg、jpeg 或 png 图片",
        f"{field_name} must be a JPEG or PNG image",
    )
    try:
        header = imaging.read_header(data)
    except imaging.ImageRefused as exc:
        return None, [_refusal(exc, field_name, label, bad_format)]
    if header.format not in _FORMATS:
        return None, [bad_format]
    width, height = header.width, header.height
    if width <= 0 or height <= 0:
        return None, [
            field_error(
                field_name,
                f"{label}尺寸异常（{width}×{height}）",
                f"{field_name} has implausible dimensions {width}×{height}",
            )
        ]
    if size_check is not None:
        errors = size_check(width, height)
        if errors:
            return None, errors
    if header.pixels > cap:
        return None, [
            field_error(
                field_name,
                f"{label}像素过多（{width}×{height}，最多 {cap} 像素），已拒绝",
                f"{field_name} has too many pixels ({width}×{height}; at most {cap})",
            )
        ]
    try:
        image = imaging.decode(data, max_pixels=cap, in_flight=in_flight)
    except imaging.ImageRefused as exc:
        return None, [_refusal(exc, field_name, label, bad_format)]
    checked = CheckedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=_FORMATS[header.format],
        width=width,
        height=height,
        image=image,
    )
    return checked, []


def _refusal(
    exc: imaging.ImageRefused, field_name: str, label: str, bad_format: dict[str, Any]
) -> dict[str, Any]:
    if exc.reason == "format":
        return bad_format
    if exc.reason == "bomb":
        return field_error(
            field_name, f"{label}像素过多，已拒绝", f"{field_name} has too many pixels"
        )
    return field_error(
        field_name, f"{label}文件已损坏或不完整", f"{field_name} is corrupt or truncated"
    )


def check_product_image(
    data: bytes | None, rules: CouponRules, *, in_flight: int = 2
) -> tuple[CheckedImage | None, list[dict[str, Any]]]:
    """C1/F8 product image: JPEG/PNG, < 1 MB, at most ``product_image_max_pixels`` (S8, from
    the header, before decoding) — those refuse. The size is a recommendation (686×176): any
    other size or aspect is accepted with the warnings of ``coupon_rules.product_image_warnings``
    (kept on the coupon, shown on the console and returned by the API)."""
    checked, errors = check_image(
        data,
        "product_image",
        "商品图片",
        rules,
        max_pixels=rules.product_image_max_pixels,
        in_flight=in_flight,
    )
    if checked is None:
        return None, errors
    checked.warnings.extend(
        coupon_rules.product_image_warnings(
            checked.width, checked.height, rules.product_aspect_tolerance_permille
        )
    )
    return checked, []


def check_logo(
    data: bytes | None, rules: CouponRules, *, in_flight: int = 2
) -> tuple[CheckedImage | None, list[dict[str, Any]]]:
    """C1 merchant logo: JPEG/PNG, < 1 MB, exactly 132×132 — judged on the header (S8): a
    logo of another size is refused before any pixel is decoded."""

    def exact(w: int, h: int) -> list[dict[str, Any]]:
        if (w, h) == LOGO_SIZE:
            return []
        return [
            field_error(
                "logo",
                f"商家logo分辨率须为 132×132（当前 {w}×{h}）",
                f"logo must be exactly 132×132 ({w}×{h} given)",
            )
        ]

    return check_image(
        data,
        "logo",
        "商家logo",
        rules,
        max_pixels=LOGO_SIZE[0] * LOGO_SIZE[1],
        size_check=exact,
        in_flight=in_flight,
    )


def find_codes(image: Image.Image) -> list[str]:
    """Texts of every QR code / barcode zxing-cpp finds in the image (C2 rule 5, C6 scan)."""
    try:
        results = zxingcpp.read_barcodes(image)
    except Exception:
        return []
    return [str(result.text) for result in results]


def decode_upload(data: bytes, rules: CouponRules, *, in_flight: int = 2) -> Image.Image | None:
    """Decode an uploaded photo/screenshot (C6 scan-to-verify); None when it is not an image.
    At most ``image_max_pixels``, read from the header before decoding (S8)."""
    checked, _errors = check_image(
        data, "image", "图片", rules, max_bytes=rules.scan_image_max_bytes, in_flight=in_flight
    )
    return checked.image if checked else None

"""Image and coupon builders for the coupon tests (real PNG/JPEG bytes, real QR codes); the
shared ones (pictures, PNGs, a valid draft, an approved coupon) come from ``xiaodian.builders``
(M7) and are re-exported under the names these tests use."""

from __future__ import annotations

import io
from typing import Any

import segno
import zxingcpp
from PIL import Image

from xiaodian.builders import Builders, picture, png
from xiaodian.builders import coupon_draft as draft
from xiaodian.builders import later as after
from xiaodian.runtime import Runtime

__all__ = ["after", "draft", "picture", "png"]


def active_coupon(rt: Runtime, shop_id: int, **overrides: Any) -> int:
    """A coupon that passed review (C2 default policy, F1) — see ``Builders.active_coupon``."""
    return Builders(rt).active_coupon(shop_id, **overrides)


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    picture(width, height).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def qr_image(payload: str, scale: int = 4) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="png", scale=scale, border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def product_with_qr(payload: str = "weixin://contact/abc123") -> bytes:
    base = picture(686, 176)
    code = qr_image(payload, scale=3)
    base.paste(code, (500, (176 - code.height) // 2))
    return png(686, 176, image=base)


def barcode_image(text: str, kind: str = "Code128", height: int = 60) -> Image.Image:
    """A real 1-D barcode drawn by zxing-cpp's writer (quiet zones included)."""
    written = zxingcpp.write_barcode_to_image(
        zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, kind)), scale=2
    )
    rows, cols = memoryview(written).shape
    strip = Image.frombytes("L", (cols, rows), bytes(memoryview(written))).convert("RGB")
    return strip.resize((strip.width, height), Image.Resampling.NEAREST)


def product_with_barcode(text: str = "VX-haowu8888", kind: str = "Code128") -> bytes:
    base = picture(686, 176)
    code = barcode_image(text, kind)
    base.paste(code, (686 - code.width - 20, (176 - code.height) // 2))
    return png(686, 176, image=base)


def as_operator(
    rt: Runtime, coupon_id: int, *, approve: bool, reason: str = "", operator_id: int = 1
) -> Any:
    """F1: the platform's operator decides a queued coupon (the shop no longer can)."""
    from xiaodian.platform import service as platform

    with rt.unit(f"operator:{operator_id}") as ctx:
        return platform.decide_coupon(ctx, coupon_id, approve=approve, reason=reason)


def wide_runtime(rt: Runtime, connections: int = 55) -> Runtime:
    """The same database and clock with a pool big enough for ``connections`` parallel real
    connections (the default pool holds 30)."""
    from xiaodian.db import make_engine, make_sessionmaker

    engine = make_engine(
        rt.engine.url.render_as_string(hide_password=False),
        pool_size=connections,
        max_overflow=0,
    )
    return Runtime(
        settings=rt.settings,
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=rt.clock,
        wall=rt.wall,
    )

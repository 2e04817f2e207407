"""Image and coupon builders for the coupon tests (real PNG/JPEG bytes, real QR codes)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import segno
import zxingcpp
from PIL import Image, ImageDraw, PngImagePlugin

from xiaodian.coupons import service
from xiaodian.runtime import Runtime


def picture(width: int, height: int, color: tuple[int, int, int] = (230, 80, 60)) -> Image.Image:
    image = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 20):
        draw.line([(x, 0), (x, height)], fill=(255, 220, 200), width=3)
    return image


def png(
    width: int, height: int, *, pad_to: int | None = None, image: Image.Image | None = None
) -> bytes:
    """A real PNG; ``pad_to`` makes it exactly that many bytes with a tEXt chunk."""
    image = image or picture(width, height)

    def encode(text: str) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text("pad", text)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()

    if pad_to is None:
        return encode("")
    base = len(encode(""))
    data = encode("x" * (pad_to - base))
    assert len(data) == pad_to
    return data


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


def draft(**overrides: Any) -> service.CouponDraft:
    values: dict[str, Any] = {
        "title": "进店全场95折",
        "merchant_name": "好物小店",
        "product_image": png(686, 176),
        "logo": png(132, 132, image=picture(132, 132, (40, 90, 200))),
        "condition_kind": "discount",
        "discount_percent": 95,
        "discount_cap_fen": 300_00,
        "usage_text": "全场95折，限定折扣最多抵扣300元，最终解释权归门店所有。",
        "validity_kind": "relative",
        "valid_days": 7,
        "service_phone": "0571-88886666",
        "claim_instructions": "每人限领1张，到店出示券码使用。",
    }
    values.update(overrides)
    return service.CouponDraft(**values)


def active_coupon(rt: Runtime, shop_id: int, **overrides: Any) -> int:
    """Create a coupon that passes the machine checks: the platform's default policy approves
    it at the end of the review window (F1); the clock is moved there and back."""
    with rt.unit("user:1") as ctx:
        coupon = service.create_coupon(ctx, shop_id, draft(**overrides))
        # F2: without Tesseract every coupon carries a note and waits for an operator
        assert not coupon.auto_reasons, coupon.auto_reasons
        coupon_id = coupon.id
        due = coupon.review_due_at
    clock: Any = rt.clock
    before = clock.now()
    clock.set(due)
    with rt.unit() as ctx:
        assert service.finalize_reviews(ctx, coupon_ids=[coupon_id])["approved"] == 1
    clock.set(before if before >= due else due)
    return coupon_id


def as_operator(
    rt: Runtime, coupon_id: int, *, approve: bool, reason: str = "", operator_id: int = 1
) -> Any:
    """F1: the platform's operator decides a queued coupon (the shop no longer can)."""
    from xiaodian.platform import service as platform

    with rt.unit(f"operator:{operator_id}") as ctx:
        return platform.decide_coupon(ctx, coupon_id, approve=approve, reason=reason)


def after(rt: Runtime, **kwargs: float) -> None:
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(**kwargs))


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

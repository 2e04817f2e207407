"""One set of builders for the world a test or a benchmark needs (issue 15 M7): buyers,
products, paid and shipped orders, money on a shop's accounts, coupons that passed review,
campaigns and claims — each made through the services, as a user would make them, in its own
unit of work.

The tests' context helpers (``tests/orders/conftest.py`` ``Shopper``, the after-sales and red
packet ``World`` …) are thin layers over :class:`Builders` that keep the call shapes their tests
use; the benchmarks import from here, never from ``tests/``. Nothing in the application imports
this module: it is a library for code that drives the application from outside.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from xiaodian.coupons.service import CouponDraft
    from xiaodian.runtime import Runtime

ADDRESS = "杭州市西湖区文三路 1 号"
PHONE = "13812345678"
TRACKING_SF = "SF1234567890123"


@dataclass
class Builders:
    """Makes what a scenario needs, through the services. ``prefix`` keeps the Douyin ids of
    the buyers of one builder apart from another's in the same database."""

    rt: Runtime
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    prefix: str = "dy_buyer"

    def buyer(
        self,
        nickname: str = "张三",
        phone: str = PHONE,
        *,
        verified: bool = False,
        douyin_id: str | None = None,
    ) -> tuple[int, str]:
        """A platform buyer: (id, bearer token)."""
        return self._new_buyer(nickname, phone, verified=verified, douyin_id=douyin_id)

    def _new_buyer(
        self, nickname: str, phone: str, *, verified: bool, douyin_id: str | None
    ) -> tuple[int, str]:
        # What ``order`` calls: the helpers over these builders reshape ``buyer`` for their
        # tests, an order's buyer is made the same way whatever they do.
        from xiaodian.accounts import service as accounts

        douyin_id = douyin_id or f"{self.prefix}_{next(self.counter)}"
        with self.rt.unit() as ctx:
            buyer, token = accounts.create_buyer(
                ctx, douyin_id=douyin_id, nickname=nickname, phone=phone, verified=verified
            )
            return buyer.id, token

    def product(
        self,
        shop_id: int,
        title: str = "保温杯",
        price_fen: int = 5_900,
        stock: int = 10_000,
        ship_within_hours: int | None = None,
    ) -> int:
        from xiaodian.orders import service as orders

        with self.rt.unit() as ctx:
            return orders.create_product(
                ctx,
                shop_id,
                title=title,
                price_fen=price_fen,
                stock=stock,
                ship_within_hours=ship_within_hours,
            ).id

    def order(
        self,
        shop_id: int,
        lines: list[tuple[int, int]],
        *,
        buyer_id: int | None = None,
        pay: bool = True,
        ship: bool = False,
        verified: bool = False,
        discount_fen: int = 0,
        route: str = "wechat",
        name: str = "张三",
        phone: str = PHONE,
    ) -> int:
        """An order of ``lines`` ((product id, quantity) …), paid unless ``pay=False`` and
        shipped by SF when ``ship=True``; a new buyer named ``name`` unless ``buyer_id``."""
        from xiaodian.accounts.models import Buyer
        from xiaodian.orders import service as orders

        if buyer_id is None:
            buyer_id, _ = self._new_buyer(name, phone, verified=verified, douyin_id=None)
        with self.rt.unit(f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            order = orders.place_order(
                ctx,
                buyer,
                shop_id,
                items=lines,
                address=ADDRESS,
                payment_route=route,
                discount_fen=discount_fen,
                receiver_name=name,
                receiver_phone=phone,
            )
            if pay:
                orders.pay_order(ctx, buyer_id, order.id)
            order_id = order.id
        if ship:
            self.ship(shop_id, order_id)
        return order_id

    def ship(
        self, shop_id: int, order_id: int, tracking: str = TRACKING_SF, carrier: str = "SF"
    ) -> None:
        from xiaodian.orders import service as orders

        with self.rt.unit("user:1") as ctx:
            orders.ship_order(ctx, shop_id, order_id, carrier=carrier, tracking_no=tracking)

    def topup(self, shop_id: int, account: str, amount_fen: int, key: str | None = None) -> None:
        """Money onto the shop's balance or deposit (X3), idempotent on ``key``."""
        from xiaodian.ledger import service as ledger

        key = key or f"topup-{shop_id}-{account}-{next(self.counter)}"
        with self.rt.unit() as ctx:
            ledger.topup(ctx, shop_id, account, amount_fen, key)

    def balance(self, shop_id: int, account: str) -> int:
        from xiaodian.ledger import service as ledger

        with self.rt.unit() as ctx:
            return ledger.balance(ctx.session, shop_id, account)

    def active_coupon(self, shop_id: int, **overrides: Any) -> int:
        """A coupon that passes the machine checks, approved by the platform's default policy
        at the end of the review window (C2, F1): the clock is moved there and back."""
        from xiaodian.coupons import service as coupons

        with self.rt.unit("user:1") as ctx:
            coupon = coupons.create_coupon(ctx, shop_id, coupon_draft(**overrides))
            # F2: without Tesseract every coupon carries a note and waits for an operator
            assert not coupon.auto_reasons, coupon.auto_reasons
            coupon_id = coupon.id
            due = coupon.review_due_at
        clock: Any = self.rt.clock
        before = clock.now()
        clock.set(due)
        with self.rt.unit() as ctx:
            assert coupons.finalize_reviews(ctx, coupon_ids=[coupon_id])["approved"] == 1
        clock.set(before if before >= due else due)
        return coupon_id


def picture(width: int, height: int, color: tuple[int, int, int] = (230, 80, 60)) -> Image.Image:
    """A striped RGB picture (stripes: an image a decoder must really read)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 20):
        draw.line([(x, 0), (x, height)], fill=(255, 220, 200), width=3)
    return image


def png(
    width: int, height: int, *, pad_to: int | None = None, image: Image.Image | None = None
) -> bytes:
    """A real PNG; ``pad_to`` makes it exactly that many bytes with a tEXt chunk."""
    from PIL import PngImagePlugin

    picture_ = image or picture(width, height)

    def encode(text: str) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text("pad", text)
        buffer = io.BytesIO()
        picture_.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()

    if pad_to is None:
        return encode("")
    base = len(encode(""))
    data = encode("x" * (pad_to - base))
    assert len(data) == pad_to
    return data


def coupon_draft(**overrides: Any) -> CouponDraft:
    """A 通用券 that satisfies every C1 field and passes the C2 machine checks."""
    from xiaodian.coupons import service as coupons

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
    return coupons.CouponDraft(**values)


def later(rt: Runtime, **kwargs: float) -> None:
    """Move the runtime's manual clock forward (``later(rt, hours=2)``)."""
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(**kwargs))

"""Helpers for the orders tests: products, buyers and paid orders made through the services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from xiaodian.builders import Builders
from xiaodian.ledger.models import Account
from xiaodian.runtime import Runtime


@dataclass
class Shopper(Builders):
    """The orders tests' call shapes over the shared builders (M7): one product per order,
    small stock by default."""

    def product(
        self,
        shop_id: int,
        title: str = "保温杯",
        price_fen: int = 5_900,
        stock: int = 1000,
        ship_within_hours: int | None = None,
    ) -> int:
        return super().product(shop_id, title, price_fen, stock, ship_within_hours)

    def order(  # type: ignore[override]
        self,
        shop_id: int,
        product_id: int,
        *,
        buyer_id: int | None = None,
        qty: int = 1,
        pay: bool = True,
        route: str = "wechat",
        name: str = "张三",
        phone: str = "13812345678",
    ) -> int:
        return super().order(
            shop_id,
            [(product_id, qty)],
            buyer_id=buyer_id,
            pay=pay,
            route=route,
            name=name,
            phone=phone,
        )

    def deposit(self, shop_id: int, amount_fen: int = 1_000_000) -> None:
        self.topup(shop_id, Account.DEPOSIT, amount_fen, f"dep-{shop_id}-{amount_fen}")


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))


@dataclass
class RatingHistory:
    """O9 fixture data: orders judged around a 30-day window boundary (see ``rating_history``).
    ``now`` is when the window starts exactly at B's judgment (30 days old)."""

    now: Any
    orders: dict[str, int]


def rating_history(rt: Runtime, shop_id: int, shopper: Shopper) -> RatingHistory:
    """Drive the real sweeps on the manual clock (T0 = the clock's start):

    * A paid at T0, judged at T0+48h, refund agreed (never judged again, never shipped);
    * B paid at T0+1s, judged at T0+48h+1s, refund agreed;
    * C paid at T0+2s, judged at T0+48h+2s, +24 h, +48 h (3 judgments), never shipped;
    * D paid at T0, shipped at T0+1h (on time);
    * E paid at T0+20d, shipped at T0+20d+1h (on time);
    * F paid at T0+20d, judged at T0+22d, shipped at T0+22d+1h.

    The clock ends at now = T0+48h+1s+30d: A's judgment is 30 days + 1 s old, B's 30 days."""
    from datetime import timedelta

    from xiaodian import scheduler
    from xiaodian.orders import service
    from xiaodian.orders import sweeps as rules

    hour, day = 3600, 86400
    start = rt.clock.now()
    shopper.deposit(shop_id)
    product = shopper.product(shop_id, title="评级测试商品")
    orders = {"A": shopper.order(shop_id, product), "D": shopper.order(shop_id, product)}
    rt.clock.advance(1)
    orders["B"] = shopper.order(shop_id, product)
    rt.clock.advance(1)
    orders["C"] = shopper.order(shop_id, product)

    def until(offset_seconds: int) -> None:
        target = start + timedelta(seconds=offset_seconds)
        scheduler.advance(rt, int((target - rt.clock.now()).total_seconds()), sweeps=rules.SWEEPS)

    def ship(name: str, tracking_no: str) -> None:
        with rt.unit() as ctx:
            service.ship_order(ctx, shop_id, orders[name], carrier="SF", tracking_no=tracking_no)

    until(hour)
    ship("D", "SF1000000000001")
    until(48 * hour + 2)
    with rt.unit() as ctx:
        for name in ("A", "B"):
            service.mark_refund_agreed(ctx, shop_id, orders[name], reason="缺货")
    until(20 * day)
    # C's third judgment banned the first product (O8): the later orders buy another one.
    second = shopper.product(shop_id, title="评级测试商品二")
    orders["E"] = shopper.order(shop_id, second)
    orders["F"] = shopper.order(shop_id, second)
    until(20 * day + hour)
    ship("E", "SF1000000000002")
    until(22 * day)
    until(22 * day + hour)
    ship("F", "SF1000000000003")
    until(48 * hour + 1 + 30 * day)
    return RatingHistory(now=rt.clock.now(), orders=orders)

"""Demo data for orders: products and ~60 orders in every state, placed and paid at past
instants, some overdue so the late-shipment sweeps (O6/O7) have judged them and the O8
deductions of past days have been made. Running it again for the same shop changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.context import Ctx
from xiaodian.db import transaction
from xiaodian.orders import service, sweeps
from xiaodian.orders.models import Product
from xiaodian.runtime import Runtime

PRODUCTS = (
    ("保温杯 500ml 不锈钢", 5_900, None),
    ("西湖龙井 明前特级 250g", 32_800, None),
    ("无线蓝牙耳机 降噪版", 19_900, None),
    ("手工牛轧糖礼盒", 8_800, 72),
    ("预售·中秋月饼礼盒", 16_800, 240),
    ("纯棉四件套 1.8m", 29_900, None),
)
NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰", "吴倩")
ROUTES = ("wechat", "alipay", "douyin_pay")
CARRIERS = (
    ("顺丰", "SF{:013d}"),
    ("中通", "7{:011d}"),
    ("圆通", "YT{:013d}"),
    ("京东", "JDVA{:011d}"),
    ("韵达", "4{:012d}"),
)


@contextmanager
def _at(rt: Runtime, when: datetime, actor: str = "demo") -> Iterator[Ctx]:
    with transaction(rt.factory) as session:
        yield Ctx(session=session, now=when, settings=rt.settings, actor=actor)


def seed(rt: Runtime, shop_id: int, progress: Any = None) -> None:
    with rt.unit("demo") as ctx:
        if ctx.session.scalar(select(Product.id).where(Product.shop_id == shop_id)) is not None:
            return
    now = rt.clock.now().replace(microsecond=0)
    task = progress.add_task("订单 orders", total=70) if progress is not None else None

    def tick() -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    with _at(rt, now - timedelta(days=30)) as ctx:
        products = [
            service.create_product(
                ctx, shop_id, title=title, price_fen=price, stock=500, ship_within_hours=hours
            ).id
            for title, price, hours in PRODUCTS
        ]
    buyers = _buyers(rt, now - timedelta(days=30))
    serial = 0

    def order(
        placed: datetime,
        *,
        pay: bool = True,
        product: int | None = None,
        ship_after: timedelta | None = None,
    ) -> int:
        nonlocal serial
        serial += 1
        buyer_id = buyers[serial % len(buyers)]
        pid = product or products[serial % 4]  # the pre-sale products only when asked
        with _at(rt, placed, f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            placed_order = service.place_order(
                ctx,
                buyer,
                shop_id,
                items=[(pid, 1 + serial % 2)],
                address=f"浙江省杭州市西湖区文三路 {100 + serial} 号",
                payment_route=ROUTES[serial % 3],
                discount_fen=(serial % 3) * 500,
            )
            if pay:
                service.pay_order(ctx, buyer_id, placed_order.id)
            order_id = placed_order.id
        if ship_after is not None:
            carrier, pattern = CARRIERS[serial % len(CARRIERS)]
            with _at(rt, placed + ship_after) as ctx:
                service.ship_order(
                    ctx,
                    shop_id,
                    order_id,
                    carrier=carrier,
                    tracking_no=pattern.format(10_000_000 + serial),
                )
        tick()
        return order_id

    # 待支付 / 待发货 (not yet due) / 已发货 / 已完成.
    for i in range(8):
        order(now - timedelta(hours=1 + i), pay=False)
    for i in range(16):
        order(now - timedelta(hours=2 + 2 * i))
    shipped = [
        order(now - timedelta(days=3 + i % 5, hours=i), ship_after=timedelta(hours=20))
        for i in range(14)
    ]
    for i, order_id in enumerate(shipped[:8]):
        with _at(rt, now - timedelta(days=1, hours=i)) as ctx:
            service.confirm_receipt(ctx, _buyer_of(ctx, order_id), order_id)
    # 已关闭: refunded in full before shipping; one partial refund after shipping.
    for i in range(3):
        refunded = order(now - timedelta(days=4, hours=i))
        with _at(rt, now - timedelta(days=3, hours=i)) as ctx:
            service.mark_refund_agreed(ctx, shop_id, refunded, reason="买家拍错，协商退款")
            detail = service.get_order(ctx.session, shop_id, refunded)
            service.refund(ctx, shop_id, refunded, detail.paid_fen, "协商退款", "A6")
    with _at(rt, now - timedelta(days=2)) as ctx:
        detail = service.get_order(ctx.session, shop_id, shipped[9])
        service.refund(ctx, shop_id, shipped[9], min(500, detail.paid_fen), "少发赠品", "A6")
    # Overdue: paid days ago, never shipped — judged late (O6/O7), penalties deducted (O8),
    # a pre-sale product banned after the 3rd judgment, one shipped late, one refund agreed.
    for i in range(8):
        order(now - timedelta(days=3, hours=2 + i))
    for i in range(3):
        order(now - timedelta(days=5, hours=i), product=products[4 - (i % 2)])
    late_shipped = order(now - timedelta(days=4))
    late_agreed = order(now - timedelta(days=4, hours=1))
    for i in range(4):
        order(now - timedelta(hours=40 + i))  # due within the next hours
    _replay_sweeps(rt, now - timedelta(days=5), now - timedelta(days=1, hours=12))
    with _at(rt, now - timedelta(days=1, hours=12)) as ctx:
        service.ship_order(ctx, shop_id, late_shipped, carrier="SF", tracking_no="SF1000000000001")
        service.mark_refund_agreed(ctx, shop_id, late_agreed, reason="缺货，与买家协商退款")
    _replay_sweeps(rt, now - timedelta(days=1, hours=12), now)
    if progress is not None and task is not None:
        progress.update(task, completed=70)


def _replay_sweeps(rt: Runtime, start: datetime, end: datetime) -> None:
    """Run the order sweeps at each instant something fell due between ``start`` and ``end``,
    as a worker would have (so every judgment carries its own deadline instant). M1: the
    context runs its own declared sweeps; it does not import the scheduler."""
    current = start
    while True:
        for sweep in sweeps.SWEEPS:  # each in its own transaction, as the scheduler runs it
            with _at(rt, current, actor="system") as ctx:
                sweep.run(ctx)
        with transaction(rt.factory) as session:
            upcoming = [
                when
                for when in (
                    sweeps.next_judgment_due(session, current),
                    sweeps.next_penalty_due(session, current),
                    sweeps.next_auto_close_due(session, current),
                )
                if when is not None
            ]
        if current >= end:
            return
        nxt = min(upcoming) if upcoming else end
        current = min(max(nxt, current + timedelta(seconds=1)), end)


def _buyers(rt: Runtime, when: datetime) -> list[int]:
    ids = []
    with _at(rt, when) as ctx:
        for i, name in enumerate(NAMES):
            douyin_id = f"demo_orders_buyer_{i + 1}"
            found = ctx.session.scalars(select(Buyer).where(Buyer.douyin_id == douyin_id)).first()
            if found is None:
                found, _token = accounts.create_buyer(
                    ctx, douyin_id=douyin_id, nickname=name, phone=f"139{i + 1:08d}"
                )
            ids.append(found.id)
    return ids


def _buyer_of(ctx: Ctx, order_id: int) -> int:
    from xiaodian.orders.models import Order

    found = ctx.session.get(Order, order_id)
    assert found is not None
    return found.buyer_id

"""After-sales demo seed: strategies and requests in every state for the demo shop (A1–A6).

Creates its own buyers and orders through the orders service (placed, paid, shipped), then
applies, decides and replays the 48 h sweep at past instants, so the 售后工作台 shows pending
requests with time left and the history shows each rule and strategy. Running it twice is a
no-op (it stops when the shop already has strategies).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy import select

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer, User
from xiaodian.aftersales import logistics, strategies, sweeps
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.models import AfterSaleRequest, Strategy
from xiaodian.aftersales.service import ItemQty
from xiaodian.context import Ctx
from xiaodian.db import transaction
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime

NAMES = ("赵敏", "周芷若", "张无忌", "杨过", "小龙女", "郭靖", "黄蓉", "令狐冲")


@contextmanager
def _at(rt: Runtime, when: datetime, actor: str = "demo") -> Iterator[Ctx]:
    with transaction(rt.factory) as session:
        yield Ctx(session=session, now=when, settings=rt.settings, actor=actor)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 160, 90)).save(out, format="PNG")
    return out.getvalue()


def seed(rt: Runtime, shop_id: int, progress: Any = None) -> None:
    with rt.unit("demo") as ctx:
        if ctx.session.scalar(select(Strategy.id).where(Strategy.shop_id == shop_id)):
            return
        # The merchant's decisions are the main account's (U5: the console names it).
        owner = ctx.session.scalar(
            select(User.id).where(User.shop_id == shop_id, User.is_main.is_(True))
        )
    merchant = f"user:{owner}"
    now = rt.clock.now().replace(microsecond=0)
    task = progress.add_task("售后 aftersales", total=16) if progress is not None else None
    start = now - timedelta(days=3)
    with _at(rt, start) as ctx:
        product = orders.create_product(
            ctx, shop_id, title="售后演示·鲜花礼盒", price_fen=8_800, stock=500
        ).id
        buyers = []
        for i, name in enumerate(NAMES):
            buyer, _ = accounts.create_buyer(
                ctx,
                douyin_id=f"demo_aftersale_{shop_id}_{i}",
                nickname=name,
                phone=f"1370000{shop_id % 1000:03d}{i}",
                verified=i % 2 == 0,
            )
            buyers.append(buyer.id)
        strategies.save_strategy(ctx, shop_id, "erp_cancel", enabled=True)
        strategies.save_strategy(ctx, shop_id, "small_amount", enabled=True, threshold_fen=1_000)
        strategies.save_strategy(ctx, shop_id, "interception", enabled=False)
        strategies.save_strategy(ctx, shop_id, "refusal", enabled=False)
    serial = 0

    def tick() -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    def order(placed: datetime, *, qty: int = 1, ship: bool = True, verified: bool = False) -> int:
        nonlocal serial
        serial += 1
        candidates = [b for i, b in enumerate(buyers) if (i % 2 == 0) == verified]
        buyer_id = candidates[serial % len(candidates)]
        with _at(rt, placed, f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            placed_order = orders.place_order(
                ctx,
                buyer,
                shop_id,
                items=[(product, qty)],
                address=f"浙江省杭州市滨江区网商路 {600 + serial} 号",
                payment_route=("wechat", "alipay", "douyin_pay")[serial % 3],
            )
            orders.pay_order(ctx, buyer_id, placed_order.id)
            order_id = placed_order.id
        if ship:
            with _at(rt, placed + timedelta(hours=3)) as ctx:
                orders.ship_order(
                    ctx,
                    shop_id,
                    order_id,
                    carrier="SF",
                    tracking_no=f"SF{9_000_000_000_00 + serial}",
                )
        return order_id

    def apply(
        when: datetime, order_id: int, amount: int, kind: str = "shipped_refund", reason: str = ""
    ) -> int:
        with _at(rt, when) as ctx:
            o = orders.get_order(ctx.session, shop_id, order_id)
            buyer = ctx.session.get(Buyer, o.buyer_id)
            assert buyer is not None
            items = [ItemQty(i.id, i.qty) for i in orders.order_items(ctx.session, o)]
            default = "seven_days" if kind == "return_refund" else "no_longer_wanted"
            ctx.actor = f"buyer:{buyer.id}"
            req = aftersales.apply(
                ctx,
                buyer,
                order_id,
                kind=kind,
                items=items,
                amount_fen=amount,
                reason=reason or default,
                note="演示售后申请",
            )
            tick()
            return req.id

    # 已发货仅退款待处理: four pending requests with different time left.
    for hours in (2, 9, 20, 40):
        apply(now - timedelta(hours=hours), order(now - timedelta(days=2)), 8_800)
    # 小金额自动同意退款 (A2.2).
    apply(now - timedelta(hours=30), order(now - timedelta(days=2)), 800, reason="other")
    # 48 h without action → default refund (A3), replayed at its due instant.
    overdue = apply(now - timedelta(hours=50), order(now - timedelta(days=3)), 8_800)
    with _at(rt, now - timedelta(hours=2)) as ctx:
        sweeps.default_refund(ctx)
    # 拒签后退款: one waiting for logistics, one refused → refunded (A2.4).
    waiting = apply(now - timedelta(hours=5), order(now - timedelta(days=1)), 8_800)
    refused_order = order(now - timedelta(days=1))
    refused = apply(now - timedelta(hours=6), refused_order, 8_800)
    with _at(rt, now - timedelta(hours=4), merchant) as ctx:
        aftersales.agree_on_refusal(ctx, shop_id, waiting)
        aftersales.agree_on_refusal(ctx, shop_id, refused)
    with _at(rt, now - timedelta(hours=1), "carrier") as ctx:
        package = logistics.packages_of(ctx.session, shop_id, refused_order)[0]
        logistics.carrier_event(ctx, shop_id, package.id, "refused")
    # ERP取消发货自动退 (A2.1).
    cancelled_order = order(now - timedelta(days=1))
    apply(now - timedelta(hours=7), cancelled_order, 8_800)
    with _at(rt, now - timedelta(hours=6), "app:demo") as ctx:
        logistics.cancel_shipment(ctx, shop_id, cancelled_order)
    # 快递拦截自动退 (A2.3): the strategy on for a verified buyer; the carrier answers later.
    with _at(rt, now - timedelta(hours=4)) as ctx:
        strategies.save_strategy(ctx, shop_id, "interception", enabled=True)
    apply(now - timedelta(hours=1), order(now - timedelta(days=1), verified=True), 8_800)
    intercepted = apply(
        now - timedelta(hours=3), order(now - timedelta(days=1), verified=True), 8_800
    )
    with _at(rt, now - timedelta(hours=1), "carrier") as ctx:
        req = aftersales.get_request(ctx.session, shop_id, intercepted)
        package = logistics.packages_of(ctx.session, shop_id, req.order_id)[0]
        logistics.carrier_event(ctx, shop_id, package.id, "intercept_succeeded")
    # Rejected with 举证 (A4).
    rejected = apply(now - timedelta(hours=30), order(now - timedelta(days=2)), 8_800)
    with _at(rt, now - timedelta(hours=28), merchant) as ctx:
        ev = aftersales.merchant_upload(ctx, shop_id, rejected, "生鲜商品说明.png", _png())
        aftersales.reject(ctx, shop_id, rejected, reason="fresh_food", evidence_ids=[ev.id])
    # Withdrawn by the buyer (A5); 未发货仅退款 pending and agreed (A6); 退货退款 待买家退货.
    withdrawn = apply(now - timedelta(hours=12), order(now - timedelta(days=1)), 8_800)
    with _at(rt, now - timedelta(hours=11)) as ctx:
        req = aftersales.get_request(ctx.session, shop_id, withdrawn)
        aftersales.withdraw(ctx, req.buyer_id, withdrawn, "已与商家协商")
    apply(
        now - timedelta(hours=3),
        order(now - timedelta(hours=5), ship=False),
        8_800,
        kind="unshipped_refund",
    )
    unshipped = apply(
        now - timedelta(hours=8),
        order(now - timedelta(hours=10), ship=False),
        8_800,
        kind="unshipped_refund",
        reason="wrong_order",
    )
    with _at(rt, now - timedelta(hours=7), merchant) as ctx:
        aftersales.agree(ctx, shop_id, unshipped)
    returning = apply(
        now - timedelta(hours=20), order(now - timedelta(days=2)), 8_800, kind="return_refund"
    )
    with _at(rt, now - timedelta(hours=18), merchant) as ctx:
        aftersales.agree(ctx, shop_id, returning)
    with rt.unit("demo") as ctx:
        assert ctx.session.get(AfterSaleRequest, overdue) is not None
    if progress is not None and task is not None:
        progress.update(task, completed=16)

"""Demo data for 店铺红包: packets in every status (有效, 即将过期, 已过期, 已回收, 已用完, and
one extended) for the demo shop's buyers, issued at past instants so that the reminder and
expiry sweeps have really run. Running it again for the same shop changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.context import Ctx
from xiaodian.db import transaction
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.orders.models import Product
from xiaodian.redpackets import service, sweeps
from xiaodian.redpackets.models import RedPacket
from xiaodian.runtime import Runtime

DAY = 86_400
BUYERS = (
    ("dy_hongbao_01", "林晓"),
    ("dy_hongbao_02", "高远"),
    ("dy_hongbao_03", "苏婷"),
    ("dy_hongbao_04", "郑凯"),
    ("dy_hongbao_05", "何雪"),
    ("dy_hongbao_06", "罗彬"),
)


def seed(rt: Runtime, shop_id: int, progress: Any = None) -> None:
    now = rt.clock.now()
    with rt.unit("demo") as ctx:
        if ctx.session.scalar(select(RedPacket.id).where(RedPacket.shop_id == shop_id).limit(1)):
            return
        ids = []
        for douyin_id, nickname in BUYERS:
            buyer = ctx.session.scalars(select(Buyer).where(Buyer.douyin_id == douyin_id)).first()
            if buyer is None:
                buyer, _token = accounts.create_buyer(
                    ctx, douyin_id=douyin_id, nickname=nickname, phone="13800000000"
                )
            ids.append(buyer.id)
        # U6: funded a day before the first packet it pays for (six days ago).
        funded = replace(ctx, now=now - timedelta(days=7))
        ledger.topup(funded, shop_id, Account.BALANCE, 1_000_00, f"demo-redpackets:{shop_id}")
        product = ctx.session.scalars(
            select(Product).where(Product.shop_id == shop_id).order_by(Product.id)
        ).first()
        if product is None:
            product = orders.create_product(
                ctx, shop_id, title="红包专享 · 手工牛轧糖", price_fen=50_00, stock=1000
            )
        product_id = product.id
    dy = [d for d, _ in BUYERS]

    # Six days ago: packets that have expired since (one reclaimed, one extended).
    _expired, reclaimed, extended = _issue(rt, shop_id, now - timedelta(days=6), dy[:3], 20_00)
    _sweep(rt, now - timedelta(days=6), now - timedelta(days=2, hours=1))
    _at(rt, now - timedelta(days=2), lambda c: service.reclaim(c, shop_id, reclaimed))
    _at(rt, now - timedelta(hours=1), lambda c: service.extend(c, shop_id, extended, 3 * DAY))
    # Two days ago: one used up by an order, one partly used.
    used_up, partly = _issue(rt, shop_id, now - timedelta(days=2), dy[3:5], 15_00)
    _checkout(rt, shop_id, used_up, product_id, 15_00, now - timedelta(days=1))
    _checkout(rt, shop_id, partly, product_id, 5_00, now - timedelta(days=1))
    # Today: a week-long packet (有效) for everyone.
    _issue(rt, shop_id, now - timedelta(hours=2), dy, 8_80, validity_seconds=7 * DAY)
    _sweep(rt, now - timedelta(days=2), now)


def _at(rt: Runtime, when: datetime, action: Any) -> Any:
    with transaction(rt.factory) as session:
        ctx = Ctx(session=session, now=when, settings=rt.settings, actor="demo")
        return action(ctx)


def _issue(
    rt: Runtime,
    shop_id: int,
    when: datetime,
    douyin_ids: list[str],
    amount: int,
    validity_seconds: int | None = None,
) -> list[int]:
    result = _at(
        rt,
        when,
        lambda c: service.issue(
            c,
            shop_id,
            buyer_douyin_ids=douyin_ids,
            amount_fen=amount,
            validity_seconds=validity_seconds,
            note="演示红包",
        ),
    )
    return [r.redpacket_id for r in result.rows if r.redpacket_id]


def _checkout(
    rt: Runtime, shop_id: int, packet_id: int, product_id: int, amount: int, when: datetime
) -> None:
    def run(ctx: Ctx) -> None:
        packet = service.get_packet(ctx.session, shop_id, packet_id)
        buyer = accounts.get_buyer(ctx.session, packet.buyer_id)
        result = service.checkout(
            ctx,
            buyer,
            shop_id,
            items=[(product_id, 1)],
            address="杭州市西湖区文三路 100 号",
            payment_route="wechat",
            redpacket_id=packet_id,
            redpacket_amount_fen=amount,
            receiver_phone="13800000000",
        )
        orders.pay_order(ctx, buyer.id, result.order.id)

    _at(rt, when, run)


def _sweep(rt: Runtime, since: datetime, until: datetime) -> None:
    """Run the reminder and expiry sweeps at every instant they fell due in (since, until]."""
    current = since
    for _ in range(1000):
        with transaction(rt.factory) as session:
            due = [
                when
                for when in (
                    sweeps.next_remind_due(session, current),
                    sweeps.next_expiry_due(session, current),
                )
                if when is not None and when <= until
            ]
        if not due:
            return
        current = max(min(due), current)
        for sweep in sweeps.SWEEPS:
            _at(rt, current, sweep.run)

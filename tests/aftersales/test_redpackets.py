"""A6 × R3: an order paid partly with a shop red packet and refunded through an after-sale
request — the buyer gets back what they paid by the original route; the packet's used part
goes back to the packet while it is valid, to the merchant balance once it has expired. The
ledger audit stays clean."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.aftersales.conftest import World
from xiaodian import scheduler
from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales import sweeps as aftersales_rules
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify.models import Event
from xiaodian.orders import service as orders
from xiaodian.redpackets import service as redpackets
from xiaodian.redpackets import sweeps as redpacket_rules
from xiaodian.redpackets.models import PacketStatus, RedPacket
from xiaodian.runtime import Runtime

HOUR = 3600


def _packet_order(
    world: World,
    shop_id: int,
    *,
    packet_fen: int,
    price_fen: int,
    qty: int = 1,
    spend_fen: int | None = None,
) -> tuple[int, int]:
    """Issue a packet to a new buyer and check out an order spending ``spend_fen`` of it
    (default all); shipped. Returns (packet id, order id)."""
    buyer_id, _ = world.buyer()
    pid = world.product(shop_id, price_fen=price_fen)
    with world.rt.unit("user:1") as ctx:
        buyer = ctx.session.get(Buyer, buyer_id)
        assert buyer is not None
        issued = redpackets.issue(
            ctx, shop_id, buyer_douyin_ids=[buyer.douyin_id], amount_fen=packet_fen
        )
        packet_id = issued.rows[0].redpacket_id
        assert packet_id is not None
    with world.rt.unit(f"buyer:{buyer_id}") as ctx:
        buyer = ctx.session.get(Buyer, buyer_id)
        assert buyer is not None
        result = redpackets.checkout(
            ctx,
            buyer,
            shop_id,
            items=[(pid, qty)],
            address="杭州市西湖区文三路 1 号",
            payment_route="wechat",
            redpacket_id=packet_id,
            redpacket_amount_fen=packet_fen if spend_fen is None else spend_fen,
        )
        orders.pay_order(ctx, buyer_id, result.order.id)
        order_id = result.order.id
    world.ship(shop_id, order_id)
    return packet_id, order_id


def _packet(rt: Runtime, shop_id: int, packet_id: int) -> RedPacket:
    with rt.unit() as ctx:
        return redpackets.get_packet(ctx.session, shop_id, packet_id)


def _returned_to(rt: Runtime, shop_id: int) -> list[tuple[str, int]]:
    with rt.unit() as ctx:
        rows = ctx.session.scalars(
            select(Event)
            .where(Event.shop_id == shop_id, Event.type == "redpacket.returned")
            .order_by(Event.id)
        )
        return [(e.payload["returned_to"], e.payload["returned_fen"]) for e in rows]


def test_A6_R3_default_refund_of_packet_order_gives_packet_back_while_valid(
    world: World, shop: Any, rt: Runtime
) -> None:
    """Valid 3 days; the A3 default refund comes at 48 h, while the packet is still valid."""
    world.topup(shop.shop_id, 100_00)
    packet_id, order = _packet_order(world, shop.shop_id, packet_fen=10_00, price_fen=59_00)
    with rt.unit() as ctx:
        paid = orders.get_order(ctx.session, shop.shop_id, order)
        assert (paid.goods_fen, paid.discount_fen, paid.paid_fen) == (59_00, 10_00, 49_00)
    assert _packet(rt, shop.shop_id, packet_id).remaining_fen == 0
    req = world.apply(shop.shop_id, order, 49_00)  # everything the buyer paid
    assert req.status == "pending"

    rt.clock.advance(rt.settings.aftersales.merchant_sla_hours * HOUR)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert aftersales_rules.default_refund(ctx) == {"refunded": 1, "failed": 0}
    done = world.request(shop.shop_id, req.id)
    assert done.status == "refunded" and done.decided_rule == "A3"
    packet = _packet(rt, shop.shop_id, packet_id)
    assert (packet.status, packet.remaining_fen, packet.spent_fen) == (
        PacketStatus.ACTIVE,
        10_00,
        0,
    )
    assert packet.returned_to_balance_fen == 0
    assert _returned_to(rt, shop.shop_id) == [("packet", 10_00)]
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 0
    assert world.balance(shop.shop_id, Account.REDPACKET_FLOAT) == 10_00
    assert world.balance(shop.shop_id, Account.BALANCE) == 90_00
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []


def test_A6_R3_partial_refund_after_packet_expiry_goes_to_merchant_balance(
    world: World, shop: Any, rt: Runtime
) -> None:
    """The packet expired (R4 sweep) before the merchant agreed: its used part, in
    proportion to the refund, goes to the merchant balance; the buyer gets what they paid
    for the refunded item."""
    world.topup(shop.shop_id, 100_00)
    packet_id, order = _packet_order(
        world, shop.shop_id, packet_fen=5_00, spend_fen=4_00, price_fen=10_00, qty=2
    )
    ((item, _),) = world.items(shop.shop_id, order)
    rt.clock.advance(3 * 24 * HOUR)  # type: ignore[attr-defined]
    scheduler.run_tick(rt, sweeps=redpacket_rules.SWEEPS)
    assert _packet(rt, shop.shop_id, packet_id).status == PacketStatus.EXPIRED

    # One of two items: at most half of the 16.00 paid.
    req = world.apply(shop.shop_id, order, 8_00, items=[(item, 1)])
    with rt.unit("user:1") as ctx:
        aftersales.agree(ctx, shop.shop_id, req.id)
    assert world.request(shop.shop_id, req.id).status == "refunded"
    packet = _packet(rt, shop.shop_id, packet_id)
    # floor(400 × 800 / 1600) = 200 of the 4.00 used goes back — to the balance (expired).
    assert (packet.status, packet.remaining_fen) == (PacketStatus.EXPIRED, 1_00)
    assert (packet.spent_fen, packet.returned_to_balance_fen) == (2_00, 2_00)
    assert _returned_to(rt, shop.shop_id) == [("balance", 2_00)]
    assert world.balance(shop.shop_id, Account.BALANCE) == 95_00 + 2_00
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 20_00 - 8_00 - 2_00
    with rt.unit() as ctx:
        o = orders.get_order(ctx.session, shop.shop_id, order)
        assert (o.refunded_fen, o.after_sale) == (8_00, "partially_refunded")
        assert ledger.audit(ctx.session) == []

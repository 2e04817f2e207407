"""Prize orders: the 0-yuan order a redeemed lucky-bag win becomes (L2), shipped like any order.

A prize order is an ordinary ``Order`` so that it shows in order management (O1), ships by a
tracking number (O3), has a ship-by time computed exactly as for a paid order (O4), and is
judged late (O6/O7), penalized (O8) and auto-closed (O5) by the same sweeps. It is "paid" the
moment it is created, with 0 fen, by the payment route ``prize`` (no gateway call, no escrow:
there is no money to move).
"""

from __future__ import annotations

from typing import Any

from xiaodian.accounts.models import Buyer
from xiaodian.context import Ctx
from xiaodian.errors import Conflict
from xiaodian.notify import service as notify
from xiaodian.orders import product_rules, rules
from xiaodian.orders.models import AfterSale, Order, OrderItem, OrderStatus
from xiaodian.orders.service import (
    get_product,
    new_order_no,
    order_event,
    record_history,
    start_ship_clock,
    take_stock,
)

PRIZE_ROUTE = "prize"
PRIZE_ROUTE_LABEL = "福袋奖品（0元）"


def create_prize_order(
    ctx: Ctx,
    shop_id: int,
    buyer: Buyer,
    product_id: int,
    *,
    address: str,
    receiver_name: str,
    receiver_phone: str,
    source: dict[str, Any],
) -> Order:
    """L2: a 0-yuan order for one unit of ``product_id``, awaiting shipment from now.

    Stock is taken atomically (conditional UPDATE, as ``place_order`` does); a banned product
    (O8 商品封禁) cannot be given either. ``source`` (e.g. the win id) goes into the events.
    F1: a shop under 停业整改 / 清退 takes no new orders — a prize order is one, refused like
    ``place_order`` (the win stays redeemable once a suspension is lifted)."""
    from xiaodian.platform.service import refuse_if_sanctioned

    refuse_if_sanctioned(ctx.session, shop_id)
    session = ctx.session
    product = get_product(session, shop_id, product_id)
    refusal = product_rules.banned_refusal(product, prize=True)  # O8, the one ban check
    if refusal is not None:
        raise refusal
    if not take_stock(session, shop_id, product_id, 1, on_sale_only=False):
        raise Conflict(
            "out_of_stock",
            f"奖品「{product.title}」库存不足，请联系商家",
            f"Prize product {product_id} is out of stock",
        )
    session.refresh(product)
    order = Order(
        shop_id=shop_id,
        order_no=new_order_no(session, ctx.now),
        buyer_id=buyer.id,
        buyer_name=receiver_name.strip()[:60],
        buyer_phone=receiver_phone.strip(),
        address=address.strip()[:300],
        payment_route=PRIZE_ROUTE,
        goods_fen=0,
        discount_fen=0,
        paid_fen=0,
        refunded_fen=0,
        status=OrderStatus.AWAITING_SHIPMENT,
        after_sale=AfterSale.NONE,
        violation_count=0,
        close_reason="",
        created_at=ctx.now,
        auto_close_at=rules.auto_close_at(ctx.now, ctx.settings.orders.auto_close_days),
    )
    hours, ship_by = start_ship_clock(ctx, order, [product])  # O4, as for a paid order
    session.add(order)
    session.flush()
    session.add(
        OrderItem(
            shop_id=shop_id,
            order_id=order.id,
            product_id=product.id,
            title=product.title,
            qty=1,
            unit_price_fen=0,
            amount_fen=0,
        )
    )
    note = f"福袋兑奖，{hours}小时内发货"
    record_history(ctx, order, None, OrderStatus.AWAITING_SHIPMENT, "O4", note)
    payload = {**order_event(order), "prize": True, **source}
    notify.emit(ctx, shop_id, "order.placed", payload, rule="L2")
    notify.emit(ctx, shop_id, "order.paid", {**payload, "ship_by": ship_by.isoformat()}, rule="O4")
    return order

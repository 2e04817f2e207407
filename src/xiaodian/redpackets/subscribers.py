"""Reactions to orders' events (R3), run inside the emitting transaction: the packet part of
an order is given back on refund (proportionally) and on closing, and recorded as the
merchant's on completion. See ``service`` for the decisions."""

from __future__ import annotations

from xiaodian.context import Ctx
from xiaodian.notify.service import EmittedEvent, subscribe
from xiaodian.redpackets import service


@subscribe("order.refunded")
def order_refunded(ctx: Ctx, event: EmittedEvent) -> None:
    service.on_order_refunded(ctx, event.shop_id, event.payload)


@subscribe("order.closed")
def order_closed(ctx: Ctx, event: EmittedEvent) -> None:
    service.on_order_closed(ctx, event.shop_id, event.payload)


@subscribe("order.completed")
def order_completed(ctx: Ctx, event: EmittedEvent) -> None:
    service.on_order_completed(ctx, event.shop_id, event.payload)

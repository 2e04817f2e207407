"""In-process reactions (run inside the emitting transaction) that tie after-sales to orders
and logistics (A2, A3):

* ``order.shipped`` → the order's first package; a pending 未发货仅退款 request becomes
  已发货仅退款 and is evaluated by the assistant.
* ``order.closed`` by O5 (refunded in full) → its open request closes.
* ``aftersale.created`` / ``aftersale.modified`` → the assistant's strategies (A2).
* ``package.*`` carrier events → A2.1 / A2.3 / A2.4 reactions.
"""

from __future__ import annotations

from xiaodian.aftersales import logistics, strategies
from xiaodian.aftersales import service as requests
from xiaodian.context import Ctx
from xiaodian.notify.service import EmittedEvent, subscribe


@subscribe("order.shipped")
def _order_shipped(ctx: Ctx, event: EmittedEvent) -> None:
    payload = event.payload
    if not {"order_id", "carrier", "tracking_no"} <= set(payload):
        return  # not an orders shipment (e.g. a hand-made test event)
    order_id = int(payload["order_id"])
    logistics.create_first_package(
        ctx, event.shop_id, order_id, str(payload["carrier"]), str(payload["tracking_no"])
    )
    requests.convert_to_shipped(ctx, event.shop_id, order_id)


@subscribe("order.closed")
def _order_closed(ctx: Ctx, event: EmittedEvent) -> None:
    if event.payload.get("reason") == "auto_closed" and "order_id" in event.payload:
        requests.close_for_closed_order(ctx, event.shop_id, int(event.payload["order_id"]), "O5")


@subscribe("aftersale.created")
@subscribe("aftersale.modified")
def _evaluate(ctx: Ctx, event: EmittedEvent) -> None:
    if event.payload.get("status") == "pending" and "request_id" in event.payload:
        strategies.evaluate(ctx, event.shop_id, int(event.payload["request_id"]))


@subscribe("package.shipment_cancelled")
def _cancelled(ctx: Ctx, event: EmittedEvent) -> None:
    if "order_id" not in event.payload:
        return
    strategies.on_shipment_cancelled(ctx, event.shop_id, int(event.payload["order_id"]))


@subscribe("package.intercepted")
def _intercepted(ctx: Ctx, event: EmittedEvent) -> None:
    strategies.on_intercepted(ctx, event.shop_id, event.payload.get("request_id"))


@subscribe("package.interception_failed")
def _interception_failed(ctx: Ctx, event: EmittedEvent) -> None:
    strategies.on_interception_failed(
        ctx, event.shop_id, event.payload.get("request_id"), str(event.payload.get("reason", ""))
    )


@subscribe("package.refused")
def _refused(ctx: Ctx, event: EmittedEvent) -> None:
    p = event.payload
    if not {"order_id", "package_id"} <= set(p):
        return
    strategies.on_package_final(
        ctx, event.shop_id, int(p["order_id"]), int(p["package_id"]), "refused"
    )


@subscribe("package.delivered")
def _delivered(ctx: Ctx, event: EmittedEvent) -> None:
    p = event.payload
    if not {"order_id", "package_id"} <= set(p):
        return
    strategies.on_package_final(
        ctx, event.shop_id, int(p["order_id"]), int(p["package_id"]), "delivered"
    )

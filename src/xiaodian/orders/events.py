"""Domain events the orders context emits (issue 15 M4). Names are
``<subject>.<what_happened>``, lowercase; webhook subscriptions to other types are refused."""

EVENT_TYPES: tuple[str, ...] = (
    # O1–O5 the order's life
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.completed",
    "order.closed",
    "order.refund_agreed",
    "order.refunded",
    # O6–O8 late shipment, penalties
    "order.late_judged",
    "order.penalty_deducted",
    "order.penalty_waived",
    # products and the shop review (O7, O9)
    "product.created",
    "product.updated",
    "product.listed",
    "product.delisted",
    "product.stock_adjusted",
    "product.banned",
    "product.unbanned",
    "shop.review_flagged",
    "shop.review_decided",
    # order export (issue 9)
    "orders.export.created",
    "orders.export.completed",
    "orders.export.failed",
    "orders.export.downloaded",
)

"""Domain events the platform (operator) context emits (issue 17 F1, declared per issue 15 M4).
Every operator decision is one of these, naming the operator and the rule."""

EVENT_TYPES: tuple[str, ...] = (
    "platform.coupon_decided",
    "platform.product_unbanned",
    "platform.shop_decided",
    "platform.aftersale_intervened",
    "platform.suspension_lifted",
)

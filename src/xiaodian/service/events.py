"""Domain events the customer-service context emits (issue 15 M4). Names are
``<subject>.<what_happened>``, lowercase; webhook subscriptions to other types are refused."""

EVENT_TYPES: tuple[str, ...] = (
    "service.conversation_started",
    "service.order_card_sent",
    "service.redeem_link_sent",
    "service.live_link_sent",
    "service.live_preview_sent",
)

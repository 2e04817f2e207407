"""Domain events the red-packets context emits (issue 15 M4). Names are
``<subject>.<what_happened>``, lowercase; webhook subscriptions to other types are refused."""

EVENT_TYPES: tuple[str, ...] = (
    "redpacket.issued",
    "redpacket.spent",
    "redpacket.returned",
    "redpacket.reclaimed",
    "redpacket.order_completed",
    "redpacket.extended",
    "redpacket.reminded",
    "redpacket.expired",
    "redpacket.settings_updated",
)

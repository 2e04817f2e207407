"""Domain events the lucky-bags context emits (issue 15 M4). Names are
``<subject>.<what_happened>``, lowercase; webhook subscriptions to other types are refused."""

EVENT_TYPES: tuple[str, ...] = (
    "luckybag.created",
    "luckybag.drawn",
    "luckybag.won",
    "luckybag.redeemed",
    "luckybag.redeem_failed",
    "live.scheduled",
    "live.started",
    "live.ended",
    "shop.douyin_bound",
    "shop.douyin_unbound",
)

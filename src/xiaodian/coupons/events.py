"""Domain events the coupons context emits (issue 15 M4). Names are
``<subject>.<what_happened>``, lowercase; webhook subscriptions to other types are refused."""

EVENT_TYPES: tuple[str, ...] = (
    # C1–C2 coupons and their review
    "coupon.created",
    "coupon.auto_reviewed",
    "coupon.review_decided",
    "coupon.approved",
    "coupon.rejected",
    # C3–C4 campaigns and claims
    "campaign.created",
    "campaign.updated",
    "campaign.online",
    "campaign.offline",
    "coupon.claimed",
    # C5–C7 verification
    "coupon.verified",
    "coupon.verification_cancelled",
    "staff.token_issued",
)

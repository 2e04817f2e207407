"""Time-driven coupon rules (set-based, idempotent sweeps with ``next_due``).

* ``coupons.review_finalize`` (C2): reviews whose outcome is due become 有效中 / 审核失败.
* ``coupons.campaign_schedule`` (C3): campaigns go offline at their end, online at their start.
"""

from __future__ import annotations

from xiaodian.context import Ctx, Sweep
from xiaodian.coupons import service


def _finalize(ctx: Ctx) -> dict[str, int]:
    return service.finalize_reviews(ctx)


def _schedule(ctx: Ctx) -> dict[str, int]:
    return service.apply_campaign_schedule(ctx)


SWEEPS = [
    Sweep("coupons.review_finalize", "C2", _finalize, service.next_review_due),
    Sweep("coupons.campaign_schedule", "C3", _schedule, service.next_campaign_due),
]

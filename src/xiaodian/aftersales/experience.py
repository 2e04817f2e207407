"""A3.2 仅退款自主完结时长 — the experience-score signal of seed 003 ("开通后可有效降低体验分的
仅退款自主完结时长"), computed purely from its inputs (no database, no clock).

The signal: for each 仅退款 request (未发货仅退款 or 已发货仅退款) the merchant completed itself,
the time from the buyer's request to the merchant's first decision — 同意退款, 同意拒签后退款
(the seed names 拒签后退款 as what shortens it, so agreeing on refusal completes the merchant's
part) or 拒绝. Decisions by the merchant's own assistant strategies (A2) and by its manual
interception (A3.1) count: the merchant set them up. The one decision that is not the
merchant's is the system's default refund after 48 h (A3, actor ``system``); a request whose
first decision was that one, or that was withdrawn or closed without a decision, is not
counted. Measured per shop over the last ``completion_window_days`` (by decision time), shown
on 店铺评级 beside the late-shipment rate: count, average and median hours.

``service.refund_completion_time`` reads the rows; this module decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median


@dataclass(frozen=True)
class FirstDecision:
    """A refund-only request's first decision: when the buyer applied, when and by which
    rule and actor it was decided."""

    applied_at: datetime
    decided_at: datetime
    rule: str | None
    actor: str


@dataclass(frozen=True)
class CompletionTime:
    window_days: int
    window_start: datetime
    window_end: datetime
    count: int
    average_hours: float | None  # None when no request was completed in the window
    median_hours: float | None


def completed_by_merchant(rule: str | None, actor: str) -> bool:
    """Every decision but the system's default refund after the merchant's 48 h (A3)."""
    return not (rule == "A3" and actor == "system")


def completion_time(
    decisions: Sequence[FirstDecision], now: datetime, window_days: int
) -> CompletionTime:
    """A3.2: count, average and median hours (two decimals) from request to the merchant's
    own first decision, over decisions in [now − window_days, now] (both ends included)."""
    start = now - timedelta(days=window_days)
    hours = sorted(
        max(0.0, (d.decided_at - d.applied_at).total_seconds()) / 3600
        for d in decisions
        if start <= d.decided_at <= now and completed_by_merchant(d.rule, d.actor)
    )
    return CompletionTime(
        window_days=window_days,
        window_start=start,
        window_end=now,
        count=len(hours),
        average_hours=round(sum(hours) / len(hours), 2) if hours else None,
        median_hours=round(median(hours), 2) if hours else None,
    )

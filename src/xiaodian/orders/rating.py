"""O9 店铺评级: the late-shipment rate and score over the rolling window, with the daily
figures the chart draws. Split from ``service.py`` by SPEC section (issue 15 M3);
``service.py`` re-exports every public name."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from xiaodian.clock import local_day_start, to_local
from xiaodian.config import Settings
from xiaodian.orders.models import (
    Order,
    OrderViolation,
)

# ----- O9 rating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingDay:
    """One Asia/Shanghai day of the chart: the judgments made that day (inside the rating
    window) and the rolling late-shipment rate over the window that ends with that day."""

    day: str  # YYYY-MM-DD, Asia/Shanghai
    judgments: int
    late_orders: int
    base_orders: int

    @property
    def late_rate(self) -> float:
        return _rate(self.late_orders, self.base_orders)


@dataclass(frozen=True)
class Rating:
    window_days: int
    window_start: datetime
    window_end: datetime
    late_orders: int
    base_orders: int
    judgments: int
    score: int
    score_full: int
    judgment_points: int  # deducted for the judgments in the window
    rate_points: int  # deducted for the late-shipment rate
    days: list[RatingDay]

    @property
    def late_rate(self) -> float:
        return _rate(self.late_orders, self.base_orders)

    @property
    def daily(self) -> list[tuple[str, int]]:
        return [(d.day, d.judgments) for d in self.days]


def _rate(late: int, base: int) -> float:
    return round(late / base, 4) if base else 0.0


def rating(session: Session, shop_id: int, now: datetime, settings: Settings) -> Rating:
    """O9 店铺评级 over the rolling window [now − rating_window_days, now] (both ends included:
    a judgment exactly 30 days old still counts, one 30 days + 1 s old does not).

    * late-shipment rate = orders judged late in the window / orders shipped, due (ship-by
      passed) or judged in the window — a negative indicator of the shop rating;
    * every judgment record in the window counts in the score:
      ``score = max(0, rating_score_full − rating_points_per_judgment × judgments
      − round(rating_rate_weight_points × late_rate))`` (defaults 100, 1, 100: 5 judgments
      and a 75 % rate give 100 − 5 − 75 = 20);
    * per Asia/Shanghai day of the window: the judgments made that day and the rolling rate
      of the window ending with that day (its last instant, or now for today), for the chart.

    The console page, the dashboard and the open API all read this one function."""
    knobs, tz = settings.orders, settings.timezone
    window = timedelta(days=knobs.rating_window_days)
    start = now - window
    days = _rating_days(start, now, tz)
    ends = [end for _, end in days]
    judged = _judged_in_span(session, shop_id, ends[0] - window, now)
    shipped_or_due = _shipped_or_due_counts(session, shop_id, [(end - window, end) for end in ends])
    per_day = Counter(
        to_local(judged_at, tz).strftime("%Y-%m-%d")
        for _o, judged_at, _s, _b in judged
        if judged_at >= start
    )
    points: list[RatingDay] = []
    for (label, end), base_count in zip(days, shipped_or_due, strict=True):
        lo = end - window
        late: set[int] = set()
        extra: set[int] = set()  # judged in the window, but neither shipped nor due in it
        for order_id, judged_at, shipped_at, ship_by in judged:
            if lo <= judged_at <= end:
                late.add(order_id)
                if not (_within(shipped_at, lo, end) or _within(ship_by, lo, end)):
                    extra.add(order_id)
        points.append(RatingDay(label, per_day[label], len(late), base_count + len(extra)))
    current = points[-1]
    judgments = sum(per_day.values())
    judgment_points = knobs.rating_points_per_judgment * judgments
    rate_points = _rounded_ratio(
        knobs.rating_rate_weight_points * current.late_orders, current.base_orders
    )
    return Rating(
        window_days=knobs.rating_window_days,
        window_start=start,
        window_end=now,
        late_orders=current.late_orders,
        base_orders=current.base_orders,
        judgments=judgments,
        score=max(0, knobs.rating_score_full - judgment_points - rate_points),
        score_full=knobs.rating_score_full,
        judgment_points=judgment_points,
        rate_points=rate_points,
        days=points,
    )


def _rating_days(start: datetime, now: datetime, tz: str) -> list[tuple[str, datetime]]:
    """Each local day from the window's first to today, with the instant its rolling window
    ends: the day's last microsecond (the stored precision), or now for today."""
    out: list[tuple[str, datetime]] = []
    day = local_day_start(start, tz)
    while day <= now:
        following = local_day_start(day + timedelta(hours=36), tz)
        end = min(following - timedelta(microseconds=1), now)
        out.append((to_local(day, tz).strftime("%Y-%m-%d"), end))
        day = following
    return out


def _judged_in_span(
    session: Session, shop_id: int, lo: datetime, hi: datetime
) -> list[tuple[int, datetime, datetime | None, datetime | None]]:
    """Every judgment of the shop in [lo, hi] with its order's shipped_at and ship_by
    (judgments are few: at most 3 per late order)."""
    rows = session.execute(
        select(OrderViolation.order_id, OrderViolation.judged_at, Order.shipped_at, Order.ship_by)
        .join(Order, Order.id == OrderViolation.order_id)
        .where(
            OrderViolation.shop_id == shop_id,
            Order.shop_id == shop_id,
            OrderViolation.judged_at >= lo,
            OrderViolation.judged_at <= hi,
        )
    )
    return [(int(o), j, s, b) for o, j, s, b in rows]


def _shipped_or_due_counts(
    session: Session, shop_id: int, windows: list[tuple[datetime, datetime]]
) -> list[int]:
    """Per window [lo, hi]: the shop's orders shipped or due (ship-by passed) in it — one
    scan of the span (index-backed on shipped_at / ship_by), one conditional sum per window."""
    lo, hi = windows[0][0], windows[-1][1]
    sums = [
        func.coalesce(
            func.sum(
                case(
                    (
                        or_(
                            and_(Order.shipped_at >= w_lo, Order.shipped_at <= w_hi),
                            and_(Order.ship_by >= w_lo, Order.ship_by <= w_hi),
                        ),
                        1,
                    ),
                    else_=0,
                )
            ),
            0,
        )
        for w_lo, w_hi in windows
    ]
    row = session.execute(
        select(*sums).where(
            Order.shop_id == shop_id,
            or_(
                and_(Order.shipped_at >= lo, Order.shipped_at <= hi),
                and_(Order.ship_by >= lo, Order.ship_by <= hi),
            ),
        )
    ).one()
    return [int(value) for value in row]


def _within(when: datetime | None, lo: datetime, hi: datetime) -> bool:
    return when is not None and lo <= when <= hi


def _rounded_ratio(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, in integers (0 when nothing to divide by)."""
    return (2 * numerator + denominator) // (2 * denominator) if denominator else 0

"""What the console home 首页 reads from the orders context (issue 13 U3): today's figures,
the order to-dos and the daily series behind the dashboard's two charts.

Each to-do is an ``OrderFilter`` and the query values of its link to 订单管理; its count is
``service.count_orders`` over that very filter, so the list it opens shows exactly as many
orders as the to-do says (the list parses the same values into the same filter).

Days are calendar days in the shop's timezone (Asia/Shanghai), bounded by the clock object's
now — the simulated clock is respected like everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from xiaodian.orders.models import Order, OrderRefund, OrderStatus
from xiaodian.orders.prize import PRIZE_ROUTE
from xiaodian.orders.schemas import OrderFilter

# OrderFilter reads a time without an offset as Asia/Shanghai (schemas.py): the links'
# ship-by bounds are written in that zone so the list reads back the same instants.
FILTER_TZ = "Asia/Shanghai"
_LINK_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class DayFigures:
    """今日数据: orders paid in the span (a 福袋 prize at 0 元 is not a sale) and refunds made."""

    paid_orders: int
    sales_fen: int
    refunds: int
    refund_fen: int


@dataclass(frozen=True)
class DailyPoint:
    """One local day of the charts.

    * sales: orders paid that day (prizes excluded) and their 实付 sum;
    * late-shipment rate: of the orders whose promised ship-by time fell that day (and has
      passed), the share judged late (发货超时判定, O6) — 0 when none was due."""

    day: date
    sales_fen: int
    paid_orders: int
    due_orders: int
    late_orders: int

    @property
    def late_rate(self) -> float:
        return self.late_orders / self.due_orders if self.due_orders else 0.0


@dataclass(frozen=True)
class OrderTodo:
    filters: OrderFilter
    query: dict[str, str]


def day_bounds(now: datetime, tz: str, days: int) -> list[tuple[date, datetime, datetime]]:
    """The last ``days`` local days, oldest first, each ``(day, start, end)`` as aware UTC with
    ``end`` the next day's start; today's is the last."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    out = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
        out.append((day, start.astimezone(now.tzinfo), end.astimezone(now.tzinfo)))
    return out


def day_figures(session: Session, shop_id: int, start: datetime, end: datetime) -> DayFigures:
    """U3 今日数据 over [start, end): 成交额 and 支付订单数 by payment time, 退款 by refund time."""
    paid = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.paid_fen), 0)).where(
            Order.shop_id == shop_id,
            Order.paid_at >= start,
            Order.paid_at < end,
            Order.payment_route != PRIZE_ROUTE,
        )
    ).one()
    refunds = session.execute(
        select(func.count(), func.coalesce(func.sum(OrderRefund.amount_fen), 0)).where(
            OrderRefund.shop_id == shop_id,
            OrderRefund.created_at >= start,
            OrderRefund.created_at < end,
        )
    ).one()
    return DayFigures(int(paid[0]), int(paid[1]), int(refunds[0]), int(refunds[1]))


def daily_series(
    session: Session, shop_id: int, now: datetime, tz: str, days: int
) -> list[DailyPoint]:
    """U3 charts: one grouped query per series — each row's day found by one CASE over the
    day boundaries, on the index-backed ranges ``(shop_id, paid_at)`` and ``(shop_id,
    ship_by)``."""
    bounds = day_bounds(now, tz, days)
    first, last = bounds[0][1], bounds[-1][2]

    def day_of(column: Any) -> Any:
        return case(
            *[(column < end, literal(i)) for i, (_d, _s, end) in enumerate(bounds[:-1])],
            else_=literal(len(bounds) - 1),
        ).label("day_index")

    paid_day = day_of(Order.paid_at)
    sales = {
        int(i): (int(fen), int(n))
        for i, fen, n in session.execute(
            select(paid_day, func.coalesce(func.sum(Order.paid_fen), 0), func.count())
            .where(
                Order.shop_id == shop_id,
                Order.paid_at >= first,
                Order.paid_at < last,
                Order.payment_route != PRIZE_ROUTE,
            )
            .group_by(paid_day)
        )
    }
    due_day = day_of(Order.ship_by)
    late = {
        int(i): (int(n), int(judged))
        for i, n, judged in session.execute(
            select(
                due_day,
                func.count(),
                func.coalesce(func.sum(case((Order.violation_count > 0, 1), else_=0)), 0),
            )
            .where(
                Order.shop_id == shop_id,
                Order.ship_by >= first,
                Order.ship_by < min(last, now),
            )
            .group_by(due_day)
        )
    }
    return [
        DailyPoint(
            day=day,
            sales_fen=sales.get(i, (0, 0))[0],
            paid_orders=sales.get(i, (0, 0))[1],
            due_orders=late.get(i, (0, 0))[0],
            late_orders=late.get(i, (0, 0))[1],
        )
        for i, (day, _start, _end) in enumerate(bounds)
    ]


def awaiting_shipment() -> OrderTodo:
    """待发货: every paid order not yet shipped."""
    query = {"status": OrderStatus.AWAITING_SHIPMENT.value}
    return OrderTodo(OrderFilter.model_validate(query), query)


def ship_soon(now: datetime, hours: int) -> OrderTodo:
    """即将超时: unshipped orders whose ship-by time falls within the next ``hours`` hours
    (from now, to the second); orders already overdue are 待发货 and 违规处理's business."""
    zone = ZoneInfo(FILTER_TZ)
    start = now.replace(microsecond=0)
    query = {
        "status": OrderStatus.AWAITING_SHIPMENT.value,
        "ship_by_from": start.astimezone(zone).strftime(_LINK_FORMAT),
        "ship_by_to": (start + timedelta(hours=hours)).astimezone(zone).strftime(_LINK_FORMAT),
    }
    return OrderTodo(OrderFilter.model_validate(query), query)

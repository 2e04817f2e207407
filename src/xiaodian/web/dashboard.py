"""The console home 首页 that runs the day (issue 13 U3).

* 今日数据: 成交额 (元), 支付订单数, 退款 count and amount for the shop's calendar day (Asia/
  Shanghai) up to the clock object's now — the simulated clock included.
* 待办: a count and a link per to-do, each link opening a list that shows exactly that many
  rows (the count is read with the very filter the list applies): 待发货, 即将超时 (ship-by
  within ``dashboard.ship_soon_hours``), 待处理售后 (with the countdown of the nearest A3 48 h
  deadline), 审核中 coupons, 即将过期 red packets (R8's ``redpackets.expiring_soon_hours``,
  the same window as the red-packet list's filter), unread notices.
* Charts: sales per day and the late-shipment rate per day over ``dashboard.chart_days``,
  drawn here as inline SVG geometry (no script, no CDN: CSP), each with a title, a
  description and the numbers in a table.

Each part is shown only when its context is installed and the user holds its permission.
Contexts are read through their own service functions, never their tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from xiaodian.contexts import optional_module
from xiaodian.money import yuan
from xiaodian.notify import service as notify
from xiaodian.web.auth import Console


@dataclass(frozen=True)
class Todo:
    key: str
    label: str
    count: int
    href: str
    hint: str = ""


@dataclass
class Chart:
    """SVG geometry for one daily series (viewBox units; the SVG scales to the card width)."""

    key: str
    title: str
    desc: str
    unit: str
    width: int
    height: int
    pad_l: int
    pad_b: int
    pad_t: int
    base_y: float
    right_x: int
    top_label: str
    bars: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)


def remaining(seconds: int) -> str:
    """A countdown as the 售后工作台 shows it: 47小时59分 (never negative)."""
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours}小时{rest // 60}分"


def todos(console: Console) -> list[Todo]:
    ctx, shop_id, principal = console.ctx, console.shop_id, console.principal
    session, now, settings = ctx.session, ctx.now, ctx.settings
    items: list[Todo] = []
    orders_service = optional_module("xiaodian.orders.service")
    if orders_service is not None and principal.can("orders.view"):
        from xiaodian.orders import dashboard as od

        hours = settings.dashboard.ship_soon_hours
        for key, label, todo, hint in (
            ("awaiting_shipment", "待发货", od.awaiting_shipment(), "已支付未发货的订单"),
            ("ship_soon", "即将超时", od.ship_soon(now, hours), f"{hours}小时内到承诺发货时间"),
        ):
            count = orders_service.count_orders(session, shop_id, todo.filters)
            href = "/console/orders?" + urlencode(todo.query)
            items.append(Todo(key, label, count, href, hint))
    aftersales = optional_module("xiaodian.aftersales.service")
    if aftersales is not None and principal.can("aftersales.handle"):
        count = aftersales.count_pending_shipped(session, shop_id)
        due: datetime | None = aftersales.nearest_pending_due(session, shop_id)
        hint = "已发货仅退款待商家处理"
        if count and due is not None:
            hint = f"最近一单剩余 {remaining(int((due - now).total_seconds()))}"
        items.append(
            Todo("aftersales", "待处理售后", count, "/console/aftersales?tab=pending", hint)
        )
    coupons = optional_module("xiaodian.coupons.service")
    if coupons is not None and principal.can("coupons.manage"):
        count = coupons.count_coupons(session, shop_id, status="reviewing")
        items.append(
            Todo("coupons_reviewing", "审核中卡券", count, "/console/coupons?status=reviewing")
        )
    redpackets = optional_module("xiaodian.redpackets.service")
    if redpackets is not None and principal.can("redpackets.manage"):
        totals = redpackets.totals(session, shop_id, now, settings)
        count = next((t.count for t in totals.by_status if t.status == "expiring"), 0)
        hours = settings.redpackets.expiring_soon_hours
        items.append(
            Todo(
                "redpackets_expiring",
                "即将过期红包",
                count,
                "/console/redpackets?status=expiring",
                f"{hours}小时内到期",
            )
        )
    unread = notify.unread_count(session, shop_id, principal)
    items.append(Todo("unread_notices", "未读通知", unread, "/console/notices?show=unread"))
    return items


def today_and_charts(console: Console) -> dict[str, Any]:
    """今日数据 and the two charts (orders.view), else nothing."""
    if optional_module("xiaodian.orders.service") is None or not console.principal.can(
        "orders.view"
    ):
        return {"today": None, "charts": []}
    from xiaodian.orders import dashboard as od

    ctx = console.ctx
    tz, days = ctx.settings.timezone, ctx.settings.dashboard.chart_days
    day, start, end = od.day_bounds(ctx.now, tz, 1)[0]
    today = od.day_figures(ctx.session, console.shop_id, start, end)
    series = od.daily_series(ctx.session, console.shop_id, ctx.now, tz, days)
    return {
        "today": today,
        "today_label": day.isoformat(),
        "charts": [sales_chart(series), late_chart(series)],
    }


_W, _H, _PAD_L, _PAD_R, _PAD_B, _PAD_T = 1000, 220, 64, 16, 26, 14


def _chart(key: str, title: str, desc: str, unit: str, top_label: str) -> Chart:
    return Chart(
        key=key,
        title=title,
        desc=desc,
        unit=unit,
        width=_W,
        height=_H,
        pad_l=_PAD_L,
        pad_b=_PAD_B,
        pad_t=_PAD_T,
        base_y=_H - _PAD_B,
        right_x=_W - _PAD_R,
        top_label=top_label,
    )


def _bars(chart: Chart, values: list[float], top: float, labels: list[str]) -> None:
    inner_w = chart.right_x - chart.pad_l
    inner_h = chart.base_y - chart.pad_t
    step = inner_w / max(len(values), 1)
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        h = inner_h * value / top if top else 0.0
        chart.bars[i].update(
            x=round(chart.pad_l + i * step + step * 0.15, 1),
            y=round(chart.base_y - h, 1),
            w=round(step * 0.7, 1),
            h=round(h, 1),
            lx=round(chart.pad_l + i * step + step / 2, 1),
            tick=label,
        )


def sales_chart(series: list[Any]) -> Chart:
    days = len(series)
    chart = _chart(
        "sales",
        f"近{days}天每日成交额",
        f"近{days}天每天已支付订单的实付金额合计（元），最后一根柱为今天。",
        "元",
        "",
    )
    top = max([p.sales_fen for p in series] + [100])
    chart.top_label = f"¥{yuan(top)}"
    chart.bars = [
        {
            "day": p.day.isoformat(),
            "value": p.sales_fen,
            "title": f"{p.day:%m-%d}：成交额 ¥{yuan(p.sales_fen)}，支付订单 {p.paid_orders} 笔",
        }
        for p in series
    ]
    _bars(chart, [p.sales_fen for p in series], top, _ticks(series))
    chart.rows = [
        {
            "day": p.day.isoformat(),
            "a": yuan(p.sales_fen),
            "b": str(p.paid_orders),
        }
        for p in series
    ]
    return chart


def late_chart(series: list[Any]) -> Chart:
    days = len(series)
    chart = _chart(
        "late",
        f"近{days}天每日发货超时率",
        f"近{days}天每天到承诺发货时间的订单中被判定发货超时的比例（%），当天无到期订单记为 0。",
        "%",
        "",
    )
    top_rate = max([p.late_rate for p in series] + [0.05])
    top_rate = min(1.0, math.ceil(top_rate * 20) / 20)  # up to a whole 5 %
    chart.top_label = f"{top_rate * 100:.0f}%"
    chart.bars = [
        {
            "day": p.day.isoformat(),
            "value": f"{p.late_rate:.4f}",
            "title": f"{p.day:%m-%d}：发货超时率 {p.late_rate * 100:.1f}%"
            f"({p.late_orders}/{p.due_orders})",
        }
        for p in series
    ]
    _bars(chart, [p.late_rate for p in series], top_rate, _ticks(series))
    chart.rows = [
        {
            "day": p.day.isoformat(),
            "a": f"{p.late_rate * 100:.1f}%",
            "b": f"{p.late_orders} / {p.due_orders}",
        }
        for p in series
    ]
    return chart


def _ticks(series: list[Any]) -> list[str]:
    last = len(series) - 1
    return [
        f"{p.day:%m-%d}" if i % 2 == last % 2 or i == last else "" for i, p in enumerate(series)
    ]

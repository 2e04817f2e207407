"""U3 (issue 13): the console home runs the day — today's figures from the shop's own data for
the shop's calendar day (Asia/Shanghai, by the clock object), to-dos whose links open lists
showing exactly as many rows, and the two daily charts as inline SVG with a table fallback.

Everything is built through the real services on the manual clock and read over real HTTP
(SQLite by default; PostgreSQL with XIAODIAN_TEST_DATABASE_URL)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from tests.conftest import START, ShopFixture
from tests.orders.conftest import Shopper
from tests.web.conftest import console_login
from tests.web.u3_data import build_day
from xiaodian.accounts import service as accounts
from xiaodian.runtime import Runtime
from xiaodian.web.dashboard import remaining

HOUR = 3600


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))


def _testid(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html)
    assert match, testid
    return match.group(1).strip()


def _todos(html: str) -> dict[str, tuple[int, str, str]]:
    """key → (count, href, hint) of every to-do tile."""
    found = {}
    for match in re.finditer(
        r'<a class="todo[^"]*" href="([^"]+)" data-testid="todo-([a-z_]+)">(.*?)</a>', html, re.S
    ):
        href, key, body = match.groups()
        count = int(_testid(body, "todo-count"))
        hint = re.search(r'data-testid="todo-hint">([^<]*)<', body)
        found[key] = (count, href.replace("&amp;", "&"), hint.group(1) if hint else "")
    return found


def _list_count(client: Any, key: str, href: str) -> int:
    """How many rows the list a to-do links to shows."""
    page = client.get(href)
    assert page.status_code == 200, (href, page.text[:500])
    html = page.text
    if href.startswith("/console/orders"):
        shown = len(re.findall(r'<td><a href="/console/orders/\d+">', html))
        total = int(_testid(html, "order-total").removeprefix("共 ").removesuffix(" 条"))
        assert shown == min(total, 20), (shown, total)
        return total
    marker = {
        "aftersales": r"<tr data-request-id=",
        "coupons_reviewing": r"<tr data-coupon-id=",
        "redpackets_expiring": r"<tr data-packet=",
        "unread_notices": r'<li class="notice unread" data-testid="notice">',
    }[key]
    return len(re.findall(marker, html))


def test_U3_dashboard_figures_todos_and_links(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    build_day(rt, shop, shopper)
    console_login(client, shop.username, shop.password)
    page = client.get("/console/")
    assert page.status_code == 200
    html = page.text
    # 今日数据 for 11-04 in Shanghai: E1 (paid 11-03 23:00 UTC), C1 and C2; X never paid; A1's
    # 20.00 refund. Yesterday's A1/A2/B1 do not count.
    assert "2026-11-04" in html
    assert _testid(html, "today-sales") == "266.00"  # 59 + 30 + 177
    assert _testid(html, "today-paid-orders") == "3"
    assert _testid(html, "today-refunds") == "1"
    assert _testid(html, "today-refund-amount") == "20.00"

    todos = _todos(html)
    assert {k: v[0] for k, v in todos.items()} == {
        "awaiting_shipment": 4,  # A2 (judged late), E1, C1, C2
        "ship_soon": 1,  # C1: ship-by 16:00, within 12 h; A2 is already overdue
        "aftersales": 1,  # B1's 已发货仅退款
        "coupons_reviewing": 2,
        "redpackets_expiring": 1,  # ends in 10 h (R8: within 24 h)
        "unread_notices": todos["unread_notices"][0],
    }
    assert todos["unread_notices"][0] >= 1
    # The 48 h countdown of the nearest pending request: due 11-05 10:00, now 11-04 11:00.
    assert todos["aftersales"][2] == "最近一单剩余 23小时0分"
    assert "12小时内" in todos["ship_soon"][2]
    # Every link lands on a list showing exactly the to-do's count.
    for key, (count, href, _hint) in todos.items():
        assert _list_count(client, key, href) == count, key


def test_U3_charts_are_inline_svg_with_title_desc_and_table(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    build_day(rt, shop, shopper)
    console_login(client, shop.username, shop.password)
    html = client.get("/console/").text
    for key, title in (("sales", "近14天每日成交额"), ("late", "近14天每日发货超时率")):
        section = html[html.index(f'data-testid="chart-{key}"') :]
        section = section[: section.index("</section>")]
        svg = section[section.index("<svg") : section.index("</svg>")]
        assert (
            'role="img"' in svg and f'aria-labelledby="chart-{key}-title chart-{key}-desc"' in svg
        )
        assert f'<title id="chart-{key}-title">{title}</title>' in svg
        assert f'<desc id="chart-{key}-desc">' in svg
        assert len(re.findall(r'data-testid="chart-bar"', svg)) == 14
        rows = dict(
            re.findall(
                r'<tr data-day="([\d-]+)"><td>[\d-]+</td><td class="num">([^<]*)</td>', section
            )
        )
        assert len(rows) == 14 and min(rows) == "2026-10-22" and max(rows) == "2026-11-04"
        bars = dict(re.findall(r'data-day="([\d-]+)" data-value="([^"]+)"', svg))
        if key == "sales":
            assert {d: v for d, v in rows.items() if v != "0.00"} == {
                "2026-11-02": "177.00",
                "2026-11-03": "59.00",
                "2026-11-04": "266.00",
            }
            assert bars["2026-11-04"] == "26600" and bars["2026-10-30"] == "0"
        else:
            # Due 11-04 10:00: A1 (shipped in time) and A2 (judged late); C1 is due later
            # today and B1/C2/E1 later still.
            assert {d: v for d, v in rows.items() if v != "0.0%"} == {"2026-11-04": "50.0%"}
            assert "1 / 2" in section
    # No script anywhere on the page (CSP): the charts are drawn on the server.
    assert "<script>" not in html and "cdn" not in html.lower()


def test_U3_day_follows_the_clock_object(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    """The figures are the clock's day, not the machine's: at 23:59:59 Shanghai the order is
    today's; one second later (a new local day) today starts from zero again."""
    cup = shopper.product(shop.shop_id, price_fen=1_234)
    rt.clock.set(START.replace(hour=15, minute=59, second=59))  # 23:59:59 Shanghai
    shopper.order(shop.shop_id, cup)
    console_login(client, shop.username, shop.password)
    assert _testid(client.get("/console/").text, "today-sales") == "12.34"
    rt.clock.advance(1)
    html = client.get("/console/").text
    assert _testid(html, "today-sales") == "0.00" and _testid(html, "today-paid-orders") == "0"
    assert "2026-11-03" in html


def test_U3_ship_soon_window_is_a_setting(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    """即将超时 = ship-by within ``dashboard.ship_soon_hours`` (default 12)."""
    slow = shopper.product(shop.shop_id, ship_within_hours=20)
    shopper.order(shop.shop_id, slow)
    console_login(client, shop.username, shop.password)
    assert _todos(client.get("/console/").text)["ship_soon"][0] == 0
    rt.settings.dashboard.ship_soon_hours = 24
    todos = _todos(client.get("/console/").text)
    assert todos["ship_soon"][0] == 1 and "24小时内" in todos["ship_soon"][2]
    assert _list_count(client, "ship_soon", todos["ship_soon"][1]) == 1


def test_U3_todos_follow_grants(rt: Runtime, client: Any, shop: ShopFixture) -> None:
    """A sub-account without orders/after-sales/marketing grants sees only its notices."""
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        accounts.create_sub_account(
            ctx, principal, username="kefu01", password="sub-pass-123", display_name="客服"
        )
    console_login(client, "kefu01", "sub-pass-123")
    html = client.get("/console/").text
    assert set(_todos(html)) == {"unread_notices"}
    assert 'data-testid="dash-today"' not in html and 'data-testid="chart-sales"' not in html


def test_U3_remaining_countdown_format() -> None:
    assert remaining(48 * HOUR) == "48小时0分"
    assert remaining(HOUR + 59 * 60 + 59) == "1小时59分"
    assert remaining(-5) == "0小时0分"

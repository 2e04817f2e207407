"""O9 店铺评级: exact late-shipment rate, rating score and daily series for a known history,
at the 30-day window boundary, through the service, the open API and the console pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.orders.conftest import rating_history
from tests.web.conftest import console_login
from xiaodian.orders import service
from xiaodian.runtime import Runtime


def test_O9_rate_score_and_window_boundary_exact(
    rt: Runtime, client: Any, shop: Any, shopper: Any
) -> None:
    history = rating_history(rt, shop.shop_id, shopper)
    now = history.now
    with rt.unit() as ctx:
        at_boundary = service.rating(ctx.session, shop.shop_id, now, ctx.settings)
        one_second_later = service.rating(
            ctx.session, shop.shop_id, now + timedelta(seconds=1), ctx.settings
        )
    # B's judgment is exactly 30 days old: inside. A's is 30 days + 1 s old: outside.
    # Late: B, C, F; shipped or due in the window: B, C, E, F. Judgments: B 1, C 3, F 1.
    assert at_boundary.window_start == now - timedelta(days=30)
    assert (at_boundary.late_orders, at_boundary.base_orders) == (3, 4)
    assert at_boundary.late_rate == 0.75 and at_boundary.judgments == 5
    assert (at_boundary.judgment_points, at_boundary.rate_points) == (5, 75)
    assert at_boundary.score == 100 - 5 - 75 == 20
    # One second on, B's judgment (and its due time) leave the window: C, F of C, E, F.
    assert (one_second_later.late_orders, one_second_later.base_orders) == (2, 3)
    assert one_second_later.late_rate == 0.6667 and one_second_later.judgments == 4
    assert one_second_later.score == 100 - 4 - 67 == 29

    # The open API answers the same numbers, with the per-day series.
    body = shop.api.get("/api/v1/orders/rating").json()
    assert (body["late_orders"], body["base_orders"], body["late_rate"]) == (3, 4, 0.75)
    assert (body["judgments"], body["score"], body["score_full"]) == (5, 20, 100)
    days = {d["day"]: d for d in body["daily"]}
    assert len(days) == 31 and min(days) == "2026-11-04" and max(days) == "2026-12-04"
    counts = {day: d["judgments"] for day, d in days.items() if d["judgments"]}
    assert counts == {"2026-11-04": 2, "2026-11-05": 1, "2026-11-06": 1, "2026-11-24": 1}
    # Rolling rate per day: the window ending 11-04 still holds A (judged) and D (shipped).
    assert (days["2026-11-04"]["late_orders"], days["2026-11-04"]["base_orders"]) == (3, 4)
    # Ending 11-23: A, B, C late; D and E shipped on time.
    assert (days["2026-11-23"]["late_orders"], days["2026-11-23"]["base_orders"]) == (3, 5)
    assert days["2026-11-23"]["late_rate"] == 0.6
    # Today's point is the headline.
    assert days["2026-12-04"]["late_rate"] == 0.75

    # The console rating page shows the same function's numbers.
    console_login(client, shop.username, shop.password)
    page = client.get("/console/orders/rating").text
    assert re.search(r'data-testid="late-rate">75\.00%<', page)
    assert re.search(r'data-testid="rating-score">20<', page)
    assert page.count('data-testid="judgment-bar"') == 31
    assert page.count('data-testid="rate-point"') == 31


def test_O9_rating_of_a_shop_without_orders_is_full_score(client: Any, shop: Any) -> None:
    body = shop.api.get("/api/v1/orders/rating").json()
    assert (body["late_rate"], body["judgments"], body["score"]) == (0.0, 0, 100)
    console_login(client, shop.username, shop.password)
    page = client.get("/console/").text
    assert re.search(r'data-testid="late-rate">0\.00%<', page)
    assert re.search(r'data-testid="rating-score">100<', page)


def test_O9_X2_dashboard_rating_only_for_users_who_may_see_orders(
    rt: Runtime, client: Any, shop: Any
) -> None:
    from xiaodian.accounts import service as accounts

    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        for username, permissions in (("kefu01", ["funds.view"]), ("dingdan01", ["orders.view"])):
            accounts.create_sub_account(
                ctx,
                principal,
                username=username,
                password="sub-pass-123",
                display_name="子账号",
                permissions=permissions,
            )
    console_login(client, "kefu01", "sub-pass-123")
    page = client.get("/console/")
    assert page.status_code == 200 and 'data-testid="rating-panel"' not in page.text
    client.cookies.clear()
    console_login(client, "dingdan01", "sub-pass-123")
    page = client.get("/console/")
    assert page.status_code == 200 and 'data-testid="rating-panel"' in page.text

"""U7: simulated time in sight — every console page shows the simulated now in the header; the
main account's 快进 control advances the clock and runs the sweeps (an unpaid order
auto-closes), a sub-account sees the time but has no control and gets 403 on POST; under the
system clock there is neither the time nor the route. Real HTTP (TestClient) on the test
database."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.conftest import ShopFixture
from tests.orders.conftest import Shopper
from tests.web.conftest import console_login, csrf_from
from xiaodian.accounts import service as accounts
from xiaodian.api.app import create_app
from xiaodian.clock import SimulatedClock
from xiaodian.orders.models import Order
from xiaodian.runtime import Runtime

# 2026-11-02 10:00 in Asia/Shanghai.
SIM_START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
ADVANCE = "/console/sim/advance"


@pytest.fixture
def sim_rt(rt: Runtime) -> Runtime:
    """The same database with a persisted simulated clock set to SIM_START."""
    settings = rt.settings.model_copy(update={"clock_mode": "simulated"})
    clock = SimulatedClock(rt.engine)
    clock.set(SIM_START)
    return Runtime(
        settings=settings, engine=rt.engine, factory=rt.factory, clock=clock, wall=rt.wall
    )


@pytest.fixture
def sim_client(sim_rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(sim_rt), raise_server_exceptions=False) as client:
        yield client


def _sub_account(rt: Runtime, shop: ShopFixture) -> str:
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        accounts.create_sub_account(
            ctx,
            principal,
            username="sub_u7",
            password="sub-pass-123",
            display_name="客服小王",
            permissions=["funds.view"],
        )
    return "sub_u7"


def test_U7_every_console_page_shows_the_simulated_now_and_main_gets_the_control(
    sim_client: TestClient, shop: ShopFixture
) -> None:
    login = sim_client.get("/console/login")
    assert '模拟时间 <time data-testid="sim-now">2026-11-02 10:00</time>' in login.text
    assert ADVANCE not in login.text  # nobody logged in: no control
    console_login(sim_client, shop.username, shop.password)
    for path in ("/console/", "/console/notices", "/console/funds/balance", "/console/orders"):
        page = sim_client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert "模拟时间" in page.text and "2026-11-02 10:00" in page.text, path
        assert f'action="{ADVANCE}"' in page.text, path
        assert 'value="1h"' in page.text and 'value="1d"' in page.text
        assert "<script>" not in page.text  # CSP: plain forms, no inline script


def test_U7_system_clock_has_no_simulated_time_and_no_advance_route(
    client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = client.get("/console/")
    assert page.status_code == 200
    assert "模拟时间" not in page.text and ADVANCE not in page.text
    answer = client.post(ADVANCE, data={"csrf_token": csrf_from(page.text), "duration": "1h"})
    assert answer.status_code == 404


def test_U7_main_account_advances_one_hour_and_the_sweeps_run(
    sim_rt: Runtime, sim_client: TestClient, shop: ShopFixture
) -> None:
    shopper = Shopper(sim_rt, itertools.count(1))
    order_id = shopper.order(shop.shop_id, shopper.product(shop.shop_id), pay=False)
    with sim_rt.unit() as ctx:  # due half an hour from the simulated now
        ctx.session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(auto_close_at=SIM_START + timedelta(minutes=30))
        )
    console_login(sim_client, shop.username, shop.password)
    token = csrf_from(sim_client.get("/console/notices").text)
    answer = sim_client.post(
        ADVANCE,
        data={"csrf_token": token, "duration": "1h"},
        headers={"referer": "http://testserver/console/notices?show=unread"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console/notices?show=unread"
    assert sim_rt.clock.now() == SIM_START + timedelta(hours=1)
    with sim_rt.unit() as ctx:
        order = ctx.session.get(Order, order_id)
        assert order is not None
        assert (order.status, order.close_reason) == ("closed", "auto_closed")
        assert order.closed_at == SIM_START + timedelta(minutes=30)  # at its deadline
    page = sim_client.get("/console/notices?show=unread").text
    assert "已快进 1 小时：2026-11-02 10:00 → 2026-11-02 11:00" in page
    assert "orders.auto_close closed=1" in page
    assert '<time data-testid="sim-now">2026-11-02 11:00</time>' in page

    # A custom duration, then a bad one: a clear 422, the clock does not move.
    token = csrf_from(page)
    custom = sim_client.post(ADVANCE, data={"csrf_token": token, "duration": "1d"})
    assert custom.status_code == 200 and "已快进 1 天" in custom.text
    assert "2026-11-03 11:00" in custom.text
    for bad in ("soon", "0", "-1h", "401d", ""):
        refused = sim_client.post(ADVANCE, data={"csrf_token": token, "duration": bad})
        assert refused.status_code == 422, (bad, refused.text[:300])
        assert "快进时长无效" in refused.text
    # Without the CSRF token: refused, nothing moves.
    forged = sim_client.post(ADVANCE, data={"duration": "1d"})
    assert forged.status_code == 403
    assert sim_rt.clock.now() == SIM_START + timedelta(days=1, hours=1)


def test_U7_sub_account_sees_the_time_but_has_no_control_and_gets_403(
    sim_rt: Runtime, sim_client: TestClient, shop: ShopFixture
) -> None:
    username = _sub_account(sim_rt, shop)
    console_login(sim_client, username, "sub-pass-123")
    page = sim_client.get("/console/funds/balance")
    assert page.status_code == 200
    assert "模拟时间" in page.text and "2026-11-02 10:00" in page.text
    assert ADVANCE not in page.text and "快进" not in page.text
    answer = sim_client.post(ADVANCE, data={"csrf_token": csrf_from(page.text), "duration": "1d"})
    assert answer.status_code == 403
    assert sim_rt.clock.now() == SIM_START

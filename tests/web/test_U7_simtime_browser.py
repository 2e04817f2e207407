"""U7 in real Chromium: the header shows the simulated now; the main account clicks 快进 1 小时
and sees the header time move and the flash summary (plain forms: no script, CSP intact)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.browser import login
from tests.conftest import ShopFixture
from xiaodian.clock import SimulatedClock
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


@pytest.fixture
def rt(rt: Runtime) -> Runtime:
    """The test database on a persisted simulated clock at 2026-11-02 10:00 (Asia/Shanghai):
    the live server, the shop and the test share it."""
    clock = SimulatedClock(rt.engine)
    clock.set(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    settings = rt.settings.model_copy(update={"clock_mode": "simulated"})
    return Runtime(
        settings=settings, engine=rt.engine, factory=rt.factory, clock=clock, wall=rt.wall
    )


def test_U7_main_account_clicks_advance_one_hour_and_the_header_time_moves(
    browser_page: Any, live_server: str, rt: Runtime, shop: ShopFixture
) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    login(page, live_server, shop.username, shop.password)
    page.goto(f"{live_server}/console/funds/balance")
    assert page.inner_text("[data-testid=sim-now]") == "2026-11-02 10:00"
    with page.expect_navigation():
        page.click("[data-testid=sim-advance-1h]")
    assert page.url == f"{live_server}/console/funds/balance"  # back where the click was
    assert page.inner_text("[data-testid=sim-now]") == "2026-11-02 11:00"
    assert "已快进 1 小时" in page.inner_text(".flash")
    # A custom duration through the text field.
    page.fill("[data-testid=sim-duration]", "1d")
    with page.expect_navigation():
        page.click("[data-testid=sim-advance-custom]")
    assert page.inner_text("[data-testid=sim-now]") == "2026-11-03 11:00"
    assert rt.clock.now() == datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
    assert not [e for e in errors if "Content Security Policy" in e]

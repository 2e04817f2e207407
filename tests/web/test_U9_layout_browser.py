"""U9 (issue 13): every console section at 1400 px and at a phone's 390 px, in Chromium.

One demo shop, one live server, one browser context and one login for the whole module (the
CI time budget is tight); each case only resizes the viewport and opens its page. At 390 px
the page body never scrolls sideways and no element is wider than the viewport unless it sits
inside a scrollable table wrapper; the menu folds behind ☰. Screenshots are kept in
``$XIAODIAN_ARTIFACTS_DIR/screenshots`` (else the module's temporary directory), named
``U9-<section>-<width>.png``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from rich.console import Console as RichConsole
from sqlalchemy.engine import Engine

from tests.browser import _free_port, login
from tests.conftest import START, _empty_all_tables
from xiaodian.api.app import create_app
from xiaodian.clock import ManualClock
from xiaodian.config import Settings
from xiaodian.db import make_sessionmaker
from xiaodian.demo import DEMO_PASSWORD, DEMO_USER, ensure_demo
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser

SECTIONS = {
    "home": "/console/",
    "orders": "/console/orders",
    "violations": "/console/orders/violations",
    "exports": "/console/orders/exports",
    "rating": "/console/orders/rating",
    "aftersales": "/console/aftersales",
    "assistant": "/console/aftersales/assistant",
    "redpackets": "/console/redpackets",
    "redpackets-issue": "/console/redpackets/issue",
    "coupons": "/console/coupons",
    "coupon-review": "/console/coupons/review",
    "campaigns": "/console/coupons/campaigns",
    "verify": "/console/coupons/verify",
    "live": "/console/live",
    "luckybags": "/console/luckybags",
    "service": "/console/service",
    "balance": "/console/funds/balance",
    "deposit": "/console/funds/deposit",
    "notices": "/console/notices",
    "users": "/console/settings/users",
    "apps": "/console/settings/apps",
    "doudian-codes": "/console/settings/doudian-codes",
    "webhooks": "/console/settings/webhooks",
    "stores": "/console/settings/stores",
    "password": "/console/settings/password",
    "ship-batch": "/console/orders/ship_batch",
}
WIDTHS = (1400, 390)

# Elements wider than the viewport, or reaching past its right edge, that no scrollable
# ancestor (overflow-x auto/scroll: the table wrappers) contains.
OVERFLOW_PROBE = """() => {
  const width = window.innerWidth;
  const scrolls = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  const bad = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > width + 1 || r.width > width + 1) && !scrolls(el)) {
      const name = el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
        ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
      bad.push(name + ' ' + Math.round(r.width) + 'px→' + Math.round(r.right));
    }
  }
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: width, bad: bad.slice(0, 8)
  };
}"""

HEADER_PROBE = """() => Array.from(document.querySelectorAll('.table th')).filter(th => {
  const text = th.innerText.trim();
  if (!text) return false;
  const line = parseFloat(getComputedStyle(th).lineHeight) || 20;
  const range = document.createRange();
  range.selectNodeContents(th);
  const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
  return lines.size > 1 && !/\\s/.test(text);
}).map(th => th.innerText.trim())"""


@pytest.fixture(scope="module")
def site(engine: Engine, db_url: str) -> Iterator[str]:
    """The demo shop served on a real port for the whole module."""
    _empty_all_tables(engine)
    rt = Runtime(
        settings=Settings(database_url=db_url, clock_mode="system", secret_key="test-secret-key"),
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=ManualClock(START),
        wall=ManualClock(datetime.now(UTC).replace(microsecond=0)),
    )
    ensure_demo(rt, RichConsole(quiet=True))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="u9-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    _empty_all_tables(engine)


@pytest.fixture(scope="module")
def console_page(browser: Any, site: str) -> Iterator[Any]:
    """One browser context, logged in once as the demo's main account."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    login(page, site, DEMO_USER, DEMO_PASSWORD)
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("XIAODIAN_ARTIFACTS_DIR")
    out = (Path(root) if root else tmp_path_factory.mktemp("u9")) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("section", list(SECTIONS))
def test_U9_layout(console_page: Any, site: str, shots: Path, section: str, width: int) -> None:
    page = console_page
    page.set_viewport_size({"width": width, "height": 900})
    response = page.goto(site + SECTIONS[section])
    assert response is not None and response.status == 200, section
    assert "/console/login" not in page.url
    page.screenshot(path=str(shots / f"U9-{section}-{width}.png"), full_page=True)

    probe = page.evaluate(OVERFLOW_PROBE)
    assert probe["scrollWidth"] <= probe["innerWidth"], probe
    assert not probe["bad"], probe
    assert not page.evaluate(HEADER_PROBE), "table headers broken mid-word"

    nav = page.locator("nav.sidenav")
    toggle = page.locator("[data-testid=nav-toggle]")
    if width < 768:
        # The menu folds behind ☰ and opens without a page script.
        assert not nav.is_visible() and toggle.is_visible()
        toggle.click()
        assert nav.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        toggle.click()
        assert not nav.is_visible()
    else:
        assert nav.is_visible() and not toggle.is_visible()


def test_U9_controls_are_styled(console_page: Any, site: str) -> None:
    """Selects and date inputs carry the console's own border and radius, not the browser's."""
    page = console_page
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(site + "/console/orders")
    for selector in ("select", "input[type=datetime-local]"):
        style = page.eval_on_selector(
            selector,
            "el => { const s = getComputedStyle(el);"
            " return [s.borderTopColor, s.borderTopLeftRadius, s.appearance]; }",
        )
        assert style[0] == "rgb(220, 223, 230)" and style[1] == "4px", (selector, style)
    assert page.eval_on_selector("select", "el => getComputedStyle(el).appearance") == "none"

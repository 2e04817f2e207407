"""Browser test harness (a pytest plugin, loaded by ``tests/conftest.py``): the real app on a
real port, driven by headless Chromium.

* ``live_server`` — uvicorn serving ``create_app(rt)`` in a background thread on 127.0.0.1
  and a free port (the same ``rt``, so the same database, as the test); yields the base URL.
* ``browser_page`` — a fresh Playwright page (own cookies) in Debian's /usr/bin/chromium.
  Skipped when Chromium is missing, unless XIAODIAN_REQUIRE_BROWSER=1 (then it fails).
* ``login(page, base_url, username, password)`` — log in through the real form.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from xiaodian.api.app import create_app
from xiaodian.runtime import Runtime

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(rt: Runtime) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(rt), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _require_browser() -> bool:
    return os.environ.get("XIAODIAN_REQUIRE_BROWSER") == "1"


# One Playwright driver and one Chromium per test process. Modules that import the
# ``browser`` fixture register their own copy of it; a second sync_playwright() in the same
# thread would fail ("Sync API inside the asyncio loop"), so every copy shares this one.
_SHARED: dict[str, Any] = {}


def _shared_browser(config: pytest.Config) -> Any:
    if "browser" not in _SHARED:
        from playwright.sync_api import sync_playwright

        driver = sync_playwright().start()
        _SHARED["driver"] = driver
        _SHARED["browser"] = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )

        def stop() -> None:
            _SHARED.pop("browser").close()
            _SHARED.pop("driver").stop()

        config.add_cleanup(stop)
    return _SHARED["browser"]


@pytest.fixture(scope="session")
def browser(pytestconfig: pytest.Config) -> Any:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium to run browser tests"
        if _require_browser():
            pytest.fail(message + " (XIAODIAN_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return _shared_browser(pytestconfig)


@pytest.fixture
def browser_page(browser: Any) -> Iterator[Any]:
    """A page in its own browser context: cookies never leak between tests."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 860})
    page = context.new_page()
    page.set_default_timeout(30_000)
    # Page loads wait longer: CI runs both databases' suites at once on two cores, and a
    # console page behind argon2 or a demo seed took more than 10 s there.
    page.set_default_navigation_timeout(30_000)
    yield page
    context.close()


def login(page: Any, base_url: str, username: str, password: str) -> None:
    """Log in through the console's login form and wait for the next page (up to 30 s: the
    password check is argon2 behind the S4 hashing gate, slow on a busy CI machine)."""
    page.goto(f"{base_url}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation(timeout=30_000):
        page.click("button[type=submit]")

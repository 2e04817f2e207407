"""S9 response headers (issue 11): Content-Security-Policy without inline script,
X-Frame-Options, Cache-Control: no-store on console pages, Allow on 405s."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.browser import browser, browser_page, live_server, login  # noqa: F401
from tests.web.conftest import console_login
from xiaodian.api.headers import CONTENT_SECURITY_POLICY
from xiaodian.runtime import Runtime

TEMPLATES = Path(__file__).parents[2] / "src" / "xiaodian" / "web" / "templates"


def test_S9_console_pages_carry_csp_frame_and_no_store(client: TestClient, shop: Any) -> None:
    console_login(client, shop.username, shop.password)
    for path in ("/console/", "/console/funds/balance", "/console/settings/apps", "/console/login"):
        page = client.get(path)
        assert page.status_code == 200, path
        csp = page.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store", path
        assert page.headers["x-content-type-options"] == "nosniff"
    static = client.get("/console/static/console.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


def test_S9_api_and_buyer_answers_carry_the_headers_too(client: TestClient) -> None:
    answer = client.post("/buyer/v1/register", json={"douyin_id": "dy_s9", "nickname": "九"})
    assert answer.status_code == 201
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = client.get("/buyer/luckybags/wins/unknown")
    assert page.status_code == 404 and page.headers["cache-control"] == "no-store"


def test_S9_no_inline_script_in_any_template() -> None:
    """The policy forbids inline script; no template may rely on one."""
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\son[a-z]+\s*=", text):
            offenders.append(template.name)
        assert "javascript:" not in text, template.name
    assert offenders == []


def test_S9_405_names_every_allowed_method(client: TestClient, shop: Any) -> None:
    answer = client.delete("/api/v1/redpackets")
    assert answer.status_code == 405
    assert answer.json()["code"] == "http_405"
    assert set(answer.headers["allow"].split(", ")) >= {"GET", "POST"}
    register = client.get("/buyer/v1/register")
    assert register.status_code == 405 and register.headers["allow"] == "POST"
    console_login(client, shop.username, shop.password)
    page = client.put("/console/settings/apps")
    assert page.status_code == 405 and "不支持该请求方法" in page.text
    assert set(page.headers["allow"].split(", ")) >= {"GET", "POST"}


def test_S9_console_in_chromium_runs_without_csp_violations(
    rt: Runtime,
    shop: Any,
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
) -> None:
    """Real Chromium enforces the policy: no page reports a violation, and the behaviours that
    used to be inline (the 停用 confirmation) still work from console.js."""
    page = browser_page
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    login(page, live_server, shop.username, shop.password)
    for path in ("/console/", "/console/orders/exports", "/console/funds/balance"):
        page.goto(f"{live_server}{path}")
    page.goto(f"{live_server}/console/settings/apps")
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.locator("form[data-confirm] button").first.click()
    page.wait_for_timeout(300)
    assert dialogs and "确定停用" in dialogs[0]
    assert page.url.endswith("/console/settings/apps")
    assert violations == []


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_S9_fastapi_docs_stay_usable(client: TestClient, path: str) -> None:
    """K3: Swagger UI and ReDoc come from this server with our own start-up scripts, so the
    docs pages carry the policy too (plus ``worker-src blob:`` for ReDoc's search);
    tests/api/test_openapi_k3.py renders them in Chromium under it."""
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith(CONTENT_SECURITY_POLICY)
    assert page.headers["x-frame-options"] == "DENY"

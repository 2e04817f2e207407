"""The first README command: `xiaodian demo` creates the demo shop on the embedded SQLite,
serves console + API, and prints the console URL and the logins — checked against a real
process over real HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from xiaodian.signing import signed_headers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = _free_port()
    env = {
        **os.environ,
        "XIAODIAN_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "XIAODIAN_ORDERS__EXPORT_DIR": str(tmp_path / "exports"),
        "COLUMNS": "250",
    }
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "xiaodian.cli", "demo", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"xiaodian demo exited early:\n{log.read_text()}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"xiaodian demo did not start:\n{log.read_text()}")
        yield base, log.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_X2_demo_command_serves_console_and_signed_api(demo_server: tuple[str, str]) -> None:
    base, output = demo_server
    assert f"{base}/console/" in output
    assert "demo / demo12345" in output
    app_key = re.search(r"app_key=(ak_\w+)", output)
    secret = re.search(r"secret=(\S+)", output)
    assert app_key and secret, output

    path = "/api/v1/funds"
    headers = signed_headers(app_key.group(1), secret.group(1), "GET", path)
    funds = httpx.get(base + path, headers=headers).json()
    # 2,000 yuan deposited; the demo's overdue orders may already have been penalised (O8).
    assert 0 < funds["deposit_fen"] <= 200_000 and funds["balance_fen"] >= 0
    assert sum(funds["accounts"].values()) == 0

    with httpx.Client(base_url=base, follow_redirects=True) as browser:
        login_page = browser.get("/console/login")
        assert login_page.status_code == 200 and "登录" in login_page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text)
        assert token, "login form carries a CSRF token"
        home = browser.post(
            "/console/login",
            data={"username": "demo", "password": "demo12345", "csrf_token": token.group(1)},
        )
        assert home.status_code == 200 and "抖音好物小店" in home.text

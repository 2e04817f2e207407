"""Issue 16, multi-process serving: ``xiaodian serve --workers N`` answers from N processes
while the scheduler (sweeps and jobs) runs in one place only — the supervising process — so
every sweep runs once per tick whatever N is. A real ``xiaodian serve`` in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from xiaodian.runtime import Runtime


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> set[int]:
    """The HTTP worker processes uvicorn's supervisor ``pid`` spawned (not multiprocessing's
    resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in command:
                found.add(int(entry.name))
    return found


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _sessions(rt: Runtime) -> dict[int, set[str]]:
    """PostgreSQL sessions of our processes on this database: pid → thread names."""
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name LIKE 'xiaodian %'"
            )
        ).all()
    found: dict[int, set[str]] = {}
    for (name,) in rows:
        _, pid, thread = name.split(" ", 2)
        found.setdefault(int(pid), set()).add(thread)
    return found


@pytest.mark.parametrize("workers", [2])
def test_16_serve_workers_answers_from_n_processes_and_sweeps_run_in_one(
    rt: Runtime, workers: int
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAODIAN_")}
    env.update(
        XIAODIAN_DATABASE_URL=rt.settings.database_url,
        XIAODIAN_SECRET_KEY="serve-workers-test",
        XIAODIAN_TICK_SECONDS="0.5",
    )
    # An expired nonce: the scheduler's nonce purge (a job run after each tick) removes it.
    expired = rt.wall.now() - timedelta(hours=1)
    with rt.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO api_nonces (app_key, nonce, expires_at) VALUES (:k, :n, :e)"),
            {"k": "gone", "n": "expired-nonce-16", "e": expired},
        )
    command = [sys.executable, "-m", "xiaodian.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert server.poll() is None, "serve exited"
                return False

        _wait(up, 90, "serve --workers up")
        _wait(lambda: len(_children(server.pid)) >= workers, 30, "the worker processes")

        def fresh_connection(_: int) -> int:
            # A new TCP connection per request: the kernel hands each to whichever process
            # accepts first, so every worker gets some.
            return httpx.get(f"{base}/healthz", timeout=30).status_code

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(fresh_connection, range(100))) == {200}

        with rt.engine.connect() as conn:
            _wait(
                lambda: (
                    not conn.execute(
                        text("SELECT 1 FROM api_nonces WHERE nonce = 'expired-nonce-16'")
                    ).first()
                ),
                30,
                "the scheduler's nonce purge",
            )
            conn.rollback()
        children = _children(server.pid)
        assert len(children) == workers
        if rt.engine.dialect.name == "postgresql":
            sessions = _sessions(rt)
            answering = {pid for pid in sessions if pid in children}
            assert len(answering) == workers, sessions  # every worker served from its pool
            scheduler = {pid for pid, threads in sessions.items() if "xiaodian-worker" in threads}
            assert scheduler == {server.pid}, sessions  # the sweeps: one process only
            assert not any("xiaodian-worker" in sessions[pid] for pid in children)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

"""U7 from the command line (real subprocesses): ``xiaodian demo --simulated --no-serve`` seeds
the demo on a simulated clock and says so; ``tick --advance`` refuses to move a simulated
clock that the running system-clock server would ignore (one bilingual line, exit 2, K6), and
advances when the running server is on the simulated clock too."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from tests.test_cli_entry import _env, _free_port, assert_one_bilingual_line, xiaodian
from xiaodian.api.app import create_app
from xiaodian.clock import SimulatedClock
from xiaodian.runtime import Runtime

SIM_START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@contextmanager
def _server(rt: Runtime) -> Iterator[int]:
    """The real app on a real port (like tests/browser.py's live_server), for the CLI to find."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_U7_demo_simulated_no_serve_seeds_on_a_simulated_clock(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    env = _env(f"sqlite:///{database}", COLUMNS="250")
    done = xiaodian("demo", "--simulated", "--no-serve", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "模拟时间 sim" in done.stdout and "tick --advance" in done.stdout
    with sqlite3.connect(database) as conn:  # the clock is the persisted simulated one
        assert conn.execute("SELECT count(*) FROM sim_clock").fetchone() == (1,)
    # Then the simulated clock moves with tick --advance (no server running).
    moved = xiaodian("tick", "--advance", "1d", env={**env, "XIAODIAN_CLOCK_MODE": "simulated"})
    assert moved.returncode == 0, moved.stderr + moved.stdout

    plain = tmp_path / "plain.db"
    done = xiaodian("demo", "--no-serve", env=_env(f"sqlite:///{plain}", COLUMNS="250"))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "模拟时间" not in done.stdout
    with sqlite3.connect(plain) as conn:
        assert conn.execute("SELECT count(*) FROM sim_clock").fetchone() == (0,)


def test_U7_cli_refuses_to_advance_a_clock_the_running_system_server_ignores(
    rt: Runtime, db_url: str
) -> None:
    SimulatedClock(rt.engine).set(SIM_START)
    assert not rt.simulated  # the test runtime: a server on the system (non-simulated) clock
    with _server(rt) as port:
        env = _env(db_url, XIAODIAN_CLOCK_MODE="simulated", XIAODIAN_PORT=str(port))
        for args in (("tick", "--advance", "1h"), ("simulate", "--days", "1")):
            done = xiaodian(*args, env=env)
            assert done.returncode == 2
            assert_one_bilingual_line(
                done, f"127.0.0.1:{port}", "系统时钟", "uses the system clock", "simulated"
            )
    assert SimulatedClock(rt.engine).now() == SIM_START  # not moved

    # A server on the simulated clock sees the move: then the CLI advances.
    settings = rt.settings.model_copy(update={"clock_mode": "simulated"})
    sim_rt = Runtime(
        settings=settings,
        engine=rt.engine,
        factory=rt.factory,
        clock=SimulatedClock(rt.engine),
        wall=rt.wall,
    )
    with _server(sim_rt) as port:
        env = _env(db_url, XIAODIAN_CLOCK_MODE="simulated", XIAODIAN_PORT=str(port))
        done = xiaodian("tick", "--advance", "1h", env=env)
        assert done.returncode == 0, done.stderr + done.stdout
    assert SimulatedClock(rt.engine).now() == SIM_START.replace(hour=3)

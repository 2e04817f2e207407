"""The ``xiaodian`` command line as a user meets it (issue 14), always as a real process:

* K5 — it starts fast because it imports only what a command runs: ``--version``/``-V``/``-h``
  work, and importing the CLI, ``--help``, ``config``, ``call`` and ``tick`` leave FastAPI,
  Alembic, the HTTP client and (for all but ``tick``) SQLAlchemy unimported; ``--help``,
  ``--version``, ``config`` and ``call`` also pydantic, pydantic-settings, Rich's Markdown and
  traceback renderers and ``importlib.metadata``. Timing itself is measured by
  ``bench/cli_startup.py`` (docs/benchmarks.md), never asserted here.
* K6 — bad settings, bad arguments, an unreachable server, a path without a leading slash, an
  unwritable output file and an unknown shop are each answered with one bilingual line on
  stderr and a non-zero exit, never a traceback.
* K7 — readable output: ``config`` in 80 columns, ``tick --advance`` and ``worker --once``
  tables in Asia/Shanghai time, ``demo --no-serve`` prints no URL, a taken port fails before
  the banner, ``call`` goes where ``XIAODIAN_PORT`` says.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ShopFixture
from xiaodian import config_light
from xiaodian.clock import SimulatedClock, to_local
from xiaodian.config import Settings, describe
from xiaodian.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _env(db_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("XIAODIAN_") or key == "XIAODIAN_TEST_DATABASE_URL"
    }
    env.update(
        {
            "XIAODIAN_DATABASE_URL": db_url,
            "PYTHONPATH": str(ROOT / "src"),
            "COLUMNS": "80",
            "XIAODIAN_APP_KEY": "ak_none",
            "XIAODIAN_APP_SECRET": "none",
        }
    )
    env.update(extra)
    return env


def xiaodian(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xiaodian.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_bilingual_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """K6: a non-zero exit, no traceback, and exactly one line on stderr holding Chinese and
    English (and each needle)."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("✗ ") and CHINESE.search(line) and re.search(r"[a-z]{3,} ", line)
    for needle in needles:
        assert needle in line, line
    return line


# ----- K5 ------------------------------------------------------------------------------------


def test_K5_version_short_help_and_help_of_a_lazy_group(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.db'}")
    for flag in ("--version", "-V"):
        done = xiaodian(flag, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"xiaodian {version('xiaodian')}"
    short = xiaodian("-h", env=env)
    assert short.returncode == 0 and "Usage: xiaodian" in short.stdout
    for command in ("config", "tick", "call", "orders", "seed"):
        assert re.search(rf"│ {command}\s", short.stdout), command
    nested = xiaodian("orders", "export", "-h", env=env)  # -h reaches the lazily mounted group
    assert nested.returncode == 0 and "--output" in nested.stdout, nested.stderr
    assert not (tmp_path / "x.db").exists()  # help and version never touch the database


LOADED = """
import json, sys
from xiaodian.cli import app
imported = set(sys.modules)
try:
    app(sys.argv[1:], prog_name="xiaodian")
except SystemExit:
    pass
heavy = ("fastapi", "starlette", "uvicorn", "alembic", "httpx", "sqlalchemy", "pydantic_settings",
         "PIL", "zxingcpp", "xiaodian.models", "xiaodian.orders.models", "xiaodian.orders.cli",
         "xiaodian.api", "xiaodian.web", "pydantic", "markdown_it", "pygments", "rich.markdown",
         "rich.traceback", "importlib.metadata", "xiaodian.config")
print(json.dumps({"import": sorted(h for h in heavy if h in imported),
                  "run": sorted(h for h in heavy if h in sys.modules)}))
"""


def _loaded(args: list[str], env: dict[str, str]) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_K5_importing_the_cli_and_fast_commands_leave_heavy_parts_unimported(
    rt: Runtime,
) -> None:
    """K5 third pass: ``--help``/``-h``/``--version`` and ``config`` import neither pydantic
    (Typer's adapters, pydantic-settings) nor the Markdown and traceback renderers of Rich
    (markdown-it, Pygments) nor ``importlib.metadata``; ``call`` neither pydantic nor httpx."""
    config_light.store()  # what the first `config` (or `call`) after a change of config.py does
    env = _env(rt.settings.database_url, XIAODIAN_PORT=str(_free_port()))
    for args in (["--help"], ["-h"], ["--version"], ["config"], ["config", "--markdown"]):
        assert _loaded(args, env) == {"import": [], "run": []}, args  # help lists `orders` too
    set_env = {**env, "XIAODIAN_ORDERS__SHIP_WITHIN_HOURS": "72", "xiaodian_tick_seconds": "2"}
    assert _loaded(["config"], set_env) == {"import": [], "run": []}
    call = _loaded(["call", "GET", "/api/v1/shop"], env)  # refused port: one line, exit 2
    assert call == {"import": [], "run": []}
    tick = _loaded(["tick"], env)  # the schema is current: Alembic is not loaded
    assert not {"fastapi", "starlette", "uvicorn", "alembic", "httpx"} & set(tick["run"])
    assert "xiaodian.orders.models" in tick["run"]  # it did run the sweeps


def test_K5_config_and_call_fall_back_to_settings_for_what_the_light_reader_cannot_vouch_for(
    tmp_path: Path,
) -> None:
    """A value only pydantic can judge — a bad choice, a pair a validator checks — goes to
    ``Settings``: the same one-line refusal as before (K6), pydantic-settings loaded for it."""
    config_light.store()
    env = _env(f"sqlite:///{tmp_path / 'x.db'}", XIAODIAN_CLOCK_MODE="bogus")
    loaded = set(_loaded(["config"], env)["run"])
    assert {"pydantic", "pydantic_settings", "xiaodian.config"} <= loaded
    line = assert_one_bilingual_line(xiaodian("config", env=env), "XIAODIAN_CLOCK_MODE")
    assert "bogus" in line
    backoff = _env(
        f"sqlite:///{tmp_path / 'x.db'}",
        XIAODIAN_WORKER__MIN_BACKOFF_SECONDS="50",
        XIAODIAN_WORKER__MAX_BACKOFF_SECONDS="40",
    )
    assert_one_bilingual_line(xiaodian("config", env=backoff), "max_backoff_seconds")
    assert_one_bilingual_line(xiaodian("call", "GET", "/x", env=backoff), "max_backoff_seconds")


def test_K5_version_is_read_where_importlib_metadata_finds_it() -> None:
    from xiaodian.cli import _metadata_version

    assert _metadata_version() == version("xiaodian")


def test_K5_a_current_schema_skips_alembic_and_an_old_one_is_migrated(tmp_path: Path) -> None:
    from sqlalchemy import text

    from xiaodian.db import make_engine
    from xiaodian.runtime import schema_is_current, script_heads, upgrade

    heads = script_heads()
    assert heads and all(isinstance(head, str) for head in heads)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert not schema_is_current(engine)  # no version table yet
    upgrade(engine)
    assert schema_is_current(engine)
    with engine.begin() as conn:  # one branch one step behind its head
        stored = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
        assert stored == heads
        conn.execute(text("DELETE FROM alembic_version WHERE version_num = 'coupons_0002'"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('coupons_0001')"))
    assert not schema_is_current(engine)
    engine.dispose()


# ----- K6 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["config"], ["tick"], ["call", "GET", "/api/v1/shop"], ["worker", "--once"]],
    ids=lambda args: args[0],
)
def test_K6_bad_setting_is_one_line_naming_the_variable(tmp_path: Path, args: list[str]) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.db'}", XIAODIAN_CLOCK_MODE="bogus")
    line = assert_one_bilingual_line(xiaodian(*args, env=env), "XIAODIAN_CLOCK_MODE", "bogus")
    assert "system" in line and "simulated" in line


def test_K6_bad_arguments_and_bad_database_url(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.db'}")
    assert_one_bilingual_line(xiaodian("simulate", "--days", "x", env=env), "--days")
    assert_one_bilingual_line(xiaodian("tick", "--advance", "soon", env=env), "soon")
    assert_one_bilingual_line(xiaodian("no-such-command", env=env), "no-such-command")
    assert_one_bilingual_line(xiaodian("serve", "--port", "70000", env=env), "--port")
    bad_db = _env("nosuchdb://x", XIAODIAN_PORT="8000")
    assert_one_bilingual_line(xiaodian("tick", env=bad_db), "XIAODIAN_DATABASE_URL")
    assert_one_bilingual_line(
        xiaodian("tick", env=_env(f"sqlite:///{tmp_path / 'x.db'}", XIAODIAN_TIMEZONE="Mars/X")),
        "XIAODIAN_TIMEZONE",
    )


def test_K6_call_unreachable_server_bad_path_and_body(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    env = _env(f"sqlite:///{tmp_path / 'x.db'}", XIAODIAN_PORT=str(port))
    line = assert_one_bilingual_line(xiaodian("call", "GET", "/api/v1/funds", env=env))
    assert f"127.0.0.1:{port}" in line and "xiaodian serve" in line
    assert_one_bilingual_line(xiaodian("call", "GET", "api/v1/funds", env=env), "/api/v1/funds")
    assert_one_bilingual_line(
        xiaodian("call", "POST", "/api/v1/funds", "--body", "{oops", env=env), "--body"
    )
    assert_one_bilingual_line(
        xiaodian("call", "GET", "/x", "--base-url", "localhost:8000", env=env), "--base-url"
    )


def test_K6_orders_commands_refuse_unknown_shops_and_unwritable_files(
    rt: Runtime, shop: ShopFixture, tmp_path: Path
) -> None:
    env = _env(rt.settings.database_url)
    missing = "/nonexistent/x.csv"
    assert_one_bilingual_line(
        xiaodian("orders", "export", "-o", missing, "--shop-id", str(shop.shop_id), env=env),
        "/nonexistent",
    )
    assert_one_bilingual_line(
        xiaodian("orders", "export", "-o", str(tmp_path), env=env), "directory"
    )
    for args in (["reviews"], ["export", "-o", str(tmp_path / "x.csv")]):
        done = xiaodian("orders", *args, "--shop-id", "999", env=env)
        assert_one_bilingual_line(done, "店铺 999 不存在", "shop 999 does not exist")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.csv.part").exists()
    assert_one_bilingual_line(xiaodian("orders", "fault", "paypal", env=env), "paypal")
    assert_one_bilingual_line(xiaodian("orders", "decide", "999", "suspend", env=env), "999")
    ok = xiaodian("orders", "reviews", "--shop-id", str(shop.shop_id), env=_env(
        rt.settings.database_url, COLUMNS="200"))  # fmt: skip
    assert ok.returncode == 0, ok.stderr


# ----- K7 ------------------------------------------------------------------------------------


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def test_K7_config_reads_in_80_columns(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'x.db'}", XIAODIAN_ORDERS__SHIP_WITHIN_HOURS="72")
    done = xiaodian("config", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = describe(Settings(database_url="x"))
    for variable, _value, _meaning in rows:  # every name whole, at the start of its line
        assert any(line.startswith(f"{variable} = ") for line in lines), variable
    assert "XIAODIAN_ORDERS__SHIP_WITHIN_HOURS = 72  * (default 48)" in lines
    described = [line for line in lines if line.startswith("    ")]
    assert described and all(_width(line) <= 80 for line in described)
    long_names = [v for v, _, _ in rows if len(v) > 40]
    assert long_names and all(_width(f"{v} = 1000000") <= 80 for v in long_names)


def test_K7_tick_advance_prints_a_table_in_local_time(rt: Runtime) -> None:
    env = _env(rt.settings.database_url, XIAODIAN_CLOCK_MODE="simulated", COLUMNS="120")
    clock = SimulatedClock(rt.engine)
    before = clock.now()
    done = xiaodian("tick", "--advance", "6h", env=env)
    assert done.returncode == 0, done.stderr
    after = clock.now()
    assert (after - before).total_seconds() == 6 * 3600
    fmt = "%Y-%m-%d %H:%M"
    expected = (
        f"{to_local(before, 'Asia/Shanghai'):{fmt}} → {to_local(after, 'Asia/Shanghai'):{fmt}}"
    )
    assert "(Asia/Shanghai)" in done.stdout and "what the rules did" in done.stdout
    assert expected in done.stdout, done.stdout
    assert "+00:00" not in done.stdout  # no UTC ISO stamps


def test_K7_worker_once_prints_what_it_did(rt: Runtime) -> None:
    done = xiaodian("worker", "--once", env=_env(rt.settings.database_url, COLUMNS="120"))
    assert done.returncode == 0, done.stderr
    assert "one tick at" in done.stdout and "(Asia/Shanghai)" in done.stdout
    for name in ("orders.judge_late", "redpackets.expire", "webhooks.deliver"):
        assert name in done.stdout


def test_K7_demo_no_serve_prints_no_url(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'demo.db'}")  # 80 columns
    env["XIAODIAN_ORDERS__EXPORT_DIR"] = str(tmp_path / "exports")
    done = xiaodian("demo", "--no-serve", env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "demo / demo12345" in done.stdout
    assert re.search(r"app_key=ak_\w+ secret=\S{20,}\n", done.stdout)  # one copyable line
    assert "http://" not in done.stdout and "xiaodian serve" in done.stdout


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_K7_a_taken_port_fails_before_the_banner(taken_port: int, tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'demo.db'}", XIAODIAN_PORT=str(taken_port))
    for args in (["demo"], ["serve", "--no-with-worker"]):
        done = xiaodian(*args, env=env, cwd=tmp_path)
        assert_one_bilingual_line(done, str(taken_port), "--port")
        assert "小店 demo" not in done.stdout and "http://" not in done.stdout
    assert not (tmp_path / "demo.db").exists()  # refused before any data was written


@pytest.fixture
def live_server(rt: Runtime) -> Iterator[int]:
    """The real app over real HTTP, in this process (the CLI under test is the other side)."""
    import uvicorn

    from xiaodian.api.app import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def test_K7_call_goes_where_XIAODIAN_PORT_says(
    rt: Runtime, shop: ShopFixture, live_server: int
) -> None:
    env = _env(
        rt.settings.database_url,
        XIAODIAN_PORT=str(live_server),
        XIAODIAN_APP_KEY=shop.app_key,
        XIAODIAN_APP_SECRET=shop.secret,
    )
    done = xiaodian("call", "get", "/api/v1/shop", env=env)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    assert answer["id"] == shop.shop_id
    refused = xiaodian("call", "GET", "/api/v1/shops/999999", env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert json.loads(refused.stdout)["status"] == 404

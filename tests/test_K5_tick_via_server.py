"""K5 (issue 14): ``xiaodian tick`` starts fast by asking the running simulated server.

``tick`` needs SQLAlchemy, every model and every context's sweeps to run the sweeps itself —
more than half a second of imports on this machine (docs/benchmarks.md). When the server that
XIAODIAN_HOST / XIAODIAN_PORT name runs on a simulated clock and XIAODIAN_APP_KEY /
XIAODIAN_APP_SECRET name an app with the simulation scope, the server advances its clock (the
signed ``POST /sim/clock/advance``) and the command imports none of that. These tests assert
*what* is imported, never timings (bench/cli_startup.py measures those), against a real
uvicorn server and real subprocesses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from tests.test_cli_entry import _env, _free_port, _loaded, xiaodian
from tests.test_U7_simtime_cli import _server
from xiaodian.accounts import service as accounts
from xiaodian.clock import SimulatedClock
from xiaodian.config import Settings
from xiaodian.runtime import Runtime

SIM_START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
# What running the sweeps in-process costs, and what the CLI never needs to ask a server.
HEAVY = {
    *("sqlalchemy", "pydantic_settings", "xiaodian.models", "xiaodian.orders.models"),
    *("xiaodian.scheduler", "fastapi", "starlette", "uvicorn", "alembic", "httpx", "PIL"),
    *("pydantic", "xiaodian.config", "markdown_it", "importlib.metadata"),  # K5 third pass
}


def sim_runtime(rt: Runtime) -> Runtime:
    """The test runtime's database behind a server on the simulated clock (as U7 does)."""
    settings = rt.settings.model_copy(update={"clock_mode": "simulated"})
    return Runtime(
        settings=settings,
        engine=rt.engine,
        factory=rt.factory,
        clock=SimulatedClock(rt.engine),
        wall=rt.wall,
    )


def _simulation_app(rt: Runtime, shop: Any) -> tuple[str, str]:
    with rt.unit() as ctx:
        app = accounts.create_app(ctx, shop.shop_id, "模拟控制", ["simulation"])
        return app.app_key, app.secret


def test_K5_tick_asks_the_running_simulated_server_and_imports_no_database_layer(
    rt: Runtime, db_url: str, shop: Any
) -> None:
    SimulatedClock(rt.engine).set(SIM_START)
    key, secret = _simulation_app(rt, shop)
    with _server(sim_runtime(rt)) as port:
        env = _env(
            db_url, XIAODIAN_PORT=str(port), XIAODIAN_APP_KEY=key, XIAODIAN_APP_SECRET=secret
        )
        advanced = _loaded(["tick", "--advance", "90m"], env)
        assert not HEAVY & set(advanced["run"]), advanced["run"]
        assert SimulatedClock(rt.engine).now() == SIM_START.replace(hour=3, minute=30)
        once = _loaded(["tick"], env)  # one tick now, on the server's clock
        assert not HEAVY & set(once["run"]), once["run"]
        # What the user sees: the K7 table in local time, said to come from the server.
        done = xiaodian("tick", "--advance", "30m", env={**env, "COLUMNS": "120"})
        assert done.returncode == 0, done.stderr
        assert "2026-11-02 11:30 → 2026-11-02 12:00" in done.stdout  # Asia/Shanghai
        assert "(Asia/Shanghai)" in done.stdout and "what the rules did" in done.stdout
        assert f"by the server at http://127.0.0.1:{port}" in done.stdout
    assert SimulatedClock(rt.engine).now() == SIM_START.replace(hour=4)


def test_K5_an_app_the_server_refuses_falls_back_to_a_local_tick_and_local_forces_it(
    rt: Runtime, db_url: str, shop: Any
) -> None:
    SimulatedClock(rt.engine).set(SIM_START)
    key, secret = _simulation_app(rt, shop)
    with _server(sim_runtime(rt)) as port:
        # shop.app_key has every scope but this one is made without "simulation".
        with rt.unit() as ctx:
            plain = accounts.create_app(ctx, shop.shop_id, "ERP", ["orders"])
        env = _env(
            db_url,
            XIAODIAN_CLOCK_MODE="simulated",
            XIAODIAN_PORT=str(port),
            XIAODIAN_APP_KEY=plain.app_key,
            XIAODIAN_APP_SECRET=plain.secret,
        )
        refused = xiaodian("tick", "--advance", "1h", env=env)
        assert refused.returncode == 0, refused.stderr
        assert "改为在本进程运行" in refused.stderr and "by the server" not in refused.stdout
        assert SimulatedClock(rt.engine).now() == SIM_START.replace(hour=3)
        # --local: this process runs the sweeps although the server would (it imports them).
        forced = _loaded(
            ["tick", "--local", "--advance", "1h"],
            {**env, "XIAODIAN_APP_KEY": key, "XIAODIAN_APP_SECRET": secret},
        )
        assert "xiaodian.orders.models" in forced["run"]
    assert SimulatedClock(rt.engine).now() == SIM_START.replace(hour=4)


def test_K5_the_light_settings_tick_reads_match_the_settings_defaults() -> None:
    from xiaodian.cli import LIGHT_DEFAULTS

    defaults = Settings.model_construct()
    assert {
        "host": defaults.host,
        "port": str(defaults.port),
        "timezone": defaults.timezone,
    } == LIGHT_DEFAULTS


def test_K5_a_local_tick_loads_the_models_but_not_the_api_nor_image_libraries(
    rt: Runtime, db_url: str
) -> None:
    """Run in-process, ``tick`` needs SQLAlchemy, the models and the sweeps — but not FastAPI,
    the API's pydantic schemas, nor Pillow, zxing and segno (loaded by the routes, uploads and
    QR codes that use them)."""
    env = _env(db_url, XIAODIAN_PORT=str(_free_port()))
    probe = subprocess.run(
        [sys.executable, "-c", LOADED_BY_NAME, "tick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    loaded = set(json.loads(probe.stdout.strip().splitlines()[-1]))
    assert {"sqlalchemy", "xiaodian.orders.models", "xiaodian.redpackets.models"} <= loaded
    unneeded = {"fastapi", "starlette", "xiaodian.api", "xiaodian.web", "xiaodian.orders.schemas"}
    unneeded |= {"PIL", "zxingcpp", "segno", "xiaodian.imaging"}
    assert not unneeded & loaded, sorted(unneeded & loaded)


LOADED_BY_NAME = """
import json, sys
from xiaodian.cli import app
try:
    app(sys.argv[1:], prog_name="xiaodian")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""

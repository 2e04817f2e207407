"""The clock and the scheduler: sweeps run at the instants they fall due, a tick is idempotent,
the simulated clock is shared through the database, and two workers never double-apply.

The sweeps here are small real rules over a real table (a ``ledger`` movement per due row),
registered only for the test — the contexts' own sweeps are tested in their own folders.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from xiaodian import scheduler
from xiaodian.api.app import create_app
from xiaodian.clock import SimClockRow, SimulatedClock
from xiaodian.config import Settings
from xiaodian.context import Ctx
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerTxn
from xiaodian.notify.models import Notice
from xiaodian.runtime import Runtime
from xiaodian.scheduler import Sweep

from ..conftest import START, SignedClient


def _due_notices_sweep(shop_id: int) -> Sweep:
    """Test rule: each unread notice whose `link` holds a due instant is 'fined' 1 fen once."""

    def run(ctx: Ctx) -> dict[str, int]:
        rows = ctx.session.execute(
            select(Notice.id, Notice.link).where(
                Notice.shop_id == shop_id, Notice.read_at.is_(None), Notice.category == "due"
            )
        ).all()
        fined = 0
        for notice_id, due in rows:
            if datetime.fromisoformat(due) <= ctx.now:
                ledger.move(
                    ctx,
                    shop_id,
                    source=Account.DEPOSIT,
                    target=Account.PLATFORM_PENALTY,
                    amount_fen=1,
                    key=f"fine:{notice_id}",
                    kind="test_fine",
                    memo=ctx.now.isoformat(),
                )
                ctx.session.execute(
                    update(Notice).where(Notice.id == notice_id).values(read_at=ctx.now)
                )
                fined += 1
        return {"fined": fined}

    def next_due(session: Any, now: datetime) -> datetime | None:
        dues = session.scalars(
            select(Notice.link).where(
                Notice.shop_id == shop_id, Notice.read_at.is_(None), Notice.category == "due"
            )
        ).all()
        return min((datetime.fromisoformat(d) for d in dues), default=None)

    return Sweep(name="test.fines", rule="X3", run=run, next_due=next_due)


def _schedule(rt: Runtime, shop_id: int, *offsets: timedelta) -> None:
    with rt.unit() as ctx:
        for offset in offsets:
            ctx.session.add(
                Notice(
                    shop_id=shop_id,
                    category="due",
                    title="due",
                    link=(START + offset).isoformat(),
                    created_at=ctx.now,
                )
            )


def _fine_times(rt: Runtime) -> list[str]:
    with rt.unit() as ctx:
        return sorted(
            ctx.session.scalars(select(LedgerTxn.memo).where(LedgerTxn.kind == "test_fine"))
        )


def test_advance_runs_each_sweep_at_the_instant_it_falls_due(rt: Runtime, shop: Any) -> None:
    _schedule(rt, shop.shop_id, timedelta(hours=48), timedelta(hours=72), timedelta(days=40))
    sweep = _due_notices_sweep(shop.shop_id)
    report = scheduler.advance(rt, 4 * 86400, sweeps=[sweep])
    assert report.counts["test.fines"]["fined"] == 2
    # Stamped at the due instants themselves, not at the end of a coarse step.
    assert _fine_times(rt) == [(START + timedelta(hours=h)).isoformat() for h in (48, 72)]
    assert rt.clock.now() == START + timedelta(days=4)
    # A handful of ticks, not one per minute of the four days.
    assert report.ticks <= 4


def test_tick_twice_at_the_same_instant_changes_nothing(rt: Runtime, shop: Any) -> None:
    _schedule(rt, shop.shop_id, timedelta(0))
    sweep = _due_notices_sweep(shop.shop_id)
    first = scheduler.run_tick(rt, sweeps=[sweep])
    second = scheduler.run_tick(rt, sweeps=[sweep])
    assert first.counts["test.fines"] == {"fined": 1}
    assert second.counts["test.fines"] == {"fined": 0}
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == -1


def test_advance_refuses_backwards_and_system_clock(rt: Runtime, settings: Settings) -> None:
    with pytest.raises(Exception) as info:
        scheduler.advance(rt, -5, sweeps=[])
    assert getattr(info.value, "code", "") == "clock_backwards"
    system_rt = Runtime(
        settings=settings, engine=rt.engine, factory=rt.factory, clock=scheduler_clock_system()
    )
    with pytest.raises(Exception) as info:
        scheduler.advance(system_rt, 60, sweeps=[])
    assert getattr(info.value, "code", "") == "clock_not_simulated"


def scheduler_clock_system() -> Any:
    from xiaodian.clock import SystemClock

    return SystemClock()


def test_simulated_clock_is_shared_through_the_database(rt: Runtime) -> None:
    first, second = SimulatedClock(rt.engine), SimulatedClock(rt.engine)
    start = first.now()
    first.set(start + timedelta(hours=5))
    assert second.now() == start + timedelta(hours=5)  # another process sees the same "now"
    with pytest.raises(Exception) as info:
        second.set(start)
    assert getattr(info.value, "code", "") == "clock_backwards"


def test_sim_advance_endpoint_moves_the_persisted_clock(
    rt: Runtime, settings: Settings, make_shop: Any
) -> None:
    """Driven by a signed app with the ``simulation`` scope (S3; tests/api/test_scopes.py
    proves the refusals)."""
    shop = make_shop()  # the fixture's app holds every scope, simulation included
    sim_settings = settings.model_copy(update={"clock_mode": "simulated"})
    sim_rt = Runtime(
        settings=sim_settings, engine=rt.engine, factory=rt.factory, clock=SimulatedClock(rt.engine)
    )
    with TestClient(create_app(sim_rt)) as client:
        api = SignedClient(client, sim_rt, shop.app_key, shop.secret)
        before = datetime.fromisoformat(api.get("/sim/clock").json()["now"])
        answer = api.post("/sim/clock/advance", {"seconds": 86400})
        assert answer.status_code == 200 and answer.json()["ticks"] >= 1
        after = datetime.fromisoformat(api.get("/sim/clock").json()["now"])
        assert after - before == timedelta(days=1)
        assert api.post("/sim/clock/advance", {"seconds": -1}).status_code == 422
        assert "/sim/clock/advance" in client.get("/openapi.json").json()["paths"]
    with rt.unit() as ctx:
        assert ctx.session.get(SimClockRow, 1) is not None


def test_cli_tick_advance_on_a_simulated_database(cli_database: str, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from xiaodian.cli import app

    monkeypatch.setenv("XIAODIAN_CLOCK_MODE", "simulated")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    clock = SimulatedClock(make_engine(cli_database))
    before = clock.now()
    result = runner.invoke(app, ["tick", "--advance", "1d"])
    assert result.exit_code == 0, result.output
    assert clock.now() - before == timedelta(days=1)
    bad = runner.invoke(app, ["tick", "--advance", "soon"])
    assert bad.exit_code == 2 and "bad duration" in bad.output


@pytest.mark.postgres_only
def test_two_workers_ticking_at_once_never_double_apply_on_postgres(
    pg_only: None, rt: Runtime, shop: Any
) -> None:
    _schedule(rt, shop.shop_id, *(timedelta(minutes=i) for i in range(40)))
    inner = _due_notices_sweep(shop.shop_id)
    running = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow_run(ctx: Ctx) -> dict[str, int]:
        with lock:
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
        time.sleep(0.3)  # widen the window in which two workers would overlap
        try:
            return inner.run(ctx)
        finally:
            with lock:
                running["now"] -= 1

    sweep = Sweep(name="test.fines", rule="X3", run=slow_run, next_due=inner.next_due)
    at = START + timedelta(hours=1)
    barrier = threading.Barrier(2)
    reports: list[Any] = []

    def worker() -> None:
        own = Runtime(
            settings=rt.settings,
            engine=rt.engine,
            factory=make_sessionmaker(rt.engine),
            clock=rt.clock,
        )
        barrier.wait()
        reports.append(scheduler.run_tick(own, now=at, sweeps=[sweep]))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert running["max"] == 1  # the advisory lock serialized the two runs
    assert sorted(r.counts["test.fines"]["fined"] for r in reports) == [0, 40]
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == -40
        assert ctx.session.scalar(select(func.count()).select_from(LedgerTxn)) == 40


def test_cli_simulate_replays_days_with_a_row_per_step(cli_database: str, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from xiaodian.cli import app

    monkeypatch.setenv("XIAODIAN_CLOCK_MODE", "simulated")
    runner = CliRunner()
    clock = SimulatedClock(make_engine(cli_database))
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    before = clock.now()
    result = runner.invoke(app, ["simulate", "--days", "2", "--step", "12h"])
    assert result.exit_code == 0, result.output
    assert clock.now() - before == timedelta(days=2)
    assert result.output.count("│ 20") == 4  # four 12-hour rows
    refused = runner.invoke(app, ["simulate", "--days", "1", "--step", "0s"])
    assert refused.exit_code == 2

"""W2: the worker loop outlives a database outage — a failing tick is logged and retried with
exponential back-off (``worker.min_backoff_seconds`` doubling up to ``max``), and the first
good tick resets it. The outage is real: the runtime first points at a PostgreSQL address
where nothing listens, then at the test database again."""

from __future__ import annotations

import io
import socket

import pytest
from rich.console import Console

from xiaodian import scheduler
from xiaodian.config import WorkerRules
from xiaodian.db import is_database_unavailable, make_engine, make_sessionmaker
from xiaodian.runtime import Runtime


class Stop(Exception):
    pass


def test_W2_worker_backs_off_through_an_outage_then_ticks_again(rt: Runtime) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = make_engine(
        f"postgresql+psycopg://xiaodian:x@127.0.0.1:{port}/gone",
        connect_args={"connect_timeout": 2},
    )
    live_engine, live_factory = rt.engine, rt.factory
    rt.settings = rt.settings.model_copy(
        update={
            "tick_seconds": 0.5,
            "worker": WorkerRules(min_backoff_seconds=0.2, max_backoff_seconds=0.5),
        }
    )
    rt.engine, rt.factory = dead, make_sessionmaker(dead)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 4:  # the database is back
            rt.engine, rt.factory = live_engine, live_factory
        if len(waits) == 6:
            raise Stop

    out = io.StringIO()
    with pytest.raises(Stop):
        scheduler.worker_loop(rt, console=Console(file=out, width=200), sleep=sleep)
    dead.dispose()
    assert waits[:4] == [0.2, 0.4, 0.5, 0.5]  # doubling, capped
    assert all(w <= 0.5 for w in waits[4:])  # ticking again on tick_seconds
    log = out.getvalue()
    assert log.count("worker database unavailable") == 4


def test_W2_once_still_lets_the_error_out(rt: Runtime) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = make_engine(f"postgresql+psycopg://xiaodian:x@127.0.0.1:{port}/gone")
    rt.engine, rt.factory = dead, make_sessionmaker(dead)
    with pytest.raises(Exception) as caught:
        scheduler.worker_loop(rt, once=True, console=Console(file=io.StringIO()))
    assert is_database_unavailable(caught.value)
    dead.dispose()

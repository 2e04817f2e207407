"""Runs every context's time-driven rules (sweeps) in order, and the background jobs.

A *sweep* is a set-based, idempotent rule (``UPDATE … WHERE due`` / ``INSERT … SELECT``) that
returns counts of what it did; running it twice at one instant changes nothing. Each sweep runs
in its own transaction; on PostgreSQL it first takes a transaction-scoped advisory lock named
after it, so two workers ticking at once run it one after the other — the second finds nothing
due. A sweep may also say when it next has work (``next_due``): clock advance uses that to step
from one due instant to the next, so a month of rules replays in seconds and every decision is
stamped with the instant it fell due, not the end of a coarse step.

*Jobs* (webhook delivery, housekeeping) talk to the outside world on wall time; the worker runs
them after each tick.

M1 (issue 15): the scheduler stands above the contexts. ``Sweep`` and ``Job`` are defined beside
``Ctx`` (``xiaodian.context``); each context declares its ``SWEEPS`` and ``JOBS`` in its
``sweeps.py``, and the registry (``xiaodian.contexts.CONTEXTS``) says which contexts have one.
No context imports this module.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xiaodian import contexts
from xiaodian.context import Ctx, Job, Sweep
from xiaodian.db import is_database_unavailable, is_postgres, transaction
from xiaodian.errors import Conflict
from xiaodian.runtime import Runtime


def registered_sweeps() -> list[Sweep]:
    """Every context's declared ``SWEEPS``, in ``CONTEXTS`` order (orders first)."""
    return [sweep for module in contexts.load("sweeps") for sweep in module.SWEEPS]


def registered_jobs() -> list[Job]:
    """Every context's declared ``JOBS`` (webhook delivery, nonce purge, exports)."""
    return [job for module in contexts.load("sweeps") for job in getattr(module, "JOBS", ())]


@dataclass
class TickReport:
    now: datetime
    ticks: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, name: str, counts: dict[str, int]) -> None:
        total = self.counts.setdefault(name, {})
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value

    def as_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "ticks": self.ticks, "sweeps": self.counts}


def run_tick(
    rt: Runtime, *, now: datetime | None = None, sweeps: list[Sweep] | None = None
) -> TickReport:
    """Run every sweep once at ``now`` (default: the clock's now)."""
    now = now or rt.clock.now()
    report = TickReport(now=now, ticks=1)
    for sweep in registered_sweeps() if sweeps is None else sweeps:
        with transaction(rt.factory) as session:
            _serialize_across_workers(session, sweep.name)
            counts = sweep.run(Ctx(session=session, now=now, settings=rt.settings))
        report.add(sweep.name, counts)
    return report


class SettableClock(Protocol):
    def now(self) -> datetime: ...

    def set(self, when: datetime) -> Any: ...


def advance(
    rt: Runtime,
    seconds: int,
    *,
    sweeps: list[Sweep] | None = None,
    on_step: Callable[[datetime], None] | None = None,
) -> TickReport:
    """Move a settable clock forward by ``seconds``, running every sweep at each instant
    something falls due on the way, then once at the target."""
    clock = rt.clock
    if not hasattr(clock, "set"):
        raise Conflict(
            "clock_not_simulated",
            "系统时钟模式下不能快进时间（设置 XIAODIAN_CLOCK_MODE=simulated）",
            "Time can only be advanced with XIAODIAN_CLOCK_MODE=simulated",
        )
    if seconds < 0:
        raise Conflict("clock_backwards", "不能回拨时间", "Time cannot move backwards")
    settable: SettableClock = clock  # type: ignore[assignment]
    sweeps = registered_sweeps() if sweeps is None else sweeps
    start = settable.now()
    target = start + timedelta(seconds=seconds)
    report = TickReport(now=target, ticks=0)
    current = start
    while True:
        step = run_tick(rt, now=current, sweeps=sweeps)
        report.ticks += 1
        for name, counts in step.counts.items():
            report.add(name, counts)
        if on_step:
            on_step(current)
        if current >= target:
            return report
        upcoming = _next_due(rt, sweeps, current)
        # A sweep that still reports work at `current` has a bug; never spin on it.
        nxt = (
            target
            if upcoming is None
            else min(max(upcoming, current + timedelta(seconds=1)), target)
        )
        settable.set(nxt)
        current = nxt


def _next_due(rt: Runtime, sweeps: list[Sweep], now: datetime) -> datetime | None:
    found: list[datetime] = []
    with transaction(rt.factory) as session:
        for sweep in sweeps:
            if sweep.next_due is not None:
                when = sweep.next_due(session, now)
                if when is not None:
                    found.append(when)
    return min(found) if found else None


def run_jobs(rt: Runtime, jobs: list[Job] | None = None) -> dict[str, dict[str, int]]:
    return {job.name: job.run(rt) for job in (registered_jobs() if jobs is None else jobs)}


def worker_loop(
    rt: Runtime,
    *,
    once: bool = False,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """``xiaodian worker`` (and ``serve``'s in-process worker): tick, run jobs, sleep
    ``tick_seconds``; repeat.

    W2: a failing tick — the database restarting, a dropped connection, a statement
    cancelled by the statement timeout — is logged and retried after a back-off
    (``worker.min_backoff_seconds``, doubling up to ``worker.max_backoff_seconds``) instead of
    ending the process; the first good tick resets it. Each sweep is its own transaction, so
    what a failed tick had not committed is simply done again. ``once`` lets errors out."""
    console = console or Console()
    rules = rt.settings.worker
    backoff = rules.min_backoff_seconds
    while True:
        started = time.monotonic()
        try:
            report = run_tick(rt)
            jobs = run_jobs(rt)
        except Exception as exc:
            if once:
                raise
            kind = "database unavailable" if is_database_unavailable(exc) else "error"
            console.log(f"[red]worker {kind}[/]: {exc!r}; retrying in {backoff:.1f} s")
            sleep(backoff)
            backoff = min(backoff * 2, rules.max_backoff_seconds)
            continue
        backoff = rules.min_backoff_seconds
        busy = {k: v for k, v in {**report.counts, **jobs}.items() if any(v.values())}
        if busy:
            console.log(f"[bold]tick[/] {report.now.isoformat()} {busy}")
        if once:
            return
        sleep(max(0.0, rt.settings.tick_seconds - (time.monotonic() - started)))


def _serialize_across_workers(session: Session, name: str) -> None:
    if is_postgres(session):
        key = int.from_bytes(
            hashlib.sha256(f"sweep:{name}".encode()).digest()[:8], "big", signed=True
        )
        session.execute(select(func.pg_advisory_xact_lock(key)))

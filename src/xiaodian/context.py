"""What every service operation receives: its transaction, its instant, the settings, who acts —
and the contract by which a context hands its time-driven work to the scheduler (``Sweep``,
``Job``; issue 15 M1). Contexts import this module, never ``xiaodian.scheduler``.

"now" is read from the clock once per operation, so every row an operation writes agrees on
the time, and a sweep run at a given instant is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from xiaodian.config import Settings

if TYPE_CHECKING:
    from xiaodian.runtime import Runtime


@dataclass
class Ctx:
    session: Session
    now: datetime
    settings: Settings
    actor: str = "system"  # "user:12", "app:3", "buyer:7", "staff:4", "system"


@dataclass(frozen=True)
class Sweep:
    """A context's time-driven rule (M1): set-based and idempotent, run by the scheduler at an
    instant in its own transaction; returns counts of what it did. ``next_due`` gives the
    earliest instant at which it will have work (None: nothing pending), so clock advance can
    step from one due instant to the next. A context declares its sweeps in ``SWEEPS`` of its
    ``sweeps.py``; the scheduler (``xiaodian.scheduler``) only runs them."""

    name: str
    rule: str
    run: Callable[[Ctx], dict[str, int]]
    next_due: Callable[[Session, datetime], datetime | None] | None = None


@dataclass(frozen=True)
class Job:
    """A context's background job on wall time (webhook delivery, housekeeping, exports),
    declared in ``JOBS`` of its ``sweeps.py`` and run by the worker after each tick (M1)."""

    name: str
    run: Callable[[Runtime], dict[str, int]]

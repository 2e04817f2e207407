"""The only source of "now" for business rules (SPEC: all rules read time from one clock).

* ``SystemClock`` — wall time.
* ``SimulatedClock`` — "now" is one row in the database, so every process (API, workers, CLI)
  sees the same simulated instant; ``xiaodian tick --advance`` and ``POST /sim/clock/advance``
  move it forward (never backward) and run the sweeps that fall due on the way.
* ``ManualClock`` — in memory, for tests that freeze or step time.

Transport security (signature freshness, webhook retry timing) reads *wall* time on purpose:
an ERP signs requests with its real clock even while the business clock is simulated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from xiaodian.db import Base, UTCDateTime
from xiaodian.durations import parse_duration as parse_duration  # re-exported (K5)
from xiaodian.errors import Conflict
from xiaodian.shard import REFERENCE


class Clock(Protocol):
    def now(self) -> datetime: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class SystemClock:
    mode = "system"

    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock a test holds in its hand."""

    mode = "manual"

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow().replace(microsecond=0)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


class SimClockRow(Base):
    __tablename__ = "sim_clock"
    __shard__ = REFERENCE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    now: Mapped[datetime] = mapped_column(UTCDateTime)


class SimulatedClock:
    """Persisted simulated time; starts at wall time (to the second) on first use."""

    mode = "simulated"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def now(self) -> datetime:
        with Session(self._engine) as session, session.begin():
            row = session.get(SimClockRow, 1)
            if row is None:
                row = SimClockRow(id=1, now=utcnow().replace(microsecond=0))
                session.add(row)
            return row.now

    def set(self, when: datetime) -> datetime:
        with Session(self._engine) as session, session.begin():
            row = session.scalars(select(SimClockRow).where(SimClockRow.id == 1)).first()
            if row is None:
                session.add(SimClockRow(id=1, now=when))
                return when
            if when < row.now:
                raise Conflict(
                    "clock_backwards",
                    f"模拟时钟不能回拨（当前 {row.now.isoformat()}）",
                    f"The simulated clock cannot move backwards (now {row.now.isoformat()})",
                )
            row.now = when
            return when


def local_day_start(when: datetime, tz: str) -> datetime:
    """Start (as UTC) of the calendar day in ``tz`` that contains ``when``."""
    local = when.astimezone(ZoneInfo(tz))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC)


def to_local(when: datetime, tz: str) -> datetime:
    return when.astimezone(ZoneInfo(tz))

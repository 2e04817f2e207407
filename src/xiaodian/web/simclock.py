"""U7: simulated time in sight. In simulated clock mode every console page shows the simulated
now in the header; the main account also gets a 快进 control (1 小时 / 1 天 / a custom
duration) that moves the clock with the same service as ``POST /sim/clock/advance`` and
``xiaodian tick --advance`` (``scheduler.advance``: every sweep due on the way runs), then
comes back to the page with a flash summary of what the rules did.

Mounted only when the clock is simulated (like /sim). Who may advance is decided by S3's
``simulation_control`` (the main account's console session; a sub-account gets 403), checked
in a short transaction of its own before the route runs: the advance writes in transactions
of its own, which an open console unit would lock out on SQLite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from xiaodian import scheduler
from xiaodian.api.deps import simulation_control
from xiaodian.clock import parse_duration, to_local
from xiaodian.db import is_database_unavailable
from xiaodian.errors import ValidationFailed, field_error
from xiaodian.runtime import Runtime
from xiaodian.web.auth import CsrfForm, flash, safe_next

router = APIRouter(prefix="/console/sim", include_in_schema=False)

# The same bound as POST /sim/clock/advance (AdvanceIn.seconds).
MAX_SECONDS = 400 * 86400


def header_context(request: Request, is_main: bool) -> dict[str, Any]:
    """What ``base.html`` needs: the simulated now (local, to the minute) and whether to show
    the 快进 control; nothing at all under the system clock. The time was read by
    ``SimNowMiddleware`` before the route opened its unit of work (on SQLite every
    transaction is ``BEGIN IMMEDIATE``: a second one inside the page would wait for it)."""
    rt: Runtime | None = getattr(request.app.state, "rt", None)
    now = request.scope.get("state", {}).get("sim_now")
    if rt is None or not rt.simulated or not isinstance(now, datetime):
        return {"sim_now": None, "sim_control": False}
    return {"sim_now": _local(rt, now), "sim_control": is_main}


class SimNowMiddleware:
    """Reads the simulated now once per console request, before the route runs (U7)."""

    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/console") and not path.startswith("/console/static/"):
            try:
                scope.setdefault("state", {})["sim_now"] = await run_in_threadpool(
                    self.rt.clock.now
                )
            except Exception as exc:  # the route answers "database unavailable" itself
                if not is_database_unavailable(exc):
                    raise
        await self.app(scope, receive, send)


@router.post("/advance", dependencies=[Depends(simulation_control)])
def advance_clock(request: Request, form: CsrfForm) -> Response:
    """U7: 快进 — move the simulated clock and run the sweeps due on the way (S3: main only)."""
    rt: Runtime = request.app.state.rt
    seconds = _duration(str(form.get("duration") or ""))
    start = rt.clock.now()
    report = scheduler.advance(rt, seconds)
    flash(request, summary(rt, seconds, start, report))
    return RedirectResponse(_back(request), status_code=303)


def _duration(text: str) -> int:
    try:
        seconds = parse_duration(text) if text.strip() else 0
    except ValueError:
        seconds = 0
    if not 0 < seconds <= MAX_SECONDS:
        raise ValidationFailed(
            "sim_duration_invalid",
            f"快进时长无效：{text.strip() or '（空）'}，例如 90m、6h、3d（最多 400 天）",
            f"Bad duration {text.strip()!r}: use e.g. 90m, 6h, 3d (at most 400 days)",
            errors=[
                field_error(
                    "duration", "例如 90m、6h、3d（最多 400 天）", "e.g. 90m, 6h, 3d (≤ 400 days)"
                )
            ],
            rule="U7",
        )
    return seconds


def human_duration(seconds: int) -> str:
    """1 天 3 小时 / 90 分钟 / 30 秒 — for the flash line."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value} {unit}"
        for value, unit in ((days, "天"), (hours, "小时"), (minutes, "分钟"), (secs, "秒"))
        if value
    ]
    return " ".join(parts) or "0 秒"


def summary(rt: Runtime, seconds: int, start: datetime, report: scheduler.TickReport) -> str:
    done = [
        f"{name} {key}={value}"
        for name, counts in report.counts.items()
        for key, value in counts.items()
        if value
    ]
    return (
        f"已快进 {human_duration(seconds)}：{_local(rt, start)} → {_local(rt, report.now)}，"
        f"规则运行 {report.ticks} 轮；" + ("，".join(done) if done else "没有到期的事项")
    )


def _local(rt: Runtime, when: datetime) -> str:
    return to_local(when, rt.settings.timezone).strftime("%Y-%m-%d %H:%M")


def _back(request: Request) -> str:
    """Back to the console page the form was on (a console path of this site only)."""
    referer = request.headers.get("referer", "")
    marker = referer.find("/console")
    return safe_next(referer[marker:] if marker >= 0 else None)

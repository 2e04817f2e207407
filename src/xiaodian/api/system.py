"""Health check and the simulation controls (clock advance), hidden unless simulated."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from xiaodian import scheduler
from xiaodian.api.deps import get_rt
from xiaodian.db import is_database_unavailable

router = APIRouter()
# Mounted only when the clock is simulated: in system mode these paths do not exist.
sim_router = APIRouter(prefix="/sim", tags=["simulation"])


@router.get("/healthz", tags=["system"])
def healthz(request: Request) -> JSONResponse:
    """Liveness and dependencies. W4: 200 when every dependency answers; otherwise 503 with
    ``Retry-After`` and, under ``checks``, which dependency is down and why."""
    rt = get_rt(request)
    checks: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "engine": rt.engine.dialect.name}
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        checks["database"] = {"status": "down", "engine": rt.engine.dialect.name, "error": reason}
    checks["database"]["ms"] = round((time.monotonic() - started) * 1000, 1)
    down = [name for name, check in checks.items() if check["status"] != "ok"]
    body: dict[str, Any] = {
        "status": "unavailable" if down else "ok",
        "database": rt.engine.dialect.name,
        "checks": checks,
    }
    if down:
        body["down"] = down
        headers = {"Retry-After": str(rt.settings.api.retry_after_seconds)}
        return JSONResponse(body, status_code=503, headers=headers)
    body["clock"] = "simulated" if rt.simulated else "system"
    body["now"] = rt.clock.now().isoformat()
    return JSONResponse(body)


class AdvanceIn(BaseModel):
    seconds: int = Field(ge=0, le=400 * 86400, description="how far to move the clock")


@sim_router.get("/clock")
def sim_clock(request: Request) -> dict[str, Any]:
    """The simulated clock (only when XIAODIAN_CLOCK_MODE=simulated)."""
    return {"now": get_rt(request).clock.now().isoformat()}


@sim_router.post("/clock/advance")
def sim_advance(body: AdvanceIn, request: Request) -> dict[str, Any]:
    """Move simulated time forward, running every sweep that falls due on the way."""
    return scheduler.advance(get_rt(request), body.seconds).as_dict()

"""Health check and the simulation controls (clock advance), hidden unless simulated."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import text

from xiaodian import scheduler
from xiaodian.api.deps import get_rt

router = APIRouter()
# Mounted only when the clock is simulated: in system mode these paths do not exist.
sim_router = APIRouter(prefix="/sim", tags=["simulation"])


@router.get("/healthz", tags=["system"])
def healthz(request: Request) -> dict[str, Any]:
    rt = get_rt(request)
    with rt.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "database": rt.engine.dialect.name,
        "clock": "simulated" if rt.simulated else "system",
        "now": rt.clock.now().isoformat(),
    }


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

"""Time-driven work of accounts: purging spent API nonces (S1 replay window), a job on wall
time (M1: declared here, run by the worker after each tick)."""

from __future__ import annotations

from sqlalchemy import delete

from xiaodian.accounts.models import ApiNonce
from xiaodian.context import Job, Sweep
from xiaodian.db import rowcount, transaction
from xiaodian.runtime import Runtime


def purge_nonces(rt: Runtime) -> dict[str, int]:
    with transaction(rt.factory) as session:
        result = session.execute(delete(ApiNonce).where(ApiNonce.expires_at < rt.wall.now()))
        return {"purged": rowcount(result)}


SWEEPS: list[Sweep] = []
JOBS = [Job("api.purge_nonces", purge_nonces)]

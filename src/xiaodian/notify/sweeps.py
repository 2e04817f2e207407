"""Time-driven work of notify (X1): webhook delivery, a job on wall time (M1: declared here,
run by the worker after each tick)."""

from __future__ import annotations

from xiaodian.context import Job, Sweep
from xiaodian.runtime import Runtime


def deliver_webhooks(rt: Runtime) -> dict[str, int]:
    # Imported here: webhook delivery needs an HTTP client that ``xiaodian tick`` does not
    # (K5, the CLI starts fast).
    from xiaodian.notify.webhooks import deliver_due

    return deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)


SWEEPS: list[Sweep] = []
JOBS = [Job("webhooks.deliver", deliver_webhooks)]

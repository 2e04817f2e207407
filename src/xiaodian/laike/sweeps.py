"""Time-driven rules of the 来客 gateway (issue 12, D5): set-based, idempotent sweeps.

* ``laike.purge_client_tokens``: client tokens past their expiry (product clock) are deleted —
  they are refused from that instant anyway (``service.caller_for``); this only keeps the
  table from growing. No ``next_due``: nothing waits on it, it runs on the regular tick.
"""

from __future__ import annotations

from sqlalchemy import delete

from xiaodian.context import Ctx, Sweep
from xiaodian.db import rowcount
from xiaodian.laike.models import ClientToken


def purge_client_tokens(ctx: Ctx) -> dict[str, int]:
    result = ctx.session.execute(delete(ClientToken).where(ClientToken.expires_at <= ctx.now))
    return {"purged": rowcount(result)}


SWEEPS = [Sweep("laike.purge_client_tokens", "D5", purge_client_tokens)]

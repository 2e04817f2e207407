"""The red-packet demo seed: every shown status (R8), clean books, and a second run is a no-op."""

from __future__ import annotations

from xiaodian.ledger import service as ledger
from xiaodian.redpackets import demo, service

from .conftest import World


def test_R8_demo_seed_has_every_status_and_is_idempotent(world: World) -> None:
    demo.seed(world.rt, world.shop_id, None)
    with world.rt.unit() as ctx:
        totals = service.totals(ctx.session, world.shop_id, ctx.now, ctx.settings)
        counts = {t.status: t.count for t in totals.by_status}
        assert ledger.audit(ctx.session) == []
    assert all(counts[s] >= 1 for s in ("valid", "expiring", "expired", "reclaimed", "used_up"))
    demo.seed(world.rt, world.shop_id, None)
    with world.rt.unit() as ctx:
        again = service.totals(ctx.session, world.shop_id, ctx.now, ctx.settings)
    assert again.count == totals.count

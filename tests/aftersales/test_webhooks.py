"""X1 × A1–A6: every after-sales state change — requests and their packages — is a domain
event, queued as a webhook delivery to an endpoint subscribed to ``*``."""

from __future__ import annotations

from typing import Any

from tests.aftersales.conftest import PDF, World
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.sweeps import collect_fees, default_refund, interceptions
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.notify.models import Event
from xiaodian.runtime import Runtime


def _queued(rt: Runtime, shop_id: int, endpoint_id: int) -> list[tuple[str, str | None, Any]]:
    with rt.unit() as ctx:
        rows = notify.list_deliveries(ctx.session, shop_id, endpoint_id=endpoint_id, limit=10_000)
        assert {d.status for d, _ in rows} == {"pending"}
        return [(e.type, e.rule, (e.payload or {}).get("strategy")) for _, e in reversed(rows)]


def test_X1_A2_A3_A4_every_aftersales_state_change_queues_a_webhook(
    world: World, shop: Any, rt: Runtime
) -> None:
    with rt.unit() as ctx:
        endpoint = notify.create_endpoint(ctx, shop.shop_id, url="https://erp.example/hook")
        assert endpoint.event_types == "*"
        endpoint_id = endpoint.id
    pid = world.product(shop.shop_id, price_fen=5_000)

    # Agreed by a strategy (A2.2): shipping creates the first package, then the request.
    world.strategy(shop.shop_id, "small_amount", threshold_fen=1_000)
    small = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000)
    assert small.status == "refunded"

    # Rejected with evidence (A4).
    rejected = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 2_000)
    with rt.unit("user:1") as ctx:
        ev = aftersales.merchant_upload(ctx, shop.shop_id, rejected.id, "proof.pdf", PDF)
        aftersales.reject(ctx, shop.shop_id, rejected.id, reason="fresh_food", evidence_ids=[ev.id])

    # Refunded by default after 48 h (A3).
    late = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 2_000)
    rt.clock.advance(48 * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert default_refund(ctx) == {"refunded": 1, "failed": 0}

    # Interception succeeds but the fee is left unpaid (待补缴), then collected (A2.3).
    world.strategy(shop.shop_id, "interception")
    world.topup(shop.shop_id, 10_000)
    intercepted_order = world.order(shop.shop_id, [(pid, 1)], verified=True)
    world.apply(shop.shop_id, intercepted_order, 5_000)
    with rt.unit() as ctx:
        ledger.move(
            ctx,
            shop.shop_id,
            source=Account.BALANCE,
            target=Account.DEPOSIT,
            amount_fen=10_000,
            key="webhook-test-to-deposit",
            kind="balance_to_deposit",
        )
    rt.clock.advance(rt.settings.aftersales.interception_response_hours * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert interceptions(ctx) == {"succeeded": 1, "failed": 0}
    world.topup(shop.shop_id, rt.settings.aftersales.interception_fee_fen)
    with rt.unit() as ctx:
        assert collect_fees(ctx) == {"collected": 1, "still_unpaid": 0}

    queued = _queued(rt, shop.shop_id, endpoint_id)
    for expected in [
        ("package.created", "A2", None),
        ("aftersale.created", "A1", None),
        ("aftersale.agreed", "A2.2", "small_amount"),
        ("aftersale.refunded", "A6", "small_amount"),
        ("aftersale.rejected", "A4", None),
        ("aftersale.agreed", "A3", None),
        ("aftersale.refunded", "A6", None),
        ("package.interception_requested", "A2.3", None),
        ("package.intercepted", "A2.3", None),
        ("aftersale.agreed", "A2.3", "interception"),
        ("package.interception_fee_unpaid", "A2.3", None),
        ("package.interception_fee_collected", "A2.3", None),
    ]:
        assert expected in queued, expected
    # One package.created per shipped order (the first package is an event too).
    assert [t for t, _, _ in queued].count("package.created") == 4
    # The 待补缴 and 补扣 events come once each, in that order.
    fee_events = [t for t, _, _ in queued if t.startswith("package.interception_fee_")]
    assert fee_events == ["package.interception_fee_unpaid", "package.interception_fee_collected"]
    with rt.unit() as ctx:
        # Every event of the shop has its delivery: none is left out of the fan-out.
        events = ctx.session.query(Event).filter(Event.shop_id == shop.shop_id).count()
        assert events == len(queued)
        assert ledger.audit(ctx.session) == []
    assert world.request(shop.shop_id, late.id).decided_rule == "A3"

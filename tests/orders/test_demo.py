"""The orders demo seed: every state, some violations and deductions, idempotent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from xiaodian.ledger import service as ledger
from xiaodian.orders import demo
from xiaodian.orders.models import Order, OrderViolation, Product
from xiaodian.runtime import Runtime


def test_O6_O8_demo_seed_has_every_state_and_violations(rt: Runtime, shop: Any) -> None:
    demo.seed(rt, shop.shop_id, None)
    with rt.unit() as ctx:
        statuses = Counter(ctx.session.scalars(select(Order.status)))
        assert set(statuses) == {
            "pending_payment",
            "awaiting_shipment",
            "shipped",
            "completed",
            "closed",
        }
        assert 55 <= sum(statuses.values()) <= 70
        penalties = Counter(ctx.session.scalars(select(OrderViolation.penalty_status)))
        assert penalties["deducted"] > 0 and penalties["pending"] > 0
        assert ctx.session.scalar(select(func.count()).where(Product.banned_at.is_not(None))) == 1
        assert ledger.audit(ctx.session) == []
        before = ctx.session.scalar(select(func.count()).select_from(Order))
    demo.seed(rt, shop.shop_id, None)
    with rt.unit() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Order)) == before

"""The after-sales demo seed: requests in every state, each rule and strategy, idempotent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from xiaodian.aftersales import demo
from xiaodian.aftersales.models import AfterSaleRequest, RequestHistory
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.runtime import Runtime


def test_A1_A6_demo_seed_every_state_and_rule(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 500_000, "demo-test-balance")
    demo.seed(rt, shop.shop_id, None)
    demo.seed(rt, shop.shop_id, None)  # idempotent
    with rt.unit() as ctx:
        statuses = Counter(ctx.session.scalars(select(AfterSaleRequest.status)))
        assert {
            "pending",
            "agreed_on_refusal",
            "awaiting_return",
            "refunded",
            "rejected",
            "withdrawn",
        } <= set(statuses)
        assert sum(statuses.values()) == 16
        rules = {r for r in ctx.session.scalars(select(RequestHistory.rule)) if r}
        assert {"A1", "A2.1", "A2.2", "A2.3", "A2.4", "A3", "A4", "A5", "A6"} <= rules
        assert ledger.balance(ctx.session, shop.shop_id, Account.PLATFORM_FEES) == 300
        assert ledger.audit(ctx.session) == []

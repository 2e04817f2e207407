"""F1 the platform's other decisions, each an event naming the operator and the rule:
product unbans (O8), shop review flags with sanctions that take effect (O8 停业整改 / 清退,
notices to the merchant) and 平台介入 in an after-sale the merchant rejected (A4 → refund
through the usual refund path). Over real HTTP against the real app."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.aftersales.conftest import World, png_bytes
from tests.orders.conftest import Shopper
from tests.platform.conftest import OperatorFixture, op_token
from xiaodian import scheduler
from xiaodian.aftersales import service as aftersales
from xiaodian.coupons import service as coupons
from xiaodian.coupons.models import CampaignStatus
from xiaodian.errors import Conflict
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerTxn
from xiaodian.notify.models import Event, Notice
from xiaodian.orders import sweeps as order_rules
from xiaodian.orders.models import Product
from xiaodian.platform import service
from xiaodian.platform.models import ShopSanction
from xiaodian.runtime import Runtime

DAY = 86400


def _events(rt: Runtime, type_: str) -> list[Event]:
    with rt.unit() as ctx:
        return list(ctx.session.scalars(select(Event).where(Event.type == type_)))


def _notices(rt: Runtime, shop_id: int) -> list[Notice]:
    with rt.unit() as ctx:
        return list(
            ctx.session.scalars(select(Notice).where(Notice.shop_id == shop_id).order_by(Notice.id))
        )


def _late_shop(rt: Runtime, shop: Any, shopper: Shopper) -> tuple[int, int]:
    """O7/O8: an order never shipped is judged three times: its product is banned and the
    shop is flagged for review."""
    product_id = shopper.product(shop.shop_id)
    order_id = shopper.order(shop.shop_id, product_id)
    scheduler.advance(rt, 5 * DAY, sweeps=order_rules.SWEEPS)
    return product_id, order_id


def test_F1_operator_unbans_a_product_and_it_sells_again(
    rt: Runtime, shop: Any, shopper: Shopper, op_client: TestClient, operator: OperatorFixture
) -> None:
    product_id, _ = _late_shop(rt, shop, shopper)
    with rt.unit() as ctx:
        assert ctx.session.get(Product, product_id).banned_at is not None
    page = op_client.get("/operator/products")
    assert f'data-product-id="{product_id}"' in page.text
    token = op_token(op_client, "/operator/products")
    done = op_client.post(
        f"/operator/products/{product_id}/unban",
        data={"csrf_token": token, "note": "商家已整改发货流程"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with rt.unit() as ctx:
        assert ctx.session.get(Product, product_id).banned_at is None
    (event,) = _events(rt, "platform.product_unbanned")
    assert (event.rule, event.actor, event.payload["operator_id"]) == (
        "O8", operator.actor, operator.operator_id,
    )  # fmt: skip
    assert any("解除封禁" in n.title for n in _notices(rt, shop.shop_id))
    shopper.order(shop.shop_id, product_id)  # sellable again
    again = op_client.post(
        f"/operator/products/{product_id}/unban", data={"csrf_token": token, "note": ""}
    )
    assert again.status_code == 409 and "商品未被封禁" in again.text


def test_F1_suspension_stops_new_orders_and_pauses_campaigns(
    rt: Runtime, shop: Any, shopper: Shopper, op_client: TestClient, operator: OperatorFixture
) -> None:
    product_id, order_id = _late_shop(rt, shop, shopper)
    other_product = shopper.product(shop.shop_id, title="帆布包")
    with rt.unit("user:1") as ctx:
        from tests.coupons.helpers import draft

        coupon = coupons.create_coupon(ctx, shop.shop_id, draft())
    scheduler.advance(rt, 1800, sweeps=[])
    with rt.unit() as ctx:
        coupons.finalize_reviews(ctx)
    with rt.unit("user:1") as ctx:
        campaign = coupons.create_campaign(
            ctx,
            shop.shop_id,
            coupons.CampaignDraft(
                name="开业领券",
                starts_at=ctx.now,
                ends_at=ctx.now + (30 * 86400) * __import__("datetime").timedelta(seconds=1),
                coupon_ids=[coupon.id],
                per_user_limit=1,
                total_limit=100,
            ),
        )
    page = op_client.get("/operator/shops")
    assert "停业整改" in page.text and f"#{order_id}" in page.text
    with rt.unit() as ctx:
        ((flag, _),) = service.review_flags(ctx.session)
    token = op_token(op_client, "/operator/shops")
    missing = op_client.post(
        f"/operator/shops/flags/{flag.id}",
        data={"csrf_token": token, "decision": "suspend", "reason": ""},
    )
    assert missing.status_code == 422
    done = op_client.post(
        f"/operator/shops/flags/{flag.id}",
        data={"csrf_token": token, "decision": "suspend", "reason": "多次发货超时未处理"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with pytest.raises(Conflict) as refused:
        shopper.order(shop.shop_id, other_product)
    assert refused.value.code == "shop_suspended" and refused.value.rule == "O8"
    with rt.unit() as ctx:
        assert coupons.get_campaign(ctx.session, shop.shop_id, campaign.id).status == (
            CampaignStatus.OFFLINE
        )
        sanction = ctx.session.scalars(select(ShopSanction)).one()
        assert (sanction.state, sanction.decided_by) == ("suspended", operator.actor)
    (event,) = _events(rt, "platform.shop_decided")
    assert event.rule == "O8" and event.actor == operator.actor
    assert event.payload["decision"] == "suspend"
    assert event.payload["campaigns_paused"] == [campaign.id]
    notice = [n for n in _notices(rt, shop.shop_id) if "平台审核结果" in n.title][-1]
    assert "停业整改" in notice.title and "多次发货超时未处理" in notice.body
    assert product_id  # the banned product stays banned (a separate decision)


def test_F1_clear_out_closes_the_shop_and_settles_balance_through_the_ledger(
    rt: Runtime, shop: Any, shopper: Shopper, operator: OperatorFixture
) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 8_000, "bal-1")
        ledger.topup(ctx, shop.shop_id, Account.DEPOSIT, 500, "dep-1")
    _late_shop(rt, shop, shopper)
    scheduler.advance(rt, 2 * DAY, sweeps=order_rules.SWEEPS)  # O8 deductions: deposit < 0
    with rt.unit() as ctx:
        before = ledger.balances(ctx.session, shop.shop_id)
        ((flag, _),) = service.review_flags(ctx.session)
    assert before[Account.DEPOSIT] < 0 < before[Account.BALANCE]
    with rt.unit(operator.actor) as ctx:
        service.decide_shop(ctx, flag.id, "clear_out", "长期违规，予以清退")
    with rt.unit() as ctx:
        after = ledger.balances(ctx.session, shop.shop_id)
        kinds = set(
            ctx.session.scalars(
                select(LedgerTxn.kind).where(LedgerTxn.ref_type == "shop_review_flag")
            )
        )
        assert ledger.audit(ctx.session, shop.shop_id) == []
        assert service.sanction_of(ctx.session, shop.shop_id) == "closed"
    assert after[Account.BALANCE] == 0 and after[Account.DEPOSIT] == 0
    assert kinds == {"clear_out_cover_deposit", "clear_out_balance_payout"}
    (event,) = _events(rt, "platform.shop_decided")
    settled = event.payload["settlement"]
    assert settled["deposit_topped_up_fen"] == -before[Account.DEPOSIT]
    assert settled["balance_paid_out_fen"] == before[Account.BALANCE] + before[Account.DEPOSIT]
    with pytest.raises(Conflict):
        shopper.order(shop.shop_id, shopper.product(shop.shop_id))


def _rejected(world: World, rt: Runtime, shop: Any) -> Any:
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000)
    with rt.unit("user:1") as ctx:
        ev = aftersales.merchant_upload(ctx, shop.shop_id, req.id, "chat.png", png_bytes()).id
    with rt.unit("user:1") as ctx:
        aftersales.reject(ctx, shop.shop_id, req.id, reason="agreed_with_buyer", evidence_ids=[ev])
    return req


def test_F1_platform_intervention_overturns_a_rejection_into_a_refund(
    rt: Runtime, shop: Any, world: World, op_client: TestClient, operator: OperatorFixture
) -> None:
    req = _rejected(world, rt, shop)
    escrow = world.balance(shop.shop_id, Account.ORDER_ESCROW)
    page = op_client.get("/operator/aftersales")
    assert f'data-request-id="{req.id}"' in page.text
    token = op_token(op_client, "/operator/aftersales")
    done = op_client.post(
        f"/operator/aftersales/{req.id}",
        data={"csrf_token": token, "decision": "overturn", "reason": "聊天记录不能证明协商一致"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    final = world.request(shop.shop_id, req.id)
    assert final.status == "refunded"
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == escrow - 1_000
    actions = [a for a, _, _ in world.history(shop.shop_id, req.id)]
    assert actions[-2:] == ["platform_overturned", "refunded"]
    (event,) = _events(rt, "platform.aftersale_intervened")
    assert (event.shop_id, event.rule, event.actor) == (shop.shop_id, "A4", operator.actor)
    assert event.payload["decision"] == "overturn" and event.payload["amount_fen"] == 1_000
    assert any("平台介入" in n.title for n in _notices(rt, shop.shop_id))
    again = op_client.post(
        f"/operator/aftersales/{req.id}",
        data={"csrf_token": token, "decision": "overturn", "reason": "再次"},
    )
    assert again.status_code == 404 or again.status_code == 409


def test_F1_platform_intervention_may_uphold_the_rejection(
    rt: Runtime, shop: Any, world: World, operator: OperatorFixture
) -> None:
    req = _rejected(world, rt, shop)
    with rt.unit(operator.actor) as ctx:
        service.intervene(ctx, req.id, "uphold", "证据充分")
    assert world.request(shop.shop_id, req.id).status == "rejected"
    (event,) = _events(rt, "platform.aftersale_intervened")
    assert event.payload["decision"] == "uphold" and event.payload["amount_fen"] == 0

"""A2: each assistant strategy firing and not firing at its boundary; every automatic decision
names its strategy and rule id; A2 permissions for sub-accounts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.aftersales.conftest import World
from xiaodian.accounts import service as accounts
from xiaodian.aftersales import logistics, strategies
from xiaodian.aftersales import service as aftersales
from xiaodian.errors import PermissionDenied
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify.models import Notice
from xiaodian.runtime import Runtime


def test_A2_small_amount_threshold_equal_agrees(world: World, shop: Any) -> None:
    world.strategy(shop.shop_id, "small_amount", threshold_fen=1_000)
    pid = world.product(shop.shop_id, price_fen=5_000)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 1_000)
    assert req.status == "refunded"
    assert req.decided_rule == "A2.2" and req.decided_strategy == "small_amount"
    assert ("agreed", "A2.2", "small_amount") in world.history(shop.shop_id, req.id)
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 4_000


def test_A2_small_amount_threshold_one_fen_above_does_not_agree(world: World, shop: Any) -> None:
    world.strategy(shop.shop_id, "small_amount", threshold_fen=1_000)
    pid = world.product(shop.shop_id, price_fen=5_000)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 1_001)
    assert req.status == "pending" and req.decided_strategy is None
    assert req.due_at is not None


def test_A2_small_amount_disabled_does_not_fire(world: World, shop: Any) -> None:
    world.strategy(shop.shop_id, "small_amount", enabled=False, threshold_fen=10_000)
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 100)
    assert req.status == "pending"


def test_A2_erp_cancel_shipment_agrees_at_once(world: World, shop: Any, rt: Runtime) -> None:
    world.strategy(shop.shop_id, "erp_cancel")
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 5_000)
    assert req.status == "pending"
    with rt.unit("app:1") as ctx:
        logistics.cancel_shipment(ctx, shop.shop_id, order)
    done = world.request(shop.shop_id, req.id)
    assert done.status == "refunded" and done.decided_rule == "A2.1"
    assert done.decided_strategy == "erp_cancel"
    assert [p.status for p in world.packages(shop.shop_id, order)] == ["cancelled"]


def test_A2_erp_cancel_disabled_records_cancel_but_merchant_decides(
    world: World, shop: Any, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 5_000)
    with rt.unit("app:1") as ctx:
        logistics.cancel_shipment(ctx, shop.shop_id, order)
    assert world.request(shop.shop_id, req.id).status == "pending"


def _two_packages(
    world: World, shop: Any, rt: Runtime, *, verified: bool = False
) -> tuple[int, int, int]:
    """An order of a cup and a pot shipped in two packages: (order, cup item, pot item)."""
    cup, pot = world.product(shop.shop_id), world.product(shop.shop_id, title="茶壶")
    order = world.order(shop.shop_id, [(cup, 1), (pot, 1)], verified=verified)
    (cup_item, _), (pot_item, _) = world.items(shop.shop_id, order)
    with rt.unit("user:1") as ctx:
        logistics.split(
            ctx,
            shop.shop_id,
            order,
            carrier_code="ZTO",
            tracking_no="731234567890",
            items=[(pot_item, 1)],
        )
    return order, cup_item, pot_item


def _erp_cancel(rt: Runtime, shop_id: int, order: int) -> None:
    with rt.unit("app:1") as ctx:
        logistics.cancel_shipment(ctx, shop_id, order)


def test_A2_erp_cancel_all_covered_packages_cancelled_agrees(
    world: World, shop: Any, rt: Runtime
) -> None:
    """A2.1: the request covers both packages; the ERP cancels both → refunded at once."""
    world.strategy(shop.shop_id, "erp_cancel")
    order, _, _ = _two_packages(world, shop, rt)
    req = world.apply(shop.shop_id, order, 10_000)
    assert req.status == "pending"
    _erp_cancel(rt, shop.shop_id, order)
    done = world.request(shop.shop_id, req.id)
    assert (done.status, done.decided_rule, done.decided_strategy) == (
        "refunded",
        "A2.1",
        "erp_cancel",
    )
    assert [p.status for p in world.packages(shop.shop_id, order)] == ["cancelled", "cancelled"]


def test_A2_erp_cancel_one_of_two_covered_packages_does_not_agree(
    world: World, shop: Any, rt: Runtime
) -> None:
    """A2.1: one of the two packages was delivered before the ERP cancelled the other; the
    buyer may hold the goods, so the merchant decides — on the ERP event and on a new request
    alike (one rule)."""
    world.strategy(shop.shop_id, "erp_cancel")
    order, _, _ = _two_packages(world, shop, rt)
    first, _second = world.packages(shop.shop_id, order)
    world.event(shop.shop_id, first.id, "delivered")
    req = world.apply(shop.shop_id, order, 10_000)
    _erp_cancel(rt, shop.shop_id, order)
    after = world.request(shop.shop_id, req.id)
    assert after.status == "pending" and after.decided_strategy is None
    assert after.due_at is not None  # the A3 deadline still runs
    assert ("erp_cancel_not_applied", "A2.1", "erp_cancel") in world.history(shop.shop_id, req.id)
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 10_000
    with rt.unit("buyer") as ctx:  # the new-request path says the same
        request = aftersales.get_request(ctx.session, shop.shop_id, req.id)
        applies, why = strategies.erp_cancel_applies(ctx.session, request)
    assert not applies and first.tracking_no in why


def test_A2_erp_cancel_new_request_covering_only_cancelled_package_agrees(
    world: World, shop: Any, rt: Runtime
) -> None:
    """A2.1 on a new request: the delivered package holds only items not asked for, the
    covered one was cancelled by the ERP → agreed; asking for both items → not agreed."""
    world.strategy(shop.shop_id, "erp_cancel")
    order, _cup_item, pot_item = _two_packages(world, shop, rt)
    first, _second = world.packages(shop.shop_id, order)
    world.event(shop.shop_id, first.id, "delivered")  # the cup arrived
    _erp_cancel(rt, shop.shop_id, order)  # the pot's package is cancelled
    both = world.apply(shop.shop_id, order, 10_000)
    assert both.status == "pending"
    with rt.unit(f"buyer:{both.buyer_id}") as ctx:
        aftersales.withdraw(ctx, both.buyer_id, both.id)
    pot_only = world.apply(shop.shop_id, order, 5_000, items=[(pot_item, 1)])
    assert pot_only.status == "refunded" and pot_only.decided_rule == "A2.1"


def test_A2_erp_cancel_disabled_new_request_on_cancelled_shipment_waits(
    world: World, shop: Any, rt: Runtime
) -> None:
    world.strategy(shop.shop_id, "erp_cancel", enabled=False)
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    _erp_cancel(rt, shop.shop_id, order)
    req = world.apply(shop.shop_id, order, 5_000)
    assert req.status == "pending" and req.decided_strategy is None
    assert ("erp_cancel_not_applied", "A2.1", "erp_cancel") not in world.history(
        shop.shop_id, req.id
    )


def _interception_setup(world: World, shop: Any, *, verified: bool = True) -> tuple[int, int]:
    world.strategy(shop.shop_id, "interception")
    world.topup(shop.shop_id, 10_000)
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 2)], verified=verified)
    return pid, order


def test_A2_interception_one_package_all_items_succeeds_refund_and_fee(
    world: World, shop: Any, rt: Runtime
) -> None:
    _, order = _interception_setup(world, shop)
    req = world.apply(shop.shop_id, order, 10_000)
    assert req.status == "pending"
    (package,) = world.packages(shop.shop_id, order)
    assert package.interception == "requested"
    assert ("interception_requested", "A2.3", "interception") in world.history(shop.shop_id, req.id)
    # The local carrier answers after interception_response_hours (a sweep).
    from xiaodian.aftersales.sweeps import interceptions

    rt.clock.advance(3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert interceptions(ctx) == {"succeeded": 0, "failed": 0}
    rt.clock.advance(3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert interceptions(ctx) == {"succeeded": 1, "failed": 0}
    with rt.unit() as ctx:
        assert interceptions(ctx) == {"succeeded": 0, "failed": 0}  # idempotent
    done = world.request(shop.shop_id, req.id)
    assert done.status == "refunded" and done.decided_rule == "A2.3"
    fee = rt.settings.aftersales.interception_fee_fen
    assert world.balance(shop.shop_id, Account.BALANCE) == 10_000 - fee
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == fee
    (package,) = world.packages(shop.shop_id, order)
    assert package.status == "intercepted" and package.fee_status == "charged"
    # The fee is charged once even if charged again (idempotency key).
    with rt.unit() as ctx:
        p = logistics.get_package(ctx.session, shop.shop_id, package.id)
        p.fee_status = ""
        logistics.charge_interception_fee(ctx, p)
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == fee
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []
        calls = logistics.carrier_log(ctx.session, shop.shop_id, package.id)
        assert [c.operation for c in calls] == [
            "picked_up",
            "request_interception",
            "intercept_succeeded",
        ]


def test_A2_interception_fee_left_unpaid_is_collected_once_after_a_top_up(
    world: World, shop: Any, rt: Runtime
) -> None:
    """A2.3: the interception succeeds but the balance no longer covers the fee (待补缴);
    the collection sweep charges it once the balance does, exactly once."""
    from xiaodian.aftersales.sweeps import collect_fees, interceptions

    _, order = _interception_setup(world, shop)
    req = world.apply(shop.shop_id, order, 10_000)
    with rt.unit() as ctx:  # the merchant moves the balance into the deposit meanwhile
        ledger.move(
            ctx,
            shop.shop_id,
            source=Account.BALANCE,
            target=Account.DEPOSIT,
            amount_fen=10_000,
            key="to-deposit",
            kind="balance_to_deposit",
        )
    rt.clock.advance(2 * 3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        assert interceptions(ctx) == {"succeeded": 1, "failed": 0}
    assert world.request(shop.shop_id, req.id).status == "refunded"
    fee = rt.settings.aftersales.interception_fee_fen
    (package,) = world.packages(shop.shop_id, order)
    assert (package.fee_status, package.fee_fen) == ("unpaid", fee)
    with rt.unit() as ctx:
        assert collect_fees(ctx) == {"collected": 0, "still_unpaid": 1}
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == 0

    world.topup(shop.shop_id, fee - 1, key="short")
    with rt.unit() as ctx:
        assert collect_fees(ctx) == {"collected": 0, "still_unpaid": 1}
    world.topup(shop.shop_id, 1, key="enough")
    with rt.unit() as ctx:
        assert collect_fees(ctx) == {"collected": 1, "still_unpaid": 0}
    with rt.unit() as ctx:
        assert collect_fees(ctx) == {"collected": 0, "still_unpaid": 0}  # idempotent
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == fee
    assert world.balance(shop.shop_id, Account.BALANCE) == 0
    (package,) = world.packages(shop.shop_id, order)
    assert package.fee_status == "charged" and package.fee_txn_id is not None
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []
        titles = [n.title for n in ctx.session.scalars(select(Notice).order_by(Notice.id))]
    assert "快递拦截费用扣款失败：账户余额不足" in titles
    assert titles.count("快递拦截费用已补扣") == 1


def test_A2_interception_failure_stays_pending_for_merchant(
    world: World, shop: Any, rt: Runtime
) -> None:
    _, order = _interception_setup(world, shop)
    req = world.apply(shop.shop_id, order, 10_000)
    (package,) = world.packages(shop.shop_id, order)
    with rt.unit() as ctx:
        logistics.set_interception_fault(ctx, shop.shop_id, package.id, True)
    world.event(shop.shop_id, package.id, "intercept_failed")
    after = world.request(shop.shop_id, req.id)
    assert after.status == "pending" and after.due_at is not None
    assert ("interception_failed", "A2.3", "interception") in world.history(shop.shop_id, req.id)
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == 0


def test_A2_interception_unverified_buyer_does_not_fire(world: World, shop: Any) -> None:
    _, order = _interception_setup(world, shop, verified=False)
    world.apply(shop.shop_id, order, 10_000)
    (package,) = world.packages(shop.shop_id, order)
    assert package.interception == ""


def test_A2_interception_partial_items_does_not_fire(world: World, shop: Any) -> None:
    _, order = _interception_setup(world, shop)
    ((item_id, _),) = world.items(shop.shop_id, order)
    world.apply(shop.shop_id, order, 5_000, items=[(item_id, 1)])
    (package,) = world.packages(shop.shop_id, order)
    assert package.interception == ""


def test_A2_interception_two_packages_does_not_fire(world: World, shop: Any, rt: Runtime) -> None:
    _, order = _interception_setup(world, shop)
    ((item_id, _),) = world.items(shop.shop_id, order)
    with rt.unit("user:1") as ctx:
        logistics.split(
            ctx,
            shop.shop_id,
            order,
            carrier_code="ZTO",
            tracking_no="731234567890",
            items=[(item_id, 1)],
        )
    assert len(world.packages(shop.shop_id, order)) == 2
    world.apply(shop.shop_id, order, 10_000)  # both units: spans two packages
    assert [p.interception for p in world.packages(shop.shop_id, order)] == ["", ""]


def test_A2_interception_covers_one_of_two_packages_fully_fires(
    world: World, shop: Any, rt: Runtime
) -> None:
    world.strategy(shop.shop_id, "interception")
    world.topup(shop.shop_id, 10_000)
    order, _cup_item, pot_item = _two_packages(world, shop, rt, verified=True)
    world.apply(shop.shop_id, order, 5_000, items=[(pot_item, 1)])
    first, second = world.packages(shop.shop_id, order)
    assert (first.interception, second.interception) == ("", "requested")


def test_A2_interception_needs_balance_for_fee(world: World, shop: Any) -> None:
    world.strategy(shop.shop_id, "interception")
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)], verified=True)
    world.apply(shop.shop_id, order, 5_000)
    assert world.packages(shop.shop_id, order)[0].interception == ""


def test_A2_refusal_waits_then_refunds_on_refused(world: World, shop: Any) -> None:
    world.strategy(shop.shop_id, "refusal")
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 5_000)
    assert req.status == "agreed_on_refusal" and req.due_at is None
    assert req.decided_rule == "A2.4" and req.decided_strategy == "refusal"
    (package,) = world.packages(shop.shop_id, order)
    world.event(shop.shop_id, package.id, "in_transit")
    assert world.request(shop.shop_id, req.id).status == "agreed_on_refusal"
    world.event(shop.shop_id, package.id, "refused")
    done = world.request(shop.shop_id, req.id)
    assert done.status == "refunded"
    assert ("agreed", "A2.4", "refusal") in world.history(shop.shop_id, req.id)


def test_A2_refusal_delivered_hands_back_to_merchant(world: World, shop: Any, rt: Runtime) -> None:
    world.strategy(shop.shop_id, "refusal")
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, 5_000)
    rt.clock.advance(3600)  # type: ignore[attr-defined]
    (package,) = world.packages(shop.shop_id, order)
    world.event(shop.shop_id, package.id, "delivered")
    back = world.request(shop.shop_id, req.id)
    assert back.status == "pending"
    assert back.due_at == rt.clock.now() + __import__("datetime").timedelta(hours=48)


def test_A2_refusal_not_fired_when_already_delivered(world: World, shop: Any) -> None:
    world.strategy(shop.shop_id, "refusal")
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)])
    world.event(shop.shop_id, world.packages(shop.shop_id, order)[0].id, "delivered")
    assert world.apply(shop.shop_id, order, 5_000).status == "pending"


def test_A2_permissions_main_only_unless_granted(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        main = accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        )
        sub = accounts.create_sub_account(
            ctx,
            main,
            username="kefu_as",
            password="secret-pass-1",
            display_name="客服",
            phone="13900000001",
            permissions=["aftersales.handle"],
        )
        sub_id = sub.id
    with rt.unit() as ctx:
        principal = accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, sub_id)
        )
        with pytest.raises(PermissionDenied):
            principal.require("aftersales.assistant")
        accounts.grant(ctx, main, sub_id, "aftersales.assistant")
    with rt.unit() as ctx:
        principal = accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, sub_id)
        )
        principal.require("aftersales.assistant")
        assert set(strategies.list_strategies(ctx.session, shop.shop_id)) == {
            "erp_cancel",
            "small_amount",
            "interception",
            "refusal",
        }


def test_A2_unshipped_requests_are_not_evaluated(world: World, shop: Any) -> None:
    world.strategy(shop.shop_id, "small_amount", threshold_fen=100_000)
    pid = world.product(shop.shop_id)
    order = world.order(shop.shop_id, [(pid, 1)], ship=False)
    req = world.apply(shop.shop_id, order, 5_000, kind="unshipped_refund")
    assert req.status == "pending" and req.due_at is None
    # Shipping converts it to 已发货仅退款 and the assistant decides.
    world.ship(shop.shop_id, order)
    after = world.request(shop.shop_id, req.id)
    assert after.kind == "shipped_refund" and after.status == "refunded"
    assert after.decided_rule == "A2.2"
    assert aftersales  # module used by helpers

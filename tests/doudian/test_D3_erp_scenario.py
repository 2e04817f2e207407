"""D3/D6 scenario (issue 12): an ERP that only speaks the 抖店 dialect runs its loop against
xiaodian on the simulated clock — token, poll order.searchList, ship with order.logisticsAdd,
poll afterSale.List and refund through afterSale.operate — while the late-shipment rules
(O4/O6/O7, A6) run underneath through the scheduler. (Push, D4, is not part of this session.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.aftersales.conftest import World
from tests.conftest import ShopFixture
from tests.doudian.conftest import DoudianClient
from xiaodian import scheduler
from xiaodian.aftersales import sweeps as aftersales_rules
from xiaodian.orders import sweeps as order_rules
from xiaodian.orders.models import Order, OrderViolation
from xiaodian.runtime import Runtime

H = 3600
SWEEPS = order_rules.SWEEPS + aftersales_rules.SWEEPS
TRACKING = iter(f"SF12345678901{n:02d}" for n in range(10, 99))


def _judgments(rt: Runtime, order_no: str) -> int:
    with rt.unit() as ctx:
        order = ctx.session.scalars(select(Order).where(Order.order_no == order_no)).one()
        return len(
            ctx.session.scalars(
                select(OrderViolation).where(OrderViolation.order_id == order.id)
            ).all()
        )


def _poll_awaiting(erp: DoudianClient) -> list[str]:
    """The ERP's polling loop: every page of 备货中 orders."""
    seen: list[str] = []
    page = 0
    while True:
        data = erp.call(
            "order.searchList",
            {"combine_status": [{"order_status": "2"}], "page": page, "size": 2},
        )
        seen += [o["order_id"] for o in data["shop_order_list"]]
        if (page + 1) * 2 >= data["total"]:
            return seen
        page += 1


def _ship(erp: DoudianClient, order_no: str) -> None:
    erp.call(
        "order.logisticsAdd",
        {"order_id": order_no, "company_code": "shunfeng", "logistics_code": next(TRACKING)},
    )


def test_D3_erp_loop_on_the_simulated_clock(
    shop: ShopFixture, dd: Any, world: World, rt: Runtime
) -> None:
    erp: DoudianClient = dd(shop, sign_method="md5", timestamp_style="beijing")
    erp.login(shop.shop_id)
    product = world.product(shop.shop_id, price_fen=6_800, title="西湖龙井")
    for _ in range(3):
        world.order(shop.shop_id, [(product, 1)], ship=False)

    awaiting = _poll_awaiting(erp)
    assert len(awaiting) == 3
    on_time, shipped_late, refunded = awaiting

    # Ship one on time (10 h after payment).
    scheduler.advance(rt, 10 * H, sweeps=SWEEPS)
    _ship(erp, on_time)
    assert _poll_awaiting(erp) == [shipped_late, refunded]

    # O4/O6: 48 h after payment the other two are judged late, once each.
    scheduler.advance(rt, 39 * H, sweeps=SWEEPS)
    assert (_judgments(rt, on_time), _judgments(rt, shipped_late), _judgments(rt, refunded)) == (
        0,
        1,
        1,
    )
    # The ERP ships one late; the buyer of the other asks for a refund instead.
    _ship(erp, shipped_late)
    with rt.unit() as ctx:
        order_id = ctx.session.scalars(select(Order.id).where(Order.order_no == refunded)).one()
    request = world.apply(shop.shop_id, order_id, 6_800, kind="unshipped_refund")

    # O7: 24 h after the judgment the unshipped, unrefunded order is judged again.
    scheduler.advance(rt, 24 * H, sweeps=SWEEPS)
    assert (_judgments(rt, shipped_late), _judgments(rt, refunded)) == (1, 2)

    # The ERP finds the request and agrees it (201): A6 stops the judgments.
    pending = erp.call("afterSale.List", {"standard_aftersale_status": [6]})
    assert [i["aftersale_info"]["aftersale_id"] for i in pending["items"]] == [str(request.id)]
    info = pending["items"][0]["aftersale_info"]
    assert info["aftersale_type"] == 2 and info["related_id"] == refunded
    erp.call(
        "afterSale.operate",
        {
            "type": 201,
            "items": [{"aftersale_id": info["aftersale_id"], "update_time": info["update_time"]}],
        },
    )
    scheduler.advance(rt, 72 * H, sweeps=SWEEPS)
    assert _judgments(rt, refunded) == 2

    detail = erp.call("order.orderDetail", {"shop_order_id": refunded})["shop_order_detail"]
    assert detail["sku_order_list"][0]["after_sale_info"]["after_sale_status"] == 12
    done = erp.call("afterSale.Detail", {"after_sale_id": info["aftersale_id"]})
    assert done["process_info"]["after_sale_info"]["refund_status"] == 3
    sent = erp.call("order.searchList", {"combine_status": [{"order_status": "3"}]})
    assert {o["order_id"] for o in sent["shop_order_list"]} == {on_time, shipped_late}

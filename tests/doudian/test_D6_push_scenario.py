"""D6 scenario with push (issue 12): the ERP of ``test_D3_erp_scenario`` driven by messages
instead of polling alone. It registers its push URL through the 抖店 gateway, learns of paid
orders from tag 101, reconciles with ``order.searchList``, ships with ``order.logisticsAdd``
and sees tag 102 come back, learns of the refund request from tag 200 and agrees it with
``afterSale.operate`` (then 201 and 206 arrive) — while the late-shipment rules (O4/O6/O7, A6)
run underneath on the simulated clock and the webhook worker delivers to a real HTTP receiver
that verifies every ``event-sign`` from REFERENCE.md alone."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.aftersales.conftest import World
from tests.conftest import ShopFixture
from tests.doudian.conftest import DoudianClient
from tests.doudian.push_receiver import PushReceiver
from tests.notify.test_webhooks import loopback_allowed
from xiaodian import scheduler
from xiaodian.aftersales import sweeps as aftersales_rules
from xiaodian.config import Settings
from xiaodian.notify.webhooks import deliver_due
from xiaodian.orders import sweeps as order_rules
from xiaodian.orders.models import Order, OrderViolation
from xiaodian.runtime import Runtime

H = 3600
SWEEPS = order_rules.SWEEPS + aftersales_rules.SWEEPS


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """S1: the ERP's receiver listens on 127.0.0.1 (allowed only by the development setting)."""
    return loopback_allowed(settings)


def _judgments(rt: Runtime, order_no: str) -> int:
    with rt.unit() as ctx:
        order = ctx.session.scalars(select(Order).where(Order.order_no == order_no)).one()
        return len(
            ctx.session.scalars(
                select(OrderViolation).where(OrderViolation.order_id == order.id)
            ).all()
        )


class Erp:
    """The ERP: its 抖店 SDK client and what its push receiver has taken in so far."""

    def __init__(self, client: DoudianClient, receiver: PushReceiver, rt: Runtime) -> None:
        self.client, self.receiver, self.rt = client, receiver, rt
        self.handled = 0

    def new_messages(self) -> list[dict[str, Any]]:
        """Let the webhook worker run, then take the messages not handled yet."""
        deliver_due(self.rt.factory, self.rt.settings.webhooks, wall=self.rt.wall)
        fresh = self.receiver.messages[self.handled :]
        self.handled = len(self.receiver.messages)
        return fresh

    def ship(self, order_no: str, tracking: str) -> None:
        self.client.call(
            "order.logisticsAdd",
            {"order_id": order_no, "company_code": "shunfeng", "logistics_code": tracking},
        )


def test_D6_erp_loop_driven_by_push_on_the_simulated_clock(
    shop: ShopFixture, dd: Any, world: World, rt: Runtime
) -> None:
    client: DoudianClient = dd(shop, sign_method="md5", timestamp_style="beijing")
    client.login(shop.shop_id)
    with PushReceiver(shop.app_key, shop.secret) as receiver:
        erp = Erp(client, receiver, rt)
        subscribed = client.call(
            "xiaodian.push_url",
            {"url": receiver.url, "tags": ["101", "102", "200", "201", "206"]},
        )
        assert subscribed["tags"] == ["101", "102", "200", "201", "206"]
        product = world.product(shop.shop_id, price_fen=6_800, title="西湖龙井")
        for _ in range(3):
            world.order(shop.shop_id, [(product, 1)], ship=False)

        # Tag 101 tells the ERP which orders to prepare; polling agrees.
        paid = erp.new_messages()
        assert [m["tag"] for m in paid] == ["101", "101", "101"]
        pushed = [str(m["data"]["p_id"]) for m in paid]
        polled = client.call("order.searchList", {"combine_status": [{"order_status": "2"}]})
        assert sorted(pushed) == sorted(o["order_id"] for o in polled["shop_order_list"])
        for order_no in pushed:
            detail = client.call("order.orderDetail", {"shop_order_id": order_no})
            assert detail["shop_order_detail"]["order_status"] == 2
        on_time, shipped_late, refunded = pushed

        # Ship one on time (10 h after payment): tag 102 comes back for it.
        scheduler.advance(rt, 10 * H, sweeps=SWEEPS)
        erp.ship(on_time, "SF1234567890110")
        [shipped] = erp.new_messages()
        assert shipped["tag"] == "102" and str(shipped["data"]["p_id"]) == on_time
        assert shipped["data"]["logistics_msg"]["logistics_code"] == "SF1234567890110"

        # O4/O6: 48 h after payment the other two are judged late; the ERP ships one late.
        scheduler.advance(rt, 39 * H, sweeps=SWEEPS)
        assert (_judgments(rt, shipped_late), _judgments(rt, refunded)) == (1, 1)
        assert erp.new_messages() == []  # judgments are not order messages
        erp.ship(shipped_late, "SF1234567890111")
        assert [(m["tag"], str(m["data"]["p_id"])) for m in erp.new_messages()] == [
            ("102", shipped_late)
        ]

        # The buyer of the third asks for a refund: tag 200 names the request.
        with rt.unit() as ctx:
            order_id = ctx.session.scalars(select(Order.id).where(Order.order_no == refunded)).one()
        world.apply(shop.shop_id, order_id, 6_800, kind="unshipped_refund")
        [applied] = erp.new_messages()
        assert applied["tag"] == "200" and str(applied["data"]["p_id"]) == refunded
        aftersale_id = applied["data"]["aftersale_id"]

        # O7: 24 h after the judgment the unshipped, unrefunded order is judged again.
        scheduler.advance(rt, 24 * H, sweeps=SWEEPS)
        assert _judgments(rt, refunded) == 2

        # The ERP reads the request it was told about and agrees it (201): refunded (206).
        info = client.call("afterSale.Detail", {"after_sale_id": str(aftersale_id)})
        assert info["process_info"]["after_sale_info"]["after_sale_status"] == 6
        client.call("afterSale.operate", {"type": 201, "items": [{"aftersale_id": aftersale_id}]})
        assert [m["tag"] for m in erp.new_messages()] == ["201", "206"]

        # A6: the refunded order is judged no more.
        scheduler.advance(rt, 72 * H, sweeps=SWEEPS)
        assert _judgments(rt, refunded) == 2
        assert erp.new_messages() == []
    assert receiver.rejected == 0

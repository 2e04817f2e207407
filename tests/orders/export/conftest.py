"""O2 export tests: export files go to the test's own directory; a mixed set of orders."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser, browser_page, live_server  # noqa: F401 (fixtures)
from tests.orders.conftest import Shopper
from xiaodian.accounts.models import Buyer
from xiaodian.config import Settings
from xiaodian.orders import service
from xiaodian.runtime import Runtime


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    result = Settings(database_url=db_url, clock_mode="system", secret_key="test-secret-key")
    result.orders.export_dir = str(tmp_path / "exports")
    result.sms.demo_phone = True  # F3: the codes go to the 演示手机, as in xiaodian demo
    return result


@dataclass
class Mixed:
    """Orders in several states; ids newest first as the order list shows them."""

    shop_id: int
    ids: list[int]


def make_mixed_orders(rt: Runtime, people: Shopper, shop_id: int) -> Mixed:
    cup = people.product(shop_id, title="保温杯 500ml", price_fen=5_900)
    tea = people.product(shop_id, title='西湖龙井, "特级"', price_fen=32_805)  # cn-punct: keep
    ids = [
        people.order(shop_id, cup, pay=False, name="张三", phone="13812345678"),
        people.order(shop_id, cup, qty=2, name="李四", phone="13900001111"),
        people.order(shop_id, tea, name="=HYPERLINK(1)", phone="13700002222"),
        people.order(shop_id, tea, qty=3, name="王五", phone="13600003333"),
    ]
    buyer_id, _ = people.buyer("赵六", "13500004444")
    with rt.unit(f"buyer:{buyer_id}") as ctx:
        buyer = ctx.session.get(Buyer, buyer_id)
        assert buyer is not None
        multi = service.place_order(
            ctx,
            buyer,
            shop_id,
            items=[(cup, 1), (tea, 2)],
            address="上海市浦东新区\n世纪大道 1 号",
            payment_route="alipay",
            discount_fen=805,
            receiver_name="赵六",
            receiver_phone="13500004444",
        )
        service.pay_order(ctx, buyer_id, multi.id)
        ids.append(multi.id)
    with rt.unit("user:1") as ctx:
        service.ship_order(ctx, shop_id, ids[1], carrier="顺丰", tracking_no="SF1234567890123")
        service.set_after_sale(ctx, shop_id, ids[3], "in_progress", "A1")
    return Mixed(shop_id=shop_id, ids=sorted(ids, reverse=True))


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))


@pytest.fixture
def mixed(rt: Runtime, shop: Any, shopper: Shopper) -> Mixed:
    return make_mixed_orders(rt, shopper, shop.shop_id)

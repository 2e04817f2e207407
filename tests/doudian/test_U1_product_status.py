"""U1 through the 抖店 dialect: a product the merchant delisted (下架) reads as status 1 (下线)
in product.listV2 and product.detail, the status filter finds it, and listing it again (上架)
brings it back to status 0 (在线)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aftersales.conftest import World
from tests.conftest import ShopFixture
from tests.doudian.conftest import DoudianClient
from xiaodian.orders import service as orders


@pytest.fixture
def erp(shop: ShopFixture, dd: Any) -> DoudianClient:
    client: DoudianClient = dd(shop)
    client.login(shop.shop_id)
    return client


def test_U1_delisted_product_reads_offline_in_the_doudian_dialect(
    shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    on_sale = world.product(shop.shop_id, title="在售杯")
    delisted = world.product(shop.shop_id, title="下架杯")
    with world.rt.unit() as ctx:
        orders.delist_product(ctx, shop.shop_id, delisted)

    def listed(params: dict[str, Any]) -> list[int]:
        return [p["product_id"] for p in erp.call("product.listV2", params)["data"]]

    assert listed({}) == [delisted, on_sale]
    assert listed({"status": 0}) == [on_sale]
    assert listed({"status": 1}) == [delisted]
    assert listed({"status": 2}) == []
    assert erp.call("product.detail", {"product_id": str(delisted)})["status"] == 1
    assert erp.call("product.detail", {"product_id": str(on_sale)})["status"] == 0

    with world.rt.unit() as ctx:
        orders.list_product(ctx, shop.shop_id, delisted)
    assert erp.call("product.detail", {"product_id": str(delisted)})["status"] == 0
    assert listed({"status": 1}) == []

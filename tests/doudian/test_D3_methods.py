"""D3 (issue 12): each 抖店 method, driven through the independent ``DoudianClient``, answers
with the platform's field names, string order ids and enumerations, and acts through the
existing orders / after-sales services (their rules apply unchanged)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aftersales.conftest import World
from tests.conftest import ShopFixture
from tests.doudian.conftest import DoudianClient
from xiaodian.accounts.models import Buyer
from xiaodian.orders import service as orders
from xiaodian.orders.prize import create_prize_order
from xiaodian.runtime import Runtime

H = 3600


@pytest.fixture
def erp(shop: ShopFixture, dd: Any) -> DoudianClient:
    client: DoudianClient = dd(shop)
    client.login(shop.shop_id)
    return client


def _order_no(world: World, shop_id: int, order_id: int) -> str:
    with world.rt.unit() as ctx:
        return orders.get_order(ctx.session, shop_id, order_id).order_no


def _prize_order(world: World, shop_id: int, product_id: int) -> int:
    buyer_id, _ = world.buyer()
    with world.rt.unit() as ctx:
        buyer = ctx.session.get(Buyer, buyer_id)
        assert buyer is not None
        return create_prize_order(
            ctx,
            shop_id,
            buyer,
            product_id,
            address="上海市浦东新区 1 号",
            receiver_name="李四",
            receiver_phone="13900001111",
            source={"win_id": 1},
        ).id


def test_D3_search_list_pages_filters_and_enumerations(
    shop: ShopFixture, erp: DoudianClient, world: World, rt: Runtime
) -> None:
    product = world.product(shop.shop_id, price_fen=3_000, title="福袋奖品杯")
    paid = [world.order(shop.shop_id, [(product, 1)], ship=False) for _ in range(3)]
    rt.clock.advance(H)  # type: ignore[attr-defined]
    shipped = world.order(shop.shop_id, [(product, 2)], ship=True)
    prize = _prize_order(world, shop.shop_id, product)

    first = erp.call("order.searchList", {"page": 0, "size": 2})
    assert first["total"] == 5 and first["page"] == 0 and first["size"] == 2
    assert len(first["shop_order_list"]) == 2
    second = erp.call("order.searchList", {"page": 2, "size": 2})
    assert len(second["shop_order_list"]) == 1
    row = first["shop_order_list"][0]
    assert isinstance(row["order_id"], str) and len(row["order_id"]) == 19
    assert row["shop_id"] == shop.shop_id
    assert isinstance(row["sku_order_list"][0]["order_id"], str)

    awaiting = erp.call("order.searchList", {"combine_status": [{"order_status": "2"}]})
    assert awaiting["total"] == 4  # three paid orders and the prize order: 2 备货中
    assert {o["order_status_desc"] for o in awaiting["shop_order_list"]} == {"备货中"}
    sent = erp.call("order.searchList", {"combine_status": [{"order_status": 3}]})
    assert [o["order_id"] for o in sent["shop_order_list"]] == [
        _order_no(world, shop.shop_id, shipped)
    ]
    both = erp.call("order.searchList", {"combine_status": [{"order_status": "2,3"}]})
    assert both["total"] == 5

    lucky = erp.call("order.searchList", {"trade_type": 11})
    assert [o["order_id"] for o in lucky["shop_order_list"]] == [
        _order_no(world, shop.shop_id, prize)
    ]
    prize_row = lucky["shop_order_list"][0]
    assert prize_row["sku_order_list"][0]["trade_type"] == 11
    assert prize_row["trade_type_desc"] == "0元抽奖（超级福袋）"
    assert prize_row["pay_amount"] == 0

    start = int(rt.clock.now().timestamp()) - 60
    recent = erp.call("order.searchList", {"create_time_start": start})
    assert recent["total"] == 2  # the shipped order and the prize order, an hour later
    oldest_first = erp.call("order.searchList", {"order_by": "create_time", "order_asc": True})
    assert oldest_first["shop_order_list"][0]["order_id"] == _order_no(world, shop.shop_id, paid[0])


def test_D3_update_time_follows_the_orders_history(
    shop: ShopFixture, erp: DoudianClient, world: World, rt: Runtime
) -> None:
    product = world.product(shop.shop_id)
    first = world.order(shop.shop_id, [(product, 1)], ship=False)
    world.order(shop.shop_id, [(product, 1)], ship=False)
    rt.clock.advance(5 * H)  # type: ignore[attr-defined]
    world.ship(shop.shop_id, first)
    since = int(rt.clock.now().timestamp())
    changed = erp.call("order.searchList", {"update_time_start": since})
    assert [o["order_id"] for o in changed["shop_order_list"]] == [
        _order_no(world, shop.shop_id, first)
    ]
    assert changed["shop_order_list"][0]["update_time"] == since
    by_update = erp.call("order.searchList", {"order_by": "update_time"})
    assert by_update["shop_order_list"][0]["order_id"] == _order_no(world, shop.shop_id, first)


def test_D3_order_detail_and_logistics_add(
    shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    product = world.product(shop.shop_id, price_fen=4_500)
    order_id = world.order(shop.shop_id, [(product, 2)], ship=False)
    order_no = _order_no(world, shop.shop_id, order_id)
    detail = erp.call("order.orderDetail", {"shop_order_id": order_no})["shop_order_detail"]
    assert detail["order_id"] == order_no and detail["order_status"] == 2
    assert detail["order_amount"] == 9_000 and detail["pay_amount"] == 9_000
    sku = detail["sku_order_list"][0]
    assert sku["parent_order_id"] == order_no and sku["item_num"] == 2
    assert sku["product_id"] == product and sku["product_name"] == "保温杯"
    assert detail["logistics_info"] == []

    companies = {c["code"]: c for c in erp.call("order.logisticsCompanyList")}
    assert companies["shunfeng"]["name"] == "顺丰速运"

    bad = erp.raw(
        "order.logisticsAdd",
        {"order_id": order_no, "company_code": "shunfeng", "logistics_code": "12345"},
    )
    assert bad["code"] == 50002 and "快递单号格式不正确" in bad["sub_msg"]  # O3's own check
    erp.call(
        "order.logisticsAdd",
        {"order_id": order_no, "company_code": "shunfeng", "logistics_code": "SF1234567890123"},
    )
    shipped = erp.call("order.orderDetail", {"shop_order_id": order_no})["shop_order_detail"]
    assert shipped["order_status"] == 3 and shipped["order_status_desc"] == "已发货"
    assert shipped["logistics_info"][0]["tracking_no"] == "SF1234567890123"
    assert shipped["logistics_info"][0]["company"] == "shunfeng"
    twice = erp.raw(
        "order.logisticsAdd",
        {"order_id": order_no, "company_code": "shunfeng", "logistics_code": "SF1234567890124"},
    )
    assert twice["code"] == 50002 and twice["sub_code"] == "isv.business-failed:not_shippable"


def test_D3_orders_of_another_shop_are_not_found(
    shop: ShopFixture, make_shop: Any, erp: DoudianClient, world: World
) -> None:
    other = make_shop("别家小店")
    product = world.product(other.shop_id)
    order_no = _order_no(world, other.shop_id, world.order(other.shop_id, [(product, 1)]))
    body = erp.raw("order.orderDetail", {"shop_order_id": order_no})
    assert body["code"] == 50002 and "不存在" in body["sub_msg"]
    assert erp.call("order.searchList", {})["total"] == 0


def test_D3_aftersale_list_and_detail(shop: ShopFixture, erp: DoudianClient, world: World) -> None:
    product = world.product(shop.shop_id, price_fen=5_000)
    shipped_order = world.order(shop.shop_id, [(product, 1)], ship=True)
    unshipped_order = world.order(shop.shop_id, [(product, 1)], ship=False)
    returned_order = world.order(shop.shop_id, [(product, 1)], ship=True)
    shipped_req = world.apply(shop.shop_id, shipped_order, 5_000, kind="shipped_refund")
    world.apply(shop.shop_id, unshipped_order, 5_000, kind="unshipped_refund")
    world.apply(shop.shop_id, returned_order, 5_000, kind="return_refund")

    listing = erp.call("afterSale.List", {"page": 0, "size": 10})
    assert listing["total"] == 3 and listing["has_more"] is False
    types = {i["aftersale_info"]["aftersale_type"] for i in listing["items"]}
    assert types == {0, 1, 2}
    info = next(i for i in listing["items"] if i["aftersale_info"]["aftersale_type"] == 1)
    assert info["aftersale_info"]["aftersale_id"] == str(shipped_req.id)
    assert info["aftersale_info"]["aftersale_status"] == 6
    assert info["aftersale_info"]["refund_amount"] == 5_000
    assert info["aftersale_info"]["aftersale_refund_type"] == 0
    assert info["order_info"]["shop_order_id"] == _order_no(world, shop.shop_id, shipped_order)
    assert info["text_part"]["aftersale_type_text"] == "已发货仅退款"
    only_type = erp.call("afterSale.List", {"aftersale_type": 2})
    assert only_type["total"] == 1
    shipped_no = _order_no(world, shop.shop_id, shipped_order)
    by_order = erp.call("afterSale.List", {"order_id": shipped_no})
    assert by_order["total"] == 1
    none = erp.call("afterSale.List", {"standard_aftersale_status": [12]})
    assert none["total"] == 0

    detail = erp.call("afterSale.Detail", {"after_sale_id": str(shipped_req.id)})
    after = detail["process_info"]["after_sale_info"]
    assert after["after_sale_id"] == shipped_req.id and after["after_sale_status"] == 6
    assert after["after_sale_type"] == 1 and after["refund_status"] == 1
    assert after["status_deadline"] > after["apply_time"]  # A3: 48 h to act
    assert detail["order_info"]["shop_order_id"] == int(
        _order_no(world, shop.shop_id, shipped_order)
    )
    assert detail["process_info"]["record_logs_list"][0]["action"] == "created"


def test_D3_reject_reason_codes(erp: DoudianClient) -> None:
    items = erp.call("afterSale.rejectReasonCodeList")["items"]
    by_code = {i["reject_reason_code"]: i for i in items}
    assert by_code[101]["reason"] == "生鲜商品，不支持仅退款"
    assert all(i["evidence_need"] == "Y" for i in items)


def test_D3_operate_201_agrees_and_refunds(
    shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    product = world.product(shop.shop_id)
    order_id = world.order(shop.shop_id, [(product, 1)], ship=True)
    req = world.apply(shop.shop_id, order_id, 5_000)
    data = erp.call(
        "afterSale.operate",
        {"type": 201, "items": [{"aftersale_id": str(req.id), "remark": "同意"}]},
    )
    assert data["items"] == [{"aftersale_id": req.id, "status_code": 0, "status_msg": "success"}]
    assert world.request(shop.shop_id, req.id).status == "refunded"
    detail = erp.call("afterSale.Detail", {"after_sale_id": req.id})["process_info"]
    assert detail["after_sale_info"]["after_sale_status"] == 12
    assert detail["after_sale_info"]["refund_status"] == 3


def test_D3_operate_202_needs_reason_code_and_evidence(
    shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    product = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(product, 1)]), 5_000)
    no_code = erp.raw("afterSale.operate", {"type": 202, "items": [{"aftersale_id": req.id}]})
    assert no_code["code"] == 40001 and "reject_reason_code" in no_code["sub_msg"]
    # A4 (the after-sales service's rule): 定制商品 needs two pieces of evidence.
    one = {"type": 1, "url": "https://img.example.com/chat.png", "desc": "聊天记录"}
    short = erp.raw(
        "afterSale.operate",
        {
            "type": 202,
            "items": [{"aftersale_id": req.id, "reject_reason_code": 102, "evidence": [one]}],
        },
    )
    assert short["code"] == 50002
    assert short["sub_code"] == "isv.business-failed:rejection_needs_evidence"
    assert "举证" in short["sub_msg"] and "本次操作未生效" in short["sub_msg"]
    assert world.request(shop.shop_id, req.id).status == "pending"
    two = [one, {"type": 2, "url": "https://img.example.com/order.mp4", "desc": "定制单"}]
    erp.call(
        "afterSale.operate",
        {
            "type": 202,
            "items": [
                {
                    "aftersale_id": str(req.id),
                    "reject_reason_code": 102,
                    "evidence": two,
                    "remark": "定制商品",
                    "reason": "定制商品不退",
                }
            ],
        },
    )
    rejected = world.request(shop.shop_id, req.id)
    assert rejected.status == "rejected" and rejected.reject_reason == "customized"
    listed = erp.call("afterSale.List", {"aftersale_id": str(req.id)})["items"][0]
    assert listed["aftersale_info"]["aftersale_status"] == 27


def test_D3_operate_update_time_is_an_optimistic_check(
    shop: ShopFixture, erp: DoudianClient, world: World, rt: Runtime
) -> None:
    product = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(product, 1)]), 5_000)
    seen = erp.call("afterSale.Detail", {"after_sale_id": req.id})["process_info"]
    version = seen["after_sale_info"]["update_time"]
    stale = erp.raw(
        "afterSale.operate",
        {"type": 201, "items": [{"aftersale_id": req.id, "update_time": version - 1}]},
    )
    assert stale["code"] == 50002 and "update_time" in stale["sub_msg"]
    assert world.request(shop.shop_id, req.id).status == "pending"
    erp.call(
        "afterSale.operate",
        {"type": 201, "items": [{"aftersale_id": req.id, "update_time": version}]},
    )
    assert world.request(shop.shop_id, req.id).status == "refunded"


def test_D3_operate_is_all_or_nothing_and_at_most_20_items(
    shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    product = world.product(shop.shop_id)
    good = world.apply(shop.shop_id, world.order(shop.shop_id, [(product, 1)]), 5_000)
    ret = world.apply(
        shop.shop_id, world.order(shop.shop_id, [(product, 1)]), 5_000, kind="return_refund"
    )
    body = erp.raw(
        "afterSale.operate",
        {"type": 201, "items": [{"aftersale_id": good.id}, {"aftersale_id": ret.id}]},
    )
    assert body["code"] == 50002 and f"售后单 {ret.id}" in body["sub_msg"]
    assert world.request(shop.shop_id, good.id).status == "pending"  # nothing applied
    many = [{"aftersale_id": i + 1} for i in range(21)]
    assert erp.raw("afterSale.operate", {"type": 201, "items": many})["code"] == 40003
    dup = [{"aftersale_id": good.id}, {"aftersale_id": good.id}]
    assert erp.raw("afterSale.operate", {"type": 201, "items": dup})["code"] == 40003
    assert erp.raw("afterSale.operate", {"type": 999, "items": dup})["code"] == 40003


def test_D3_operate_return_flow_101_then_111(
    shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    product = world.product(shop.shop_id)
    order_id = world.order(shop.shop_id, [(product, 1)])
    req = world.apply(shop.shop_id, order_id, 5_000, kind="return_refund")
    early = erp.raw("afterSale.operate", {"type": 111, "items": [{"aftersale_id": req.id}]})
    assert early["code"] == 50002 and "status_mismatch" in early["sub_code"]
    erp.call("afterSale.operate", {"type": 101, "items": [{"aftersale_id": req.id}]})
    listed = erp.call("afterSale.List", {"aftersale_id": str(req.id)})["items"][0]
    assert listed["aftersale_info"]["aftersale_status"] == 7  # 待买家退货


def test_D3_products(shop: ShopFixture, erp: DoudianClient, world: World) -> None:
    ids = [world.product(shop.shop_id, price_fen=100 * (n + 1), title=f"商品{n}") for n in range(3)]
    listing = erp.call("product.listV2", {"page": 1, "size": 2})
    assert listing["total"] == 3 and listing["page"] == 1 and len(listing["data"]) == 2
    assert listing["data"][0]["product_id"] == ids[-1]
    assert listing["data"][0]["check_status"] == 3 and listing["data"][0]["status"] == 0
    assert erp.call("product.listV2", {"page": 2, "size": 2})["data"][0]["product_id"] == ids[0]
    assert erp.call("product.listV2", {"name": "商品1"})["total"] == 1
    assert erp.raw("product.listV2", {"page": 0})["code"] == 40003  # pages start at 1 here
    detail = erp.call("product.detail", {"product_id": str(ids[1])})
    assert detail["product_id"] == ids[1] and detail["product_id_str"] == str(ids[1])
    assert detail["name"] == "商品1" and detail["discount_price"] == 200
    assert detail["spec_prices"][0]["stock_num"] == 10_000
    assert detail["delivery_method"] == 2  # O4: 48 h


def test_D3_money_and_time_enumerations(
    shop: ShopFixture, erp: DoudianClient, world: World
) -> None:
    product = world.product(shop.shop_id, price_fen=1_999)
    order_id = world.order(shop.shop_id, [(product, 3)], ship=False, discount_fen=97)
    row = erp.call("order.searchList", {})["shop_order_list"][0]
    assert row["order_amount"] == 5_997 and row["pay_amount"] == 5_900
    assert row["promotion_amount"] == 97
    assert row["exp_ship_time"] - row["pay_time"] == 48 * H  # O4
    assert row["b_type"] == 2 and row["order_type"] == 0
    assert row["order_id"] == _order_no(world, shop.shop_id, order_id)


def test_D3_another_shops_requests_and_products_are_out_of_reach(
    shop: ShopFixture, make_shop: Any, erp: DoudianClient, world: World
) -> None:
    """X2 through the dialect: the access token decides the shop."""
    other = make_shop("别家小店")
    product = world.product(other.shop_id)
    req = world.apply(other.shop_id, world.order(other.shop_id, [(product, 1)]), 5_000)
    assert erp.raw("afterSale.Detail", {"after_sale_id": req.id})["code"] == 50002
    operate = erp.raw("afterSale.operate", {"type": 201, "items": [{"aftersale_id": req.id}]})
    assert operate["code"] == 50002 and "不存在" in operate["sub_msg"]
    assert world.request(other.shop_id, req.id).status == "pending"
    assert erp.call("afterSale.List", {})["total"] == 0
    assert erp.raw("product.detail", {"product_id": product})["code"] == 50002
    assert erp.call("product.listV2", {})["total"] == 0

"""O1: the paid-time and shipped-time range filters of the open API select exactly the orders
in [from, to) — the lower bound included, the upper bound excluded — and a time without an
offset is Asia/Shanghai."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.conftest import START
from xiaodian.orders import service
from xiaodian.runtime import Runtime

H = 3600


def _at(when: datetime) -> str:
    return quote(when.isoformat(), safe="")


def _ids(shop: Any, query: str) -> list[int]:
    response = shop.api.get(f"/api/v1/orders?{query}")
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_O1_paid_and_shipped_ranges_exact_at_the_boundaries(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    product = shopper.product(shop.shop_id)
    first = shopper.order(shop.shop_id, product)  # paid at START
    rt.clock.advance(H)
    second = shopper.order(shop.shop_id, product)  # paid at START + 1 h
    rt.clock.advance(H)
    third = shopper.order(shop.shop_id, product)  # paid at START + 2 h
    unpaid = shopper.order(shop.shop_id, product, pay=False)
    rt.clock.advance(H)
    with rt.unit() as ctx:  # shipped at START + 3 h
        service.ship_order(ctx, shop.shop_id, first, carrier="SF", tracking_no="SF1234567890123")
    rt.clock.advance(H)
    with rt.unit() as ctx:  # shipped at START + 4 h
        service.ship_order(ctx, shop.shop_id, third, carrier="SF", tracking_no="SF1234567890124")
    one = START + timedelta(hours=1)

    # paid_from is inclusive, paid_to exclusive; an unpaid order matches no paid range.
    assert _ids(shop, f"paid_from={_at(one)}") == [third, second]
    assert _ids(shop, f"paid_from={_at(one + timedelta(seconds=1))}") == [third]
    assert _ids(shop, f"paid_to={_at(one)}") == [first]
    assert _ids(shop, f"paid_to={_at(one + timedelta(seconds=1))}") == [second, first]
    assert _ids(shop, f"paid_from={_at(one)}&paid_to={_at(one + timedelta(hours=1))}") == [second]
    assert _ids(shop, f"paid_from={_at(START)}&paid_to={_at(START + timedelta(hours=3))}") == [
        third,
        second,
        first,
    ]
    assert unpaid not in _ids(shop, f"paid_to={_at(START + timedelta(days=1))}")
    # The same instant written in Asia/Shanghai without an offset (START is 10:00 there).
    assert _ids(shop, "paid_from=2026-11-02T11:00:00") == [third, second]
    assert _ids(shop, "paid_to=2026-11-02T11:00:00") == [first]

    three, four = START + timedelta(hours=3), START + timedelta(hours=4)
    assert _ids(shop, f"shipped_from={_at(three)}") == [third, first]
    assert _ids(shop, f"shipped_from={_at(three + timedelta(seconds=1))}") == [third]
    assert _ids(shop, f"shipped_to={_at(four)}") == [first]
    assert _ids(shop, f"shipped_from={_at(three)}&shipped_to={_at(four)}") == [first]
    assert _ids(
        shop, f"shipped_from={_at(four)}&shipped_to={_at(four + timedelta(seconds=1))}"
    ) == [third]
    # Ranges combine with each other and with the status filter.
    assert _ids(shop, f"paid_to={_at(one)}&shipped_from={_at(three)}") == [first]
    assert _ids(shop, f"paid_from={_at(one)}&status=awaiting_shipment") == [second]


def test_O1_empty_or_reversed_paid_range_is_422_with_both_languages(shop: Any) -> None:
    at = _at(START)
    for query in (
        f"paid_from={at}&paid_to={at}",
        f"shipped_from={at}&shipped_to={_at(START - timedelta(seconds=1))}",
    ):
        response = shop.api.get(f"/api/v1/orders?{query}")
        assert response.status_code == 422, response.text
        body = response.json()
        (error,) = body["errors"]
        assert "from < to" in error["message_en"], body
        assert error["message_zh"] == "时间范围有误：开始时间须早于结束时间", body
        assert body["message_zh"] and body["message_en"]
    bad = shop.api.get("/api/v1/orders?paid_from=yesterday")
    assert bad.status_code == 422
    assert "query.paid_from" in {e["field"] for e in bad.json()["errors"]}

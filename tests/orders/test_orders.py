"""Products, placing and paying orders (O4), search (O1), shipping one and a batch (O3),
refunds by route with fallback (O5/A6), tenant isolation (X2), ledger (X3), events (X1)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import xlsxwriter
from sqlalchemy import select

from tests.conftest import START
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerTxn
from xiaodian.notify.models import Event
from xiaodian.orders import payments, service
from xiaodian.orders.models import Order, PaymentCall, Product
from xiaodian.runtime import Runtime


def test_O4_buyer_places_and_pays_stock_escrow_and_ship_by(
    rt: Runtime, client: Any, shop: Any, shopper: Any
) -> None:
    product = shopper.product(shop.shop_id, price_fen=5_900, stock=3)
    presale = shopper.product(
        shop.shop_id, title="预售月饼", price_fen=10_000, ship_within_hours=240
    )
    _, token = shopper.buyer()
    auth = {"Authorization": f"Bearer {token}"}
    placed = client.post(
        "/buyer/v1/orders",
        headers=auth,
        json={
            "shop_id": shop.shop_id,
            "items": [{"product_id": product, "qty": 2}],
            "address": "杭州市西湖区",
            "payment_route": "alipay",
            "discount_fen": 800,
        },
    )
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert len(body["order_no"]) == 19 and body["order_no"].isdigit()
    assert body["status"] == "pending_payment"
    assert (body["goods_fen"], body["discount_fen"]) == (11_800, 800)
    paid = client.post(f"/buyer/v1/orders/{body['id']}/pay", headers=auth)
    assert paid.status_code == 200, paid.text
    out = paid.json()
    assert out["status"] == "awaiting_shipment" and out["paid_fen"] == 11_000
    assert out["ship_by"].startswith((START + timedelta(hours=48)).isoformat()[:19])
    # Stock taken atomically: 1 left, so 2 more is refused and changes nothing.
    again = client.post(
        "/buyer/v1/orders",
        headers=auth,
        json={
            "shop_id": shop.shop_id,
            "items": [{"product_id": product, "qty": 2}],
            "address": "杭州市西湖区",
            "payment_route": "alipay",
        },
    )
    assert again.status_code == 409 and again.json()["code"] == "out_of_stock"
    # O4: a product's own promise (pre-sale, 240 h) overrides the 48 h default.
    order_id = shopper.order(shop.shop_id, presale)
    with rt.unit() as ctx:
        assert ctx.session.get(Product, product).stock == 1
        order = ctx.session.get(Order, order_id)
        assert order.ship_by == START + timedelta(hours=240)
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == 21_000
        assert (
            ctx.session.scalars(select(LedgerTxn.idempotency_key))
            .all()
            .count(f"order-pay:{body['id']}")
            == 1
        )
        types = {e.type for e in ctx.session.scalars(select(Event))}
        assert {"order.placed", "order.paid"} <= types
        assert ledger.audit(ctx.session) == []
        calls = ctx.session.scalars(select(PaymentCall)).all()
        assert [c.operation for c in calls] == ["charge", "charge"]


def test_O4_bad_order_lists_every_failing_field(client: Any, shop: Any, shopper: Any) -> None:
    _, token = shopper.buyer(phone="")
    product = shopper.product(shop.shop_id)
    response = client.post(
        "/buyer/v1/orders",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "shop_id": shop.shop_id,
            "items": [{"product_id": product, "qty": 1}],
            "address": "杭州",
            "payment_route": "paypal",
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"payment_route", "receiver_phone"}


def test_O1_search_filters_and_keyset_pages(rt: Runtime, shop: Any, shopper: Any) -> None:
    cup = shopper.product(shop.shop_id, title="保温杯 500ml")
    tea = shopper.product(shop.shop_id, title="西湖龙井")
    ids = [shopper.order(shop.shop_id, cup, name="李四", phone="13900000001") for _ in range(3)]
    rt.clock.advance(3600)
    tea_ids = [shopper.order(shop.shop_id, tea, name="王五", phone="13700000002") for _ in range(2)]
    unpaid = shopper.order(shop.shop_id, tea, pay=False)
    with rt.unit() as ctx:
        service.ship_order(ctx, shop.shop_id, ids[0], carrier="顺丰", tracking_no="SF1234567890123")

    def get(query: str) -> list[int]:
        response = shop.api.get(f"/api/v1/orders?{query}")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert get("status=awaiting_shipment") == [tea_ids[1], tea_ids[0], ids[2], ids[1]]
    assert get("status=pending_payment") == [unpaid]
    assert get("product=%E9%BE%99%E4%BA%95") == [unpaid, *reversed(tea_ids)]  # 龙井
    assert get(f"product={cup}") == list(reversed(ids))
    assert get("product=%E4%B8%8D%E5%AD%98%E5%9C%A8") == []  # 不存在: no product matches
    assert get("product=%25") == []  # a literal %, not a wildcard
    assert get("buyer_name=%E6%9D%8E") == list(reversed(ids))  # 李
    assert get("buyer_phone=13700000002") == list(reversed(tea_ids))
    assert get("buyer_phone=0002") == list(reversed(tea_ids))
    with rt.unit() as ctx:
        number = ctx.session.get(Order, ids[1]).order_no
    assert get(f"order_no={number}") == [ids[1]]
    created_to = (START + timedelta(minutes=30)).isoformat().replace("+", "%2B")
    assert get(f"created_to={created_to}") == list(reversed(ids))
    shipped_from = START.isoformat().replace("+", "%2B")
    assert get(f"shipped_from={shipped_from}") == [ids[0]]
    assert get("violation=none&after_sale=none&status=shipped") == [ids[0]]
    assert get("violation=violated") == []
    # Keyset pages: 2 at a time, following next_before_id, covers all 6 exactly once.
    seen: list[int] = []
    path = "/api/v1/orders?limit=2"
    while True:
        page = shop.api.get(path).json()
        assert "items" in page, page
        seen += [item["id"] for item in page["items"]]
        if page["next_before_id"] is None:
            break
        path = f"/api/v1/orders?limit=2&before_id={page['next_before_id']}"
    assert sorted(seen) == sorted([*ids, *tea_ids, unpaid]) and len(seen) == 6
    # Phones are masked in lists, full in the detail.
    item = shop.api.get("/api/v1/orders?limit=1").json()["items"][0]
    assert item["buyer_phone"] == "137****0002" or item["buyer_phone"].count("*") == 4
    detail = shop.api.get(f"/api/v1/orders/{ids[0]}").json()
    assert detail["buyer_phone"] == "13900000001" and detail["carrier"] == "SF"
    assert [h["to_status"] for h in detail["history"]] == [
        "pending_payment",
        "awaiting_shipment",
        "shipped",
    ]


def test_O1_bad_filters_list_every_failing_field(shop: Any) -> None:
    response = shop.api.get(
        "/api/v1/orders?status=lost&violation=maybe&created_from=2026-11-03&created_to=2026-11-01"
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"query.status", "query.violation"} <= fields


def test_O1_X2_another_shops_order_is_not_found(make_shop: Any, shopper: Any) -> None:
    a, b = make_shop(), make_shop()
    product_id = shopper.product(a.shop_id)
    order_id = shopper.order(a.shop_id, product_id)
    assert b.api.get(f"/api/v1/products/{product_id}").status_code == 404
    assert b.api.get("/api/v1/products").json()["items"] == []
    assert b.api.get(f"/api/v1/orders/violations?order_id={order_id}").json()["items"] == []
    assert b.api.get("/api/v1/orders/rating").json()["base_orders"] == 0
    assert b.api.get(f"/api/v1/orders/{order_id}").status_code == 404
    assert b.api.get("/api/v1/orders").json()["items"] == []
    response = b.api.post(
        f"/api/v1/orders/{order_id}/ship", {"carrier": "SF", "tracking_no": "SF1234567890123"}
    )
    assert response.status_code == 404


def test_O3_ship_validates_tracking_number_per_carrier(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    order_id = shopper.order(shop.shop_id, shopper.product(shop.shop_id))
    bad = shop.api.post(
        f"/api/v1/orders/{order_id}/ship", {"carrier": "中通", "tracking_no": "SF1234567890123"}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tracking_no"
    unknown = shop.api.post(
        f"/api/v1/orders/{order_id}/ship", {"carrier": "火星快递", "tracking_no": "123"}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "carrier"
    for carrier, number in (
        ("顺丰", "SF1234567890123"),
        ("ZTO", "731234567890"),
        ("圆通", "YT1234567890123"),
        ("韵达", "4312345678901"),
        ("申通", "773123456789"),
        ("EMS", "EA123456789CN"),
        ("京东", "JDVA12345678901"),
    ):
        from xiaodian.orders.carriers import find_carrier

        found = find_carrier(carrier)
        assert found is not None and found.pattern.match(number), carrier
    ok = shop.api.post(
        f"/api/v1/orders/{order_id}/ship",
        {"carrier": "顺丰速运", "tracking_no": "sf 1234567890123"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "shipped" and ok.json()["tracking_no"] == "SF1234567890123"
    twice = shop.api.post(
        f"/api/v1/orders/{order_id}/ship", {"carrier": "SF", "tracking_no": "SF1234567890124"}
    )
    assert twice.status_code == 409 and twice.json()["code"] == "not_shippable"
    with rt.unit() as ctx:
        order = ctx.session.get(Order, order_id)
        assert order.next_judge_at is None and order.auto_close_at is None
        event = ctx.session.scalars(select(Event).where(Event.type == "order.shipped")).one()
        assert event.rule == "O3" and event.payload["late"] is False


def _xlsx(rows: list[list[str]]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("发货")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return buffer.getvalue()


def test_O3_batch_import_csv_and_xlsx_per_row_results(
    rt: Runtime, client: Any, shop: Any, shopper: Any
) -> None:
    product = shopper.product(shop.shop_id)
    ids = [shopper.order(shop.shop_id, product) for _ in range(4)]
    unpaid = shopper.order(shop.shop_id, product, pay=False)
    with rt.unit() as ctx:
        nos = [ctx.session.get(Order, i).order_no for i in [*ids, unpaid]]
    csv_text = (
        "订单号,快递公司,快递单号\n"
        f"{nos[0]},顺丰,SF1234567890123\n"
        f"{nos[1]},中通,bad-number\n"
        f"{nos[4]},圆通,YT1234567890123\n"
        "9999999999999999999,韵达,4312345678901\n"
        f"{nos[0]},顺丰,SF1234567890124\n"
    )
    response = _upload(client, shop, "ship.csv", csv_text.encode("utf-8-sig"))
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["total"], out["shipped"], out["errors"]) == (5, 1, 4)
    assert [r["result"] for r in out["rows"]] == ["shipped", "error", "error", "error", "error"]
    assert [r["code"] for r in out["rows"][1:]] == [
        "invalid_shipment",
        "not_shippable",
        "not_found",
        "not_shippable",
    ]
    assert out["rows"][1]["row"] == 3 and "中通" in out["rows"][1]["message_zh"]
    xlsx = _xlsx(
        [
            ["订单号", "快递公司", "快递单号"],
            [nos[2], "京东", "JDVA12345678901"],
            [nos[3], "EMS", "1123456789012"],
        ]
    )
    response = _upload(client, shop, "发货.xlsx", xlsx)
    assert response.json()["shipped"] == 2, response.text
    with rt.unit() as ctx:
        statuses = [ctx.session.get(Order, i).status for i in [*ids, unpaid]]
        assert statuses == ["shipped", "awaiting_shipment", "shipped", "shipped", "pending_payment"]
        assert ctx.session.get(Order, ids[0]).tracking_no == "SF1234567890123"
    missing = _upload(client, shop, "x.csv", "订单号,快递单号\n1,2\n".encode())
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "快递公司"
    wrong = _upload(client, shop, "x.pdf", b"%PDF")
    assert wrong.status_code == 422 and wrong.json()["code"] == "bad_file_type"
    broken = _upload(client, shop, "x.xlsx", b"not a zip")
    assert broken.status_code == 422 and broken.json()["code"] == "bad_xlsx"


def _upload(client: Any, shop: Any, name: str, content: bytes) -> Any:
    import secrets as _secrets

    from xiaodian.signing import signed_headers

    boundary = "xdb" + _secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    path = "/api/v1/orders/ship_batch"
    headers = signed_headers(
        shop.app_key,
        shop.secret,
        "POST",
        path,
        body,
        timestamp=int(shop.api.rt.wall.now().timestamp()),
    )
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    return client.post(path, content=body, headers=headers)


def test_O5_A6_refund_by_original_route_then_fallback(rt: Runtime, shop: Any, shopper: Any) -> None:
    product = shopper.product(shop.shop_id, price_fen=10_000)
    first = shopper.order(shop.shop_id, product, route="wechat")
    second = shopper.order(shop.shop_id, product, route="alipay")
    with rt.unit() as ctx:
        payments.set_fault(ctx, "alipay", "refund", "支付宝账户已注销")
    with rt.unit() as ctx:
        partial = service.refund(ctx, shop.shop_id, first, 3_000, "少发一件", "A6")
        assert (partial.route, partial.fell_back) == ("wechat", False)
        fallback = service.refund(ctx, shop.shop_id, second, 10_000, "协商退款", "A6")
        assert (fallback.route, fallback.fell_back) == ("platform_balance", True)
        assert fallback.failure_reason == "支付宝账户已注销"
    with rt.unit() as ctx:
        assert ctx.session.get(Order, first).after_sale == "partially_refunded"
        closed = ctx.session.get(Order, second)
        assert closed.status == "closed" and closed.after_sale == "refunded"
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == 7_000
        assert ledger.balance(ctx.session, shop.shop_id, Account.BUYER_PLATFORM_BALANCE) == 10_000
        assert ledger.audit(ctx.session) == []
    detail = shop.api.get(f"/api/v1/orders/{second}").json()
    assert detail["refunds"][0]["route"] == "platform_balance"
    assert detail["refunds"][0]["failure_reason"] == "支付宝账户已注销"
    with rt.unit() as ctx:
        try:
            service.refund(ctx, shop.shop_id, first, 7_001, "too much", "A6")
        except Exception as exc:
            assert getattr(exc, "code", "") == "invalid_refund_amount"
        else:  # pragma: no cover
            raise AssertionError("over-refund accepted")


def test_O8_banned_product_cannot_be_bought(rt: Runtime, shop: Any, shopper: Any) -> None:
    product = shopper.product(shop.shop_id)
    with rt.unit() as ctx:
        ctx.session.get(Product, product).banned_at = ctx.now
    try:
        shopper.order(shop.shop_id, product)
    except Exception as exc:
        assert getattr(exc, "code", "") == "product_banned"
    else:  # pragma: no cover
        raise AssertionError("banned product sold")
    assert shop.api.get(f"/api/v1/products/{product}").json()["banned"] is True

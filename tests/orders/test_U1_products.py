"""U1 商品管理 (issue 13) over real HTTP: the open API creates, reads, edits (PATCH), lists
and delists products, adjusts stock, keeps shops apart and checks scopes; buyers cannot order
a delisted or banned product; a product banned by O8 cannot be listed again by the merchant;
the console forms convert 元 to fen exactly, show errors beside their fields, keep the form and
follow the account's grants."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import START, ShopFixture, SignedClient
from tests.orders.conftest import Shopper
from tests.web.conftest import console_login, csrf_from, page_token
from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.orders import service
from xiaodian.orders import sweeps as rules
from xiaodian.orders.models import Product
from xiaodian.runtime import Runtime

HOUR = 3600


def _create(api: SignedClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "保温杯", "price_fen": 5_900, "stock": 10, **fields}
    response = api.post("/api/v1/products", body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _place(client: Any, token: str, shop_id: int, product_id: int, qty: int = 1) -> Any:
    return client.post(
        "/buyer/v1/orders",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "shop_id": shop_id,
            "items": [{"product_id": product_id, "qty": qty}],
            "address": "杭州市西湖区文三路 1 号",
            "payment_route": "wechat",
            "receiver_phone": "13812345678",
        },
    )


def _ban(rt: Runtime, shop: ShopFixture, shopper: Shopper, product_id: int) -> int:
    """Drive the real sweeps: an order paid and never shipped is judged late 3 times (48 h,
    +24 h, +24 h) and its product is banned by O8 at the third judgment."""
    shopper.deposit(shop.shop_id)
    order_id = shopper.order(shop.shop_id, product_id)
    scheduler.advance(rt, 96 * HOUR + 1, sweeps=rules.SWEEPS)
    return order_id


# ----- API ---------------------------------------------------------------------------------


def test_U1_api_create_get_patch_and_ids(shop: ShopFixture) -> None:
    created = _create(shop.api, title="保温杯 500ml", price_fen=5_990, stock=7)
    pid = created["id"]
    assert created["status"] == "on_sale" and created["status_label"] == "在售"
    assert created["listed"] is True and created["banned"] is False
    assert created["effective_ship_within_hours"] == 48 and created["ship_within_hours"] is None

    got = shop.api.get(f"/api/v1/products/{pid}")
    assert got.status_code == 200 and got.json()["title"] == "保温杯 500ml"

    # Partial edit: only what is sent changes.
    patched = shop.api.patch(f"/api/v1/products/{pid}", {"price_fen": 4_990})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["price_fen"], body["title"], body["stock"]) == (4_990, "保温杯 500ml", 7)
    assert body["updated_at"] is not None

    # O4 pre-sale: the product's own promise, then back to the shop default with null.
    presale = shop.api.patch(
        f"/api/v1/products/{pid}", {"title": "  预售月饼礼盒  ", "ship_within_hours": 240}
    ).json()
    assert presale["title"] == "预售月饼礼盒"
    assert (presale["ship_within_hours"], presale["effective_ship_within_hours"]) == (240, 240)
    back = shop.api.patch(f"/api/v1/products/{pid}", {"ship_within_hours": None}).json()
    assert (back["ship_within_hours"], back["effective_ship_within_hours"]) == (None, 48)
    assert back["title"] == "预售月饼礼盒" and back["price_fen"] == 4_990

    stock = shop.api.patch(f"/api/v1/products/{pid}", {"stock": 120}).json()
    assert stock["stock"] == 120


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price_fen": "100"}, "price_fen"),
        ({"price_fen": True}, "price_fen"),
        ({"price_fen": 10.5}, "price_fen"),
        ({"stock": -1}, "stock"),
        ({"ship_within_hours": 0}, "ship_within_hours"),
        ({"ship_within_hours": 24 * 90 + 1}, "ship_within_hours"),
        ({"title": ""}, "title"),
        ({"title": None}, None),
        ({"status": "delisted"}, "status"),
        ({"shop_id": 2}, "shop_id"),
    ],
)
def test_U1_api_patch_is_strict(shop: ShopFixture, body: dict[str, Any], field: str | None) -> None:
    pid = _create(shop.api)["id"]
    response = shop.api.patch(f"/api/v1/products/{pid}", body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["message_zh"] and problem["message_en"]
    if field is not None:
        assert field in response.text
    unchanged = shop.api.get(f"/api/v1/products/{pid}").json()
    assert (unchanged["title"], unchanged["price_fen"], unchanged["stock"]) == ("保温杯", 5_900, 10)


def test_U1_api_title_of_blanks_refused_with_field(shop: ShopFixture) -> None:
    pid = _create(shop.api)["id"]
    response = shop.api.patch(f"/api/v1/products/{pid}", {"title": "   "})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_product"
    assert [e["field"] for e in problem["errors"]] == ["title"]


def test_U1_api_delist_list_and_orders_refused_while_delisted(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    pid = _create(shop.api, stock=5)["id"]
    _, token = shopper.buyer()

    delisted = shop.api.post(f"/api/v1/products/{pid}/delist")
    assert delisted.status_code == 200, delisted.text
    body = delisted.json()
    assert (body["status"], body["status_label"], body["listed"]) == ("delisted", "已下架", False)
    assert body["delisted_at"] is not None
    assert shop.api.post(f"/api/v1/products/{pid}/delist").json()["status"] == "delisted"

    refused = _place(client, token, shop.shop_id, pid)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "product_delisted"
    assert "已下架" in problem["message_zh"] and "delisted" in problem["message_en"]
    assert shop.api.get(f"/api/v1/products/{pid}").json()["stock"] == 5  # nothing taken

    listed = shop.api.post(f"/api/v1/products/{pid}/list")
    assert listed.status_code == 200 and listed.json()["status"] == "on_sale"
    placed = _place(client, token, shop.shop_id, pid, qty=2)
    assert placed.status_code == 201, placed.text
    assert shop.api.get(f"/api/v1/products/{pid}").json()["stock"] == 3

    # Saved as 已下架 at creation: not sellable until listed.
    draft = _create(shop.api, title="新品草稿", listed=False)
    assert draft["status"] == "delisted"
    assert _place(client, token, shop.shop_id, draft["id"]).status_code == 409


def test_U1_api_list_filters_by_status_and_name(
    rt: Runtime, shop: ShopFixture, shopper: Shopper
) -> None:
    cup = _create(shop.api, title="保温杯")["id"]
    mooncake = _create(shop.api, title="月饼礼盒")["id"]
    tea = _create(shop.api, title="红茶礼盒")["id"]
    shop.api.post(f"/api/v1/products/{tea}/delist")
    _ban(rt, shop, shopper, cup)

    def ids(query: str) -> list[int]:
        response = shop.api.get(f"/api/v1/products{query}")
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids("") == [tea, mooncake, cup]
    assert ids("?status=on_sale") == [mooncake]
    assert ids("?status=delisted") == [tea]
    assert ids("?status=banned") == [cup]
    assert ids("?q=%E7%A4%BC%E7%9B%92") == [tea, mooncake]  # 礼盒
    assert ids("?q=%E7%A4%BC%E7%9B%92&status=on_sale") == [mooncake]
    assert shop.api.get("/api/v1/products?status=gone").status_code == 422


def test_U1_api_banned_product_cannot_be_listed_by_merchant(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    pid = _create(shop.api, title="迟发商品", stock=50)["id"]
    order_id = _ban(rt, shop, shopper, pid)

    banned = shop.api.get(f"/api/v1/products/{pid}").json()
    assert (banned["status"], banned["status_label"]) == ("banned", "已封禁")
    assert banned["banned"] is True
    assert banned["ban_rule"] == "O8" and banned["ban_order_id"] == order_id
    assert banned["banned_at"].startswith((START + timedelta(hours=96)).isoformat()[:16])
    assert "O8" in banned["ban_reason"]

    refused = shop.api.post(f"/api/v1/products/{pid}/list")
    assert refused.status_code == 409
    problem = refused.json()
    assert (problem["code"], problem["rule"]) == ("banned_cannot_list", "O8")
    assert "平台运营人员" in problem["message_zh"] and "申诉" in problem["message_zh"]
    assert "platform operator" in problem["message_en"]

    # Delisting stays possible; the product still shows as banned, still not listable.
    assert shop.api.post(f"/api/v1/products/{pid}/delist").json()["status"] == "banned"
    assert shop.api.post(f"/api/v1/products/{pid}/list").status_code == 409
    # Editing (整改) is allowed while banned.
    assert shop.api.patch(f"/api/v1/products/{pid}", {"stock": 60}).json()["stock"] == 60

    # A platform operator lifts the ban; the merchant can then list it again.
    with rt.unit("platform:ops") as ctx:
        service.unban_product(ctx, shop.shop_id, pid, note="已整改")
    assert shop.api.get(f"/api/v1/products/{pid}").json()["status"] == "delisted"
    assert shop.api.post(f"/api/v1/products/{pid}/list").json()["status"] == "on_sale"
    _, token = shopper.buyer()
    assert _place(client, token, shop.shop_id, pid).status_code == 201


def test_U1_api_stock_adjustment(shop: ShopFixture) -> None:
    pid = _create(shop.api, stock=10)["id"]
    assert shop.api.post(f"/api/v1/products/{pid}/stock", {"delta": 5}).json()["stock"] == 15
    assert shop.api.post(f"/api/v1/products/{pid}/stock", {"delta": -15}).json()["stock"] == 0
    below = shop.api.post(f"/api/v1/products/{pid}/stock", {"delta": -1})
    assert below.status_code == 422
    assert below.json()["code"] == "invalid_stock_adjustment"
    assert below.json()["errors"][0]["field"] == "delta"
    assert shop.api.post(f"/api/v1/products/{pid}/stock", {"delta": 0}).status_code == 422
    assert shop.api.post(f"/api/v1/products/{pid}/stock", {"delta": "3"}).status_code == 422
    assert shop.api.get(f"/api/v1/products/{pid}").json()["stock"] == 0


def test_U1_api_presale_ship_by_from_patched_promise(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    """O4: an order paid after the edit is due by the product's own promise."""
    pid = _create(shop.api, title="预售月饼")["id"]
    shop.api.patch(f"/api/v1/products/{pid}", {"ship_within_hours": 360})
    order_id = shopper.order(shop.shop_id, pid)
    order = shop.api.get(f"/api/v1/orders/{order_id}").json()
    assert order["ship_by"].startswith((START + timedelta(hours=360)).isoformat()[:19])


def test_U1_api_other_shop_gets_404_and_changes_nothing(make_shop: Any, shop: ShopFixture) -> None:
    other = make_shop("隔壁小店")
    pid = _create(shop.api, stock=10)["id"]
    for method, path, body in (
        ("GET", f"/api/v1/products/{pid}", None),
        ("PATCH", f"/api/v1/products/{pid}", {"price_fen": 1}),
        ("POST", f"/api/v1/products/{pid}/delist", {}),
        ("POST", f"/api/v1/products/{pid}/list", {}),
        ("POST", f"/api/v1/products/{pid}/stock", {"delta": 5}),
    ):
        response = other.api.request(method, path, body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "not_found"
    assert other.api.get("/api/v1/products").json()["items"] == []
    mine = shop.api.get(f"/api/v1/products/{pid}").json()
    assert (mine["price_fen"], mine["stock"], mine["status"]) == (5_900, 10, "on_sale")


def test_U1_api_scope_orders_required(rt: Runtime, client: Any, shop: ShopFixture) -> None:
    pid = _create(shop.api)["id"]
    with rt.unit() as ctx:
        app = accounts.create_app(ctx, shop.shop_id, "门店系统", ("shop",))
        key, secret = app.app_key, app.secret
    narrow = SignedClient(client, rt, key, secret)
    for method, path, body in (
        ("GET", f"/api/v1/products/{pid}", None),
        ("PATCH", f"/api/v1/products/{pid}", {"price_fen": 1}),
        ("POST", f"/api/v1/products/{pid}/delist", {}),
        ("POST", f"/api/v1/products/{pid}/list", {}),
        ("POST", f"/api/v1/products/{pid}/stock", {"delta": 1}),
    ):
        response = narrow.request(method, path, body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "scope_missing"
    assert shop.api.get(f"/api/v1/products/{pid}").json()["price_fen"] == 5_900


def test_U1_openapi_documents_patch_example_and_delisting(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert "patch" in paths["/api/v1/products/{product_id}"]
    assert "post" in paths["/api/v1/products/{product_id}/delist"]
    assert "post" in paths["/api/v1/products/{product_id}/list"]
    patch_schema = spec["components"]["schemas"]["ProductPatch"]
    assert patch_schema["additionalProperties"] is False
    assert {"price_fen": 4_990, "stock": 120} in patch_schema["examples"]
    assert "/delist" in patch_schema["description"]


# ----- console over HTTP -------------------------------------------------------------------


def test_U1_console_create_converts_yuan_to_fen_exactly(
    rt: Runtime, client: Any, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/products/new")
    for price, fen in (("0.29", 29), ("1.1", 110), ("19.99", 1_999), ("1234567.89", 123_456_789)):
        response = client.post(
            "/console/products/new",
            data={
                "csrf_token": token,
                "title": f"商品 {price}",
                "price": price,
                "stock": "3",
                "ship_within_hours": "",
                "listed": "1",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        pid = int(response.headers["location"].rsplit("/", 1)[1])
        with rt.unit() as ctx:
            product = ctx.session.get(Product, pid)
            assert product is not None and product.price_fen == fen


def test_U1_console_form_errors_inline_and_form_kept(client: Any, shop: ShopFixture) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/products/new")
    response = client.post(
        "/console/products/new",
        data={
            "csrf_token": token,
            "title": "不锈钢保温杯",
            "price": "12.345",
            "stock": "-2",
            "ship_within_hours": "9999",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert 'data-testid="error-price"' in html and "最多两位小数" in html
    assert 'data-testid="error-stock"' in html
    assert 'value="不锈钢保温杯"' in html and 'value="12.345"' in html  # the form kept
    assert 'data-testid="error-title"' not in html
    # A range error from the rules lands beside its field too.
    again = client.post(
        "/console/products/new",
        data={
            "csrf_token": token,
            "title": "不锈钢保温杯",
            "price": "12.30",
            "stock": "2",
            "ship_within_hours": "9999",
        },
    )
    assert again.status_code == 422
    assert re.search(r'data-testid="error-ship_within_hours">[^<]*90 天', again.text)
    assert client.get("/console/products").text.count('data-testid="product-title"') == 0


def test_U1_console_edit_keeps_sales_made_meanwhile(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    pid = shopper.product(shop.shop_id, title="保温杯", price_fen=5_900, stock=10)
    console_login(client, shop.username, shop.password)
    page = client.get(f"/console/products/{pid}").text
    token = csrf_from(page)
    assert 'name="stock_was" value="10"' in page
    shopper.order(shop.shop_id, pid, qty=2)  # a buyer takes 2 while the form is open

    form = {"csrf_token": token, "title": "保温杯 新款", "price": "49.90", "stock_was": "10"}
    # Stock left as shown: the sale is kept, the other fields saved.
    saved = client.post(
        f"/console/products/{pid}",
        data={**form, "stock": "10", "ship_within_hours": "72"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with rt.unit() as ctx:
        product = ctx.session.get(Product, pid)
        assert product is not None
        assert (product.title, product.price_fen, product.stock) == ("保温杯 新款", 4_990, 8)
        assert product.ship_within_hours == 72
    # A new absolute stock typed over a stale one is refused beside the field.
    stale = client.post(
        f"/console/products/{pid}", data={**form, "stock": "30", "ship_within_hours": ""}
    )
    assert stale.status_code == 422
    assert "库存已变化（现为 8）" in stale.text and 'name="stock_was" value="8"' in stale.text


def test_U1_console_delist_list_and_banned_refusal(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    pid = shopper.product(shop.shop_id, title="迟发商品")
    other = shopper.product(shop.shop_id, title="正常商品")
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/products")
    delist = client.post(
        f"/console/products/{other}/delist",
        data={"csrf_token": token, "back": "/console/products?status=on_sale"},
        follow_redirects=False,
    )
    assert delist.headers["location"] == "/console/products?status=on_sale"
    listing = client.get("/console/products?status=delisted").text
    assert "正常商品" in listing and "已下架" in listing and "迟发商品" not in listing

    order_id = _ban(rt, shop, shopper, pid)
    refused = client.post(f"/console/products/{pid}/list", data={"csrf_token": token})
    assert refused.status_code == 200  # followed the redirect to the product page
    assert "上架失败：商品已被平台封禁（规则 O8）" in refused.text
    detail = refused.text
    assert 'data-testid="ban-notice"' in detail and "只有平台运营人员可以解除封禁" in detail
    assert "整改" in detail and "申诉" in detail and f"/console/orders/{order_id}" in detail
    with rt.unit() as ctx:
        product = ctx.session.get(Product, pid)
        assert product is not None and product.banned_at is not None
    banned = client.get("/console/products?status=banned").text
    assert f'data-testid="ban-notice-{pid}"' in banned and "O8" in banned


def test_U1_console_pages_totals_and_search(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    for n in range(23):
        shopper.product(shop.shop_id, title=f"商品{n:02d}", stock=n)
    console_login(client, shop.username, shop.password)
    first = client.get("/console/products").text
    assert "共 23 件商品，第 1–20 件，第 1/2 页" in first
    assert first.count('data-testid="product-title"') == 20
    second = client.get("/console/products?page=2").text
    assert "第 21–23 件，第 2/2 页" in second and 'data-testid="prev-page"' in second
    found = client.get("/console/products?q=%E5%95%86%E5%93%8106").text  # 商品06
    assert found.count('data-testid="product-title"') == 1 and "共 1 件商品" in found
    assert client.get("/console/products?page=abc").status_code in (400, 422)


def test_U1_console_follows_grants(rt: Runtime, client: Any, shop: ShopFixture) -> None:
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        accounts.create_sub_account(
            ctx,
            principal,
            username="viewer01",
            password="viewer-pass-1",
            display_name="只读客服",
            permissions=["orders.view"],
        )
        accounts.create_sub_account(
            ctx,
            principal,
            username="market01",
            password="market-pass-1",
            display_name="营销",
            permissions=["redpackets.manage"],
        )
        pid = service.create_product(ctx, shop.shop_id, title="保温杯", price_fen=100, stock=1).id
    console_login(client, "viewer01", "viewer-pass-1")
    listing = client.get("/console/products")
    assert listing.status_code == 200 and 'data-nav="商品管理"' in listing.text
    assert 'data-testid="new-product"' not in listing.text
    assert f'data-testid="delist-{pid}"' not in listing.text
    assert client.get("/console/products/new").status_code == 403
    token = csrf_from(listing.text)
    refused = client.post(f"/console/products/{pid}/delist", data={"csrf_token": token})
    assert refused.status_code == 403
    client.cookies.clear()
    console_login(client, "market01", "market-pass-1")
    assert client.get("/console/products").status_code == 403
    assert 'data-nav="商品管理"' not in client.get("/console/").text

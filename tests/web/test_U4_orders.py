"""U4 (issue 13): the 订单管理 workflow over real HTTP — numbered pages with the total,
previous/next and the page size; 导出 exports exactly the filter the list shows (no retyping
on 导出记录); the header's global search (order no., phone tail, buyer name).

SQLite by default; PostgreSQL with XIAODIAN_TEST_DATABASE_URL."""

from __future__ import annotations

import html as htmlmod
import itertools
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import ShopFixture
from tests.orders.conftest import Shopper
from tests.web.conftest import console_login
from xiaodian.accounts import service as accounts
from xiaodian.config import Settings
from xiaodian.orders.export import service as export
from xiaodian.orders.export.models import OrderExport
from xiaodian.orders.models import Order
from xiaodian.orders.web import search_query
from xiaodian.runtime import Runtime


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    result = Settings(database_url=db_url, clock_mode="system", secret_key="test-secret-key")
    result.orders.export_dir = str(tmp_path / "exports")
    return result


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))


def _orders_shown(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td><a href="/console/orders/(\d+)">', html)]


def _total(html: str) -> int:
    match = re.search(r'data-testid="order-total">共 (\d+) 条<', html)
    assert match, "no total on the page"
    return int(match.group(1))


def _link(html: str, testid: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" data-testid="{testid}"', html)
    return htmlmod.unescape(match.group(1)) if match else None


def _make_orders(shopper: Shopper, shop_id: int, n: int, **kwargs: Any) -> list[int]:
    product = shopper.product(shop_id)
    return [shopper.order(shop_id, product, **kwargs) for _ in range(n)]


def test_U4_pages_total_prev_next_and_size(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    ids = _make_orders(shopper, shop.shop_id, 23, name="王芳", phone="13911112222")
    other = _make_orders(shopper, shop.shop_id, 2, name="李雷", phone="13933334444")
    console_login(client, shop.username, shop.password)

    first = client.get("/console/orders?buyer_name=王").text
    assert _total(first) == 23 and 'data-testid="order-page">第 1 / 2 页<' in first
    assert len(_orders_shown(first)) == 20 and _link(first, "prev-page") is None
    nxt = _link(first, "next-page")
    assert nxt is not None and dict(parse_qsl(urlsplit(nxt).query)) == {
        "buyer_name": "王",
        "page": "2",
        "size": "20",
    }
    second = client.get(nxt).text
    assert len(_orders_shown(second)) == 3 and _link(second, "next-page") is None
    assert sorted(_orders_shown(first) + _orders_shown(second)) == sorted(ids)
    back = _link(second, "prev-page")
    assert back is not None and _orders_shown(client.get(back).text) == _orders_shown(first)

    # Page sizes 20/50/100: 50 shows every order of the filter on one page, filter kept.
    size_50 = _link(first, "page-size-50")
    assert size_50 is not None and "buyer_name=" in size_50
    whole = client.get(size_50).text
    assert len(_orders_shown(whole)) == 23 and 'data-testid="page-size-current">50<' in whole
    # Unfiltered: all 25; a size not offered falls back to 20; a page past the end shows
    # the last page.
    assert _total(client.get("/console/orders").text) == 25
    odd = client.get("/console/orders?size=7").text
    assert len(_orders_shown(odd)) == 20 and 'data-testid="page-size-current">20<' in odd
    last = client.get("/console/orders?page=99").text
    assert 'data-testid="order-page">第 2 / 2 页<' in last and len(_orders_shown(last)) == 5
    assert set(other) <= set(_orders_shown(client.get("/console/orders?size=100").text))
    assert client.get("/console/orders?page=0").status_code == 422
    assert client.get("/console/orders?page=abc").status_code == 422


def _export_form(html: str) -> dict[str, str]:
    form = re.search(r'<form[^>]*data-testid="order-export">(.*?)</form>', html, re.S)
    assert form, "no 导出 form on 订单管理"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1))
    return {name: htmlmod.unescape(value) for name, value in fields}


def test_U4_export_button_exports_exactly_the_listed_filter(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    _make_orders(shopper, shop.shop_id, 3, name="王芳", phone="13911112222")
    _make_orders(shopper, shop.shop_id, 2, name="王强", phone="13955556666")
    _make_orders(shopper, shop.shop_id, 4, name="李雷", phone="13933334444")
    console_login(client, shop.username, shop.password)
    listed = client.get("/console/orders?buyer_name=王&status=awaiting_shipment&size=50").text
    assert _total(listed) == 5 and "导出当前筛选的 5 条订单" in listed
    fields = _export_form(listed)
    # The filter the list shows (not the page size), and the session's CSRF token.
    assert {k: v for k, v in fields.items() if k != "csrf_token"} == {
        "buyer_name": "王",
        "status": "awaiting_shipment",
    }
    done = client.post("/console/orders/exports", data={**fields, "format": "xlsx"})
    assert done.status_code == 200 and str(done.url).endswith("/console/orders/exports")
    assert "买家姓名=王" in done.text and "订单状态=待发货" in done.text
    with rt.unit() as ctx:
        (record,) = ctx.session.query(OrderExport).all()
        assert record.filter == {"buyer_name": "王", "status": "awaiting_shipment"}
        assert record.format == "xlsx"
        export_id = record.id
    export.run_due_exports(rt, only_id=export_id)
    with rt.unit() as ctx:
        record = ctx.session.get(OrderExport, export_id)
        assert record.status == "done" and record.row_count == 5


def test_U4_export_keeps_the_ship_by_window_of_the_ship_soon_list(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    """The 即将超时 list (U3's link) exported: its 承诺发货时间 bounds go along."""
    soon = shopper.product(shop.shop_id, ship_within_hours=3)
    later = shopper.product(shop.shop_id, ship_within_hours=30)
    shopper.order(shop.shop_id, soon)
    shopper.order(shop.shop_id, later)
    console_login(client, shop.username, shop.password)
    home = client.get("/console/").text
    href = htmlmod.unescape(re.search(r'href="([^"]+)" data-testid="todo-ship_soon"', home)[1])
    listed = client.get(href).text
    assert _total(listed) == 1
    fields = _export_form(listed)
    assert fields["ship_by_from"] == "2026-11-02T10:00:00"  # the clock's now, Shanghai
    assert fields["ship_by_to"] == "2026-11-02T22:00:00"  # + 12 h
    client.post("/console/orders/exports", data={**fields, "format": "csv"})
    with rt.unit() as ctx:
        (record,) = ctx.session.query(OrderExport).all()
        export_id = record.id
    assert "承诺发货时间从" in client.get("/console/orders/exports").text
    export.run_due_exports(rt, only_id=export_id)
    with rt.unit() as ctx:
        record = ctx.session.get(OrderExport, export_id)
        assert record.status == "done" and record.row_count == 1


def test_U4_export_button_needs_the_export_grant(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    _make_orders(shopper, shop.shop_id, 1)
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        accounts.create_sub_account(
            ctx,
            principal,
            username="kefu01",
            password="sub-pass-123",
            display_name="客服",
            permissions=["orders.view"],
        )
    console_login(client, "kefu01", "sub-pass-123")
    page = client.get("/console/orders").text
    assert _total(page) == 1 and 'data-testid="order-export"' not in page
    assert 'data-testid="global-search"' in page


def test_U4_global_search_lands_on_the_list_or_the_order(
    rt: Runtime, client: Any, shop: ShopFixture, shopper: Shopper
) -> None:
    wang = _make_orders(shopper, shop.shop_id, 2, name="王芳", phone="13911118888")
    li = _make_orders(shopper, shop.shop_id, 1, name="李雷", phone="13922228888")
    zhao = _make_orders(shopper, shop.shop_id, 1, name="赵六", phone="13933337777")
    with rt.unit() as ctx:
        order_no = ctx.session.get(Order, li[0]).order_no
    console_login(client, shop.username, shop.password)
    # The box is in the header of every console page.
    for path in ("/console/", "/console/notices", "/console/orders"):
        assert 'data-testid="global-search"' in client.get(path).text, path

    def go(q: str) -> Any:
        return client.get("/console/orders/search", params={"q": q}, follow_redirects=False)

    # One match → the order itself.
    assert go(order_no).headers["location"] == f"/console/orders/{li[0]}"
    assert go(f" {order_no} ").headers["location"] == f"/console/orders/{li[0]}"
    assert go("7777").headers["location"] == f"/console/orders/{zhao[0]}"
    assert go("李雷").headers["location"] == f"/console/orders/{li[0]}"
    # Several → the list filtered by it.
    tail = go("8888")
    assert (
        tail.status_code == 303 and tail.headers["location"] == "/console/orders?buyer_phone=8888"
    )
    listed = client.get(tail.headers["location"]).text
    assert _total(listed) == 3 and 'name="buyer_phone" value="8888"' in listed
    name = go("王")
    assert name.headers["location"].startswith("/console/orders?buyer_name=")
    assert sorted(_orders_shown(client.get(name.headers["location"]).text)) == sorted(wang)
    # None → the (empty) list, with the filter shown; empty → the whole list.
    none = client.get("/console/orders/search", params={"q": "欧阳"})
    assert none.status_code == 200 and _total(none.text) == 0
    assert go("  ").headers["location"] == "/console/orders"
    assert client.get("/console/orders/search", params={"q": "x" * 101}).status_code == 422


def test_U4_global_search_is_hidden_without_orders_grant(
    rt: Runtime, client: Any, shop: ShopFixture
) -> None:
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        accounts.create_sub_account(
            ctx, principal, username="kefu02", password="sub-pass-123", display_name="客服"
        )
    console_login(client, "kefu02", "sub-pass-123")
    assert 'data-testid="global-search"' not in client.get("/console/").text
    assert client.get("/console/orders/search?q=1234").status_code == 403


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("2611021234567890123", {"order_no": "2611021234567890123"}),
        ("261102-1234567890123", {"order_no": "2611021234567890123"}),
        ("8888", {"buyer_phone": "8888"}),
        ("139 1111 8888", {"buyer_phone": "13911118888"}),
        ("王芳", {"buyer_name": "王芳"}),
        ("12", {"buyer_name": "12"}),
        ("", None),
    ],
)
def test_U4_search_box_reading(text: str, query: dict[str, str] | None) -> None:
    assert search_query(text) == query

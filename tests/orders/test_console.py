"""Console pages for orders over HTTP: list and filters (O1), detail and ship form (O3), batch
upload with per-row results (O3), 违规处理 (O6–O8), 店铺评级 with its SVG chart (O9)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.web.conftest import console_login, page_token
from xiaodian import scheduler
from xiaodian.orders import sweeps as rules
from xiaodian.orders.models import Order
from xiaodian.runtime import Runtime


def test_O1_O3_console_list_filter_detail_and_ship(
    rt: Runtime, client: Any, shop: Any, shopper: Any
) -> None:
    product = shopper.product(shop.shop_id, title="西湖龙井")
    ids = [shopper.order(shop.shop_id, product, name="李雷", phone="13911112222") for _ in range(3)]
    console_login(client, shop.username, shop.password)
    page = client.get("/console/orders?status=awaiting_shipment&buyer_name=李")
    assert page.status_code == 200
    assert page.text.count('href="/console/orders/') >= 3 and "139****2222" in page.text
    assert "13911112222" not in page.text
    bad = client.get("/console/orders?created_from=2026-11-05T00:00&created_to=2026-11-01T00:00")
    assert bad.status_code == 200 and 'data-testid="filter-errors"' in bad.text
    token = page_token(client, f"/console/orders/{ids[0]}")
    wrong = client.post(
        f"/console/orders/{ids[0]}/ship",
        data={"csrf_token": token, "carrier": "SF", "tracking_no": "123"},
        headers={"referer": f"http://testserver/console/orders/{ids[0]}"},
    )
    assert wrong.status_code == 422 and "顺丰速运快递单号格式不正确" in wrong.text
    _assert_ship_form_kept(wrong.text, carrier="SF", tracking_no="123")
    jd = client.post(
        f"/console/orders/{ids[0]}/ship",
        data={"csrf_token": token, "carrier": "JD", "tracking_no": "x"},
        headers={"referer": f"http://testserver/console/orders/{ids[0]}"},
    )
    assert jd.status_code == 422
    _assert_ship_form_kept(jd.text, carrier="JD", tracking_no="x")
    ok = client.post(
        f"/console/orders/{ids[0]}/ship",
        follow_redirects=True,
        data={"csrf_token": token, "carrier": "SF", "tracking_no": "SF1234567890123"},
    )
    assert "已发货" in ok.text
    with rt.unit() as ctx:
        assert ctx.session.get(Order, ids[0]).status == "shipped"
    no_csrf = client.post(
        f"/console/orders/{ids[1]}/ship", data={"carrier": "SF", "tracking_no": "SF1234567890123"}
    )
    assert no_csrf.status_code == 403
    assert client.get("/console/orders/999999").status_code == 404


def _assert_ship_form_kept(html: str, *, carrier: str, tracking_no: str) -> None:
    """U8 on the ship form: the refused submit comes back on the detail page with the chosen
    carrier still selected, the typed tracking number kept and the reason beside the field."""
    form = html[html.index('data-testid="ship-form"') :]
    form = form[: form.index("</form>")]
    selected = re.findall(r'<option value="([^"]+)" selected>', form)
    assert selected == [carrier], selected
    assert f'name="tracking_no" value="{tracking_no}"' in form
    assert "field-error" in form


def test_O3_console_batch_upload_shows_each_row(
    rt: Runtime, client: Any, shop: Any, shopper: Any
) -> None:
    product = shopper.product(shop.shop_id)
    ids = [shopper.order(shop.shop_id, product) for _ in range(2)]
    with rt.unit() as ctx:
        nos = [ctx.session.get(Order, i).order_no for i in ids]
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/orders/ship_batch")
    csv_text = f"订单号,快递公司,快递单号\n{nos[0]},韵达,4312345678901\n{nos[1]},韵达,abc\n"
    response = client.post(
        "/console/orders/ship_batch",
        data={"csrf_token": token},
        files={"file": ("发货.csv", csv_text.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert re.search(r'data-testid="batch-shipped">1<', response.text)
    assert re.search(r'data-testid="batch-errors">1<', response.text)
    assert "韵达快递快递单号格式不正确" in response.text


@pytest.mark.parametrize("path", ["/console/orders/violations", "/console/orders/rating"])
def test_O6_O9_console_violations_and_rating(
    rt: Runtime, client: Any, shop: Any, shopper: Any, path: str
) -> None:
    shopper.deposit(shop.shop_id)
    product = shopper.product(shop.shop_id)
    for _ in range(2):
        shopper.order(shop.shop_id, product)
    scheduler.advance(rt, int(timedelta(days=3).total_seconds()), sweeps=rules.SWEEPS)
    console_login(client, shop.username, shop.password)
    page = client.get(path)
    assert page.status_code == 200
    if path.endswith("violations"):
        assert page.text.count("第 2 次") == 2 and "已扣除保证金" in page.text
        assert "2026-11-04 10:00:00" in page.text  # judged at the deadline, Asia/Shanghai
    else:
        assert 'data-testid="rating-chart"' in page.text and "<rect" in page.text
        assert "100.00%" in page.text

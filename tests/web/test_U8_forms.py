"""U8 (issue 13): one way to show form errors — beside the field, the form kept; amounts in
元 (exact, two decimals at most); large amounts confirmed; buyer pages branded as the shop; a
favicon on every layout."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ShopFixture
from tests.web.conftest import console_login, page_token
from xiaodian.accounts.models import Store
from xiaodian.errors import ValidationFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.runtime import Runtime
from xiaodian.web.forms import fen_from_yuan

BASE = "http://testserver"


def _post(client: TestClient, path: str, page: str, data: dict[str, Any]) -> Any:
    """Submit a form the way a browser does: from ``page``, which the Referer names."""
    token = page_token(client, page)
    return client.post(
        path,
        data={"csrf_token": token, **data},
        headers={"Referer": BASE + page},
        follow_redirects=False,
    )


def _form(html: str, action: str) -> str:
    match = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', html, re.S)
    assert match, f"no form posting to {action}"
    return match.group(0)


def _balance(rt: Runtime, shop: ShopFixture) -> int:
    with rt.unit() as ctx:
        return ledger.balance(ctx.session, shop.shop_id, Account.BALANCE)


def test_U8_refused_form_comes_back_with_the_error_beside_the_field_and_the_input_kept(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = "/console/settings/stores"
    response = _post(client, page, page, {"name": "   ", "address": "西湖区文三路 1 号"})

    assert response.status_code == 422
    html = response.text
    assert 'data-testid="error-page"' not in html  # the form's own page, not an error page
    store_form = _form(html, "/console/settings/stores")
    assert 'data-field-error="name"' in store_form
    assert "门店名称必填，最多60字" in store_form
    assert 'value="西湖区文三路 1 号"' in store_form  # what was typed is kept
    staff_form = _form(html, "/console/settings/stores/staff")  # same field name, other form
    assert "field-error" not in staff_form and 'value="   "' not in staff_form
    assert 'name="csrf_token"' in store_form  # ready to submit again
    with rt.unit() as ctx:
        assert ctx.session.query(Store).count() == 0


def test_U8_a_refusal_no_field_shows_is_still_shown_above_the_page(
    client: TestClient, shop: ShopFixture
) -> None:
    """Request validation (a field FastAPI itself refuses) comes back on the page too."""
    console_login(client, shop.username, shop.password)
    page = "/console/settings/stores"
    response = _post(
        client, "/console/settings/stores/staff", page, {"douyin_id": "dy1", "store_ids": "x"}
    )
    assert response.status_code == 422
    assert 'data-testid="form-errors"' in response.text or "field-error" in response.text
    assert "格式不正确或缺失" in response.text


def test_U8_without_a_referer_the_error_page_answers_as_before(
    client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/settings/stores")
    response = client.post(
        "/console/settings/stores", data={"csrf_token": token, "name": ""}, follow_redirects=False
    )
    assert response.status_code == 422 and 'data-testid="error-page"' in response.text


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("10", 1000),
        ("10.5", 1050),
        ("0.01", 1),
        ("1,234.56", 123456),
        ("¥88", 8800),
        ("１２.３", 1230),  # full-width digits as an input method types them
        (" 0.10 ", 10),
        ("19.99", 1999),  # exact: float(19.99) * 100 == 1998.9999999999998
    ],
)
def test_U8_yuan_to_fen_is_exact(text: str, fen: int) -> None:
    assert fen_from_yuan(text) == fen


@pytest.mark.parametrize(
    "text",
    ["", "1.234", "0.001", "-5", "+5", "1e3", "NaN", "Infinity", "abc", "1 2", "12345678901"],
)
def test_U8_yuan_to_fen_refuses_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        fen_from_yuan(text, "amount")
    assert refused.value.field == "amount"
    assert "分" not in refused.value.message_zh


def test_U8_topup_in_yuan_refuses_a_third_decimal_beside_the_field(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page, action = "/console/funds/balance", "/console/funds/balance/topup"
    before = _balance(rt, shop)
    refused = _post(client, action, page, {"amount": "12.345"})
    assert refused.status_code == 422
    form = _form(refused.text, action)
    assert "最多两位小数" in form and 'data-field-error="amount"' in form
    assert 'value="12.345"' in form
    assert _balance(rt, shop) == before

    done = _post(client, action, page, {"amount": "100.10"})
    assert done.status_code == 303
    assert _balance(rt, shop) == before + 10010


def test_U8_a_large_amount_comes_back_asking_to_confirm_it(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    """Server-side: above XIAODIAN_CONSOLE__LARGE_AMOUNT_CONFIRM_FEN (¥10,000.00) the first
    submit changes nothing and returns the form with the amount to confirm."""
    assert rt.settings.console.large_amount_confirm_fen == 10_000_00
    console_login(client, shop.username, shop.password)
    page, action = "/console/funds/balance", "/console/funds/balance/topup"
    before = _balance(rt, shop)

    asked = _post(client, action, page, {"amount": "20000"})
    assert asked.status_code == 409
    form = _form(asked.text, action)
    assert 'data-testid="confirm-large-amount"' in form and "¥20,000.00" in form
    assert 'name="confirm_amount_fen" value="2000000"' in form
    assert 'value="20000"' in form
    assert _balance(rt, shop) == before

    # Confirming another amount than the one asked about asks again.
    again = _post(client, action, page, {"amount": "30000", "confirm_amount_fen": "2000000"})
    assert again.status_code == 409 and _balance(rt, shop) == before

    confirmed = _post(client, action, page, {"amount": "20000", "confirm_amount_fen": "2000000"})
    assert confirmed.status_code == 303
    assert _balance(rt, shop) == before + 2_000_000

    small = _post(client, action, page, {"amount": "10000"})  # at the threshold: no question
    assert small.status_code == 303


def test_U8_coupon_amount_fields_in_yuan_never_speak_of_fen(
    client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = "/console/coupons"
    token = page_token(client, page)
    response = client.post(
        page,
        data={"csrf_token": token, "condition_kind": "amount_off", "amount_off": "5.555"},
        headers={"Referer": BASE + page},
    )
    assert response.status_code == 422
    beside = re.findall(r'data-field-error="(amount_off|threshold)">([^<]*)<', response.text)
    assert {name for name, _ in beside} == {"amount_off", "threshold"}
    for _, message in beside:
        assert "元" in message and "分" not in message


def test_U8_buyer_pages_are_branded_as_the_shop(client: TestClient, shop: ShopFixture) -> None:
    page = client.get(f"/shops/{shop.shop_id}/coupons")
    assert page.status_code == 200
    assert "商家后台" not in page.text
    assert re.search(r'data-testid="shop-brand">抖音好物小店<', page.text)
    assert re.search(r"<title>[^<]*- 抖音好物小店</title>", page.text)

    win = client.get("/buyer/luckybags/wins/not-a-token")
    assert win.status_code == 404 and "商家后台" not in win.text
    assert 'rel="icon"' in win.text


def test_U8_favicon_on_every_layout(client: TestClient, shop: ShopFixture) -> None:
    icon = client.get("/console/static/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.lstrip().startswith("<svg")
    assert 'rel="icon" href="/console/static/favicon.svg"' in client.get("/console/login").text
    console_login(client, shop.username, shop.password)
    assert 'href="/console/static/favicon.svg"' in client.get("/console/").text
    assert 'href="/console/static/favicon.svg"' in client.get(f"/shops/{shop.shop_id}/coupons").text

"""U8 (issue 13): the last console forms on the one way to show errors — the order filter,
导出查询订单, 批量发货, 店铺红包 (filter, bulk, 到期提醒) and 登录. A refused submit shows
its message beside its field and keeps what was typed and chosen (selects, radios,
checkboxes), never a password."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import ShopFixture
from tests.web.conftest import console_login, page_token
from xiaodian.accounts import service as accounts
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders.export.models import OrderExport
from xiaodian.runtime import Runtime

BASE = "http://testserver"
BAD_RANGE = {"created_from": "2026-11-05T00:00", "created_to": "2026-11-01T00:00"}


def _post(client: TestClient, path: str, page: str, data: Any, **kw: Any) -> Any:
    """Submit a form the way a browser does: from ``page``, which the Referer names."""
    token = page_token(client, page)
    return client.post(
        path,
        data={"csrf_token": token, **data},
        headers={"Referer": BASE + page},
        follow_redirects=False,
        **kw,
    )


def _form(html: str, action: str) -> str:
    match = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', html, re.S)
    assert match, f"no form posting to {action}"
    return match.group(0)


def _beside(form: str, field: str, message: str) -> None:
    """The message sits in the field's own label (inline), not in an alert above the page."""
    label = re.search(
        rf'<label[^>]*>(?:(?!</label>).)*name="{field}"(?:(?!</label>).)*</label>', form, re.S
    )
    assert label, f"no label holding {field}"
    assert f'data-field-error="{field}"' in label.group(0), label.group(0)
    assert message in label.group(0), label.group(0)


def test_U8_order_filter_shows_each_problem_beside_its_field_and_keeps_the_filter(
    client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    query = {**BAD_RANGE, "status": "shipped", "after_sale": "none", "buyer_name": "李"}
    page = client.get("/console/orders", params=query)
    assert page.status_code == 200
    form = _form(page.text, "/console/orders")
    _beside(form, "created_to", "结束时间须晚于开始时间")
    assert 'value="2026-11-05T00:00"' in form and 'value="李"' in form
    assert '<option value="shipped" selected>' in form  # the chosen status kept
    assert '<option value="none" selected>' in form
    assert 'data-testid="form-errors"' not in page.text  # nothing left for the page alert
    assert "Value error" not in page.text and "time range" not in page.text  # no pydantic text

    long_no = client.get("/console/orders", params={"order_no": "1" * 25, "status": "closed"})
    form = _form(long_no.text, "/console/orders")
    _beside(form, "order_no", "最多 19 个字")
    assert 'value="1111111111111111111111111"' in form
    assert '<option value="closed" selected>' in form
    assert "String should have" not in long_no.text


def test_U8_export_form_refused_keeps_the_filter_and_the_chosen_format(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = "/console/orders/exports"
    data = {**BAD_RANGE, "status": "awaiting_shipment", "buyer_phone": "1391", "format": "xlsx"}
    response = _post(client, page, page, data)
    assert response.status_code == 422
    assert 'data-testid="error-page"' not in response.text
    form = _form(response.text, page)
    _beside(form, "created_to", "结束时间须晚于开始时间")
    assert "筛选条件有误，请按提示修改" in form  # the form's own message, at its top
    assert 'value="1391"' in form and 'value="2026-11-01T00:00"' in form
    assert '<option value="awaiting_shipment" selected>' in form
    assert re.search(r'value="xlsx" checked', form)
    assert not re.search(r'value="csv" checked', form)  # the chosen radio, not the default
    with rt.unit() as ctx:
        assert ctx.session.query(OrderExport).count() == 0
    fresh = client.get(page).text  # a plain visit: the default format again
    assert re.search(r'value="csv" checked', _form(fresh, page))


def test_U8_ship_batch_shows_the_file_problem_beside_the_file_field(
    client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = "/console/orders/ship_batch"
    missing = _post(client, page, page, {})
    assert missing.status_code == 422
    _beside(_form(missing.text, page), "file", "请选择要上传的 CSV 或 XLSX 文件")
    wrong = _post(client, page, page, {}, files={"file": ("a.pdf", b"%PDF", "application/pdf")})
    assert wrong.status_code == 422
    _beside(_form(wrong.text, page), "file", "仅支持 CSV 或 XLSX 文件")
    columns = "单号\n1\n".encode()
    bad = _post(client, page, page, {}, files={"file": ("a.csv", columns, "text/csv")})
    assert bad.status_code == 422
    _beside(_form(bad.text, page), "file", "缺少列")
    assert 'data-testid="form-errors"' not in bad.text  # nothing left above the page


def _packets(rt: Runtime, client: TestClient, shop: ShopFixture) -> list[int]:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 100_00, "u8-fund")
        for douyin_id in ("dy_u8_1", "dy_u8_2"):
            accounts.create_buyer(ctx, douyin_id=douyin_id, nickname=douyin_id, phone="13812345678")
    answer = shop.api.post(
        "/api/v1/redpackets", {"buyer_douyin_ids": ["dy_u8_1", "dy_u8_2"], "amount_fen": 10_00}
    )
    assert answer.status_code < 300, answer.text
    from xiaodian.redpackets import service

    with rt.unit() as ctx:
        rows = service.list_packets(ctx.session, shop.shop_id, ctx.now, ctx.settings)
        return sorted(r.packet.id for r in rows)


def test_U8_red_packet_forms_show_errors_beside_fields_and_keep_ticked_packets(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    ids = _packets(rt, client, shop)
    page = "/console/redpackets?status=valid"
    data = {"action": "extend", "days": "x", "hours": "2", "ids": [str(ids[1])]}
    bulk = _post(client, "/console/redpackets/bulk", page, data)
    assert bulk.status_code == 422
    form = _form(bulk.text, "/console/redpackets/bulk")
    _beside(form, "days", "请填写非负整数")
    assert 'name="days" value="x"' in form and 'name="hours" value="2"' in form
    assert re.search(rf'name="ids" value="{ids[1]}"[^>]*checked', form)  # ticked kept
    assert not re.search(rf'name="ids" value="{ids[0]}"[^>]*checked', form)
    filters = _form(bulk.text, "/console/redpackets")  # the page's own filter still applies
    assert '<option value="valid" selected>' in filters and "field-error" not in filters

    none = _post(client, "/console/redpackets/bulk", page, {"action": "reclaim"})
    assert none.status_code == 422
    assert 'data-field-error="ids"' in _form(none.text, "/console/redpackets/bulk")
    assert "请至少选择一个红包" in none.text

    remind = _post(client, "/console/redpackets/settings", page, {"remind_lead_hours": "abc"})
    assert remind.status_code == 422
    form = _form(remind.text, "/console/redpackets/settings")
    _beside(form, "remind_lead_hours", "请填写非负整数")
    assert 'value="abc"' in form
    assert "field-error" not in _form(remind.text, "/console/redpackets/bulk")


def test_U8_login_refused_keeps_the_username_never_the_password(
    client: TestClient, shop: ShopFixture
) -> None:
    token = page_token(client, "/console/login")
    secret = "wrong-Secret-123"
    response = client.post(
        "/console/login",
        data={"csrf_token": token, "username": shop.username, "password": secret},
        follow_redirects=False,
    )
    assert response.status_code == 401
    form = _form(response.text, "/console/login")
    assert "用户名或密码错误" in form and 'data-testid="form-error"' in form  # in the form
    assert f'name="username" value="{shop.username}"' in form
    assert secret not in response.text
    assert 'data-testid="form-errors"' not in response.text  # not repeated above the page


def test_U8_a_wrong_download_code_is_shown_beside_the_code_and_still_counted(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    """O2 + U8: a wrong code comes back on 导出记录 beside that record's code field, answered
    (not raised) so that the wrong try commits: the count goes on, 5 tries, then the lock."""
    from sqlalchemy import select

    from tests.orders.export.helpers import ready_export
    from xiaodian.orders.export.models import ExportCode

    export_id = ready_export(rt, shop)
    console_login(client, shop.username, shop.password)
    page = "/console/orders/exports"
    sent = _post(client, f"{page}/{export_id}/code", page, {})
    assert sent.status_code == 303, sent.text
    wrong = _post(client, f"{page}/{export_id}/download", page, {"code": "000000"})
    if wrong.status_code == 200:  # the one code in a million that is 000000
        return
    assert wrong.status_code in (400, 409, 422), wrong.text
    form = _form(wrong.text, f"{page}/{export_id}/download")
    assert 'data-field-error="code"' in form and "验证码错误，还可尝试4次" in form
    with rt.unit() as ctx:
        code = ctx.session.scalars(select(ExportCode).where(ExportCode.export_id == export_id))
        assert code.one().attempts == 1

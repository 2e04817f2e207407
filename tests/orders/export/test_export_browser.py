"""O2 in headless Chromium: 导出记录 at /console/orders/exports — "导出查询订单" with a filter
and a format (XLSX, then CSV), the background job ``orders.export`` (run here, in the test
process, against the live server's database), the record 已完成 with its order count and 100%,
then 获取验证码 → the code from the 演示短信 outbox → a wrong code (Chinese error with the tries
left) → the right code → the file, captured with ``page.expect_download()`` and checked: exactly
the order numbers the filter selects (``filtered_query``). A sub-account without
``orders.export`` gets the 403 page."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.browser import browser, browser_page, live_server, login  # noqa: F401
from tests.conftest import ShopFixture
from tests.orders.export.conftest import Mixed
from tests.orders.export.helpers import read_csv, read_xlsx
from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.notify.sms import SmsMessage
from xiaodian.orders.export import service as export
from xiaodian.orders.export.models import ExportCode, ExportStatus, OrderExport
from xiaodian.orders.schemas import OrderFilter
from xiaodian.orders.service import filtered_query
from xiaodian.runtime import Runtime

PAGE = "/console/orders/exports"
CODE_IN_SMS = re.compile(r"导出记录 #(\d+)），验证码 (\d{6})")


def _expected_order_nos(rt: Runtime, shop_id: int, filters: dict[str, Any]) -> list[str]:
    with rt.unit() as ctx:
        query = filtered_query(shop_id, OrderFilter.model_validate(filters))
        return [order.order_no for order in ctx.session.scalars(query)]


def _row(page: Any, export_id: int) -> Any:
    return page.locator(f"tr[data-testid=export-row][data-export-id='{export_id}']")


def _flashes(page: Any) -> str:
    return " ".join(page.locator(".flash").all_inner_texts())


def _code_from_outbox(page: Any, export_id: int) -> str:
    """The newest message for this export on the 演示手机 page, opened beside the export page
    (F3: the code is never shown on the page of the download)."""
    assert page.locator("[data-testid=sms-message]").count() == 0
    phone = page.context.new_page()
    phone.goto(page.url.split("/console/")[0] + "/console/demo-phone")
    texts = phone.locator("[data-testid=sms-message]").all_inner_texts()
    phone.close()
    for text in texts:
        match = CODE_IN_SMS.search(text)
        if match and int(match.group(1)) == export_id:
            assert "138****0001" in text  # sent to the main account's (shop's) phone
            return match.group(2)
    raise AssertionError(f"no 演示短信 with a code for export #{export_id}")


def _submit_export(page: Any, status_label: str, fmt: str) -> None:
    form = page.locator("form[data-testid=export-form]")
    form.locator("select[name=status]").select_option(label=status_label)
    form.locator(f"input[name=format][value={fmt}]").check()
    with page.expect_navigation():
        form.locator("[data-testid=confirm-export]").click()
    assert "已提交导出" in _flashes(page)


def _download_with_codes(page: Any, export_id: int, tmp_path: Path) -> Path:
    """获取验证码 → a wrong code (error, tries left) → the right code → the saved file."""
    with page.expect_navigation():
        _row(page, export_id).locator("[data-testid=request-code]").click()
    assert "验证码已发送至 138****0001" in _flashes(page)
    code = _code_from_outbox(page, export_id)
    wrong = "000000" if code != "000000" else "111111"

    _row(page, export_id).locator("[data-testid=code-input]").fill(wrong)
    with page.expect_navigation():
        _row(page, export_id).locator("[data-testid=download]").click()
    # U8: the refusal beside the code field of this record's form (the try is counted).
    assert (
        "验证码错误，还可尝试4次"
        in _row(page, export_id).locator("form.download-form [role=alert]").all_inner_texts()[0]
    )

    _row(page, export_id).locator("[data-testid=code-input]").fill(code)
    with page.expect_download() as info:
        _row(page, export_id).locator("[data-testid=download]").click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename.startswith(f"订单导出_{export_id}.")
    target = tmp_path / "downloads" / download.suggested_filename
    download.save_as(target)
    return target


@pytest.mark.browser
def test_O2_browser_export_xlsx_and_csv_then_download_with_phone_code(
    rt: Runtime,
    shop: ShopFixture,
    mixed: Mixed,
    browser_page: Any,  # noqa: F811
    live_server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    page = browser_page
    filters = {"status": "awaiting_shipment"}
    expected = _expected_order_nos(rt, mixed.shop_id, filters)
    everything = _expected_order_nos(rt, mixed.shop_id, {})
    assert 0 < len(expected) < len(everything)  # the filter really narrows the selection

    login(page, live_server, shop.username, shop.password)
    page.goto(f"{live_server}{PAGE}")
    assert "暂无导出记录" in page.locator("table[data-testid=exports]").inner_text()
    _submit_export(page, "待发货", "xlsx")
    _submit_export(page, "待发货", "csv")

    rows = page.locator("tr[data-testid=export-row]")
    assert rows.count() == 2
    assert page.locator("[data-testid=auto-refresh]").count() == 1  # 导出中,页面自动刷新
    ids = [int(x) for x in (rows.nth(i).get_attribute("data-export-id") for i in (0, 1))]
    csv_id, xlsx_id = ids  # newest first
    for export_id in ids:
        row = _row(page, export_id)
        assert row.get_attribute("data-status") == "queued"
        assert row.locator("[data-testid=export-status]").inner_text() == "排队中"
        assert "订单状态=待发货" in row.inner_text()
        assert row.locator("[data-testid=request-code]").count() == 0  # no download yet

    # The background job, in this process, against the live server's database.
    report = scheduler.run_jobs(rt)
    assert report["orders.export"]["done"] == 2, report

    page.goto(f"{live_server}{PAGE}")
    assert page.locator("[data-testid=auto-refresh]").count() == 0
    for export_id, fmt in ((xlsx_id, "XLSX"), (csv_id, "CSV")):
        row = _row(page, export_id)
        assert row.get_attribute("data-status") == "done"
        assert row.locator("[data-testid=export-status]").inner_text() == "已完成"
        assert row.locator("[data-testid=export-percent]").inner_text() == "100%"
        assert row.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
        cells = row.locator("td").all_inner_texts()
        assert cells[3] == fmt and cells[6] == str(len(expected))

    # XLSX first: a valid zip whose sheet holds exactly the filtered order numbers.
    xlsx_file = _download_with_codes(page, xlsx_id, tmp_path)
    assert xlsx_file.suffix == ".xlsx" and xlsx_file.read_bytes()[:2] == b"PK"
    sheet = read_xlsx(xlsx_file)
    assert sheet[0] == list(export.HEADERS)
    assert [r[0] for r in sheet[1:]] == expected

    # A second code within a minute is refused (per phone); once the minute has passed
    # (the first code backdated in the database) the CSV's code can be requested.
    with page.expect_navigation():
        _row(page, csv_id).locator("[data-testid=request-code]").click()
    assert "验证码发送太频繁" in " ".join(
        _row(page, csv_id).locator("[role=alert]").all_inner_texts()
    )
    with rt.unit() as ctx:
        first = ctx.session.scalars(select(ExportCode).where(ExportCode.export_id == xlsx_id)).one()
        first.created_at = first.created_at - timedelta(minutes=2)
    csv_file = _download_with_codes(page, csv_id, tmp_path)
    bom, table = read_csv(csv_file)
    assert bom == b"\xef\xbb\xbf"
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbf" + "订单号,下单时间".encode())
    assert table[0] == list(export.HEADERS)
    assert [r[0] for r in table[1:]] == expected

    # Each code works once: the download used it up.
    with rt.unit() as ctx:
        codes = ctx.session.scalars(select(ExportCode).order_by(ExportCode.id)).all()
        assert [(c.export_id, c.used_at is not None, c.attempts) for c in codes] == [
            (xlsx_id, True, 1),
            (csv_id, True, 1),
        ]
        assert ctx.session.scalar(select(SmsMessage.id).order_by(SmsMessage.id.desc()))
        statuses = ctx.session.scalars(select(OrderExport.status)).all()
        assert set(statuses) == {ExportStatus.DONE}


@pytest.mark.browser
def test_O2_browser_sub_account_without_export_grant_gets_403(
    rt: Runtime,
    shop: ShopFixture,
    browser_page: Any,  # noqa: F811
    live_server: str,  # noqa: F811
) -> None:
    with rt.unit() as ctx:
        main = accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        )
        accounts.create_sub_account(
            ctx,
            main,
            username="kefu_export",
            password="kefu-pass-1",
            display_name="客服小李",
            permissions=["orders.view"],
        )
    page = browser_page
    login(page, live_server, "kefu_export", "kefu-pass-1")
    assert page.goto(f"{live_server}/console/orders").status == 200  # orders.view works
    response = page.goto(f"{live_server}{PAGE}")
    assert response is not None and response.status == 403
    assert "没有权限" in page.inner_text("[data-testid=error-page]")
    assert page.locator("form[data-testid=export-form]").count() == 0

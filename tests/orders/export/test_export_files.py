"""O2: the export holds exactly what the filter selects, in CSV (UTF-8 BOM) and XLSX, with
Chinese headers, yuan from fen, Asia/Shanghai times; it runs as a background job with
progress, and a failure is recorded without a file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import START
from tests.orders.export.conftest import Mixed
from tests.orders.export.helpers import read_any, read_csv, read_xlsx, run_job
from xiaodian.accounts.service import Principal
from xiaodian.notify.models import Event, Notice
from xiaodian.orders.export import service as export
from xiaodian.orders.export.models import ExportStatus, OrderExport
from xiaodian.orders.models import Order
from xiaodian.orders.schemas import OrderFilter
from xiaodian.orders.service import filtered_query
from xiaodian.runtime import Runtime

FILTERS = [
    {},
    {"status": "awaiting_shipment"},
    {"status": "shipped"},
    {"product": "龙井"},
    {"buyer_name": "李"},
    {"after_sale": "in_progress"},
    {"status": "closed"},
]


def _export(rt: Runtime, shop_id: int, filters: dict[str, Any], fmt: str) -> OrderExport:
    with rt.unit("user:1") as ctx:
        record = export.create_export(
            ctx,
            Principal(shop_id=shop_id, app_id=1, scopes=frozenset({"orders"})),
            OrderFilter.model_validate(filters),
            fmt,
        )
    run_job(rt)
    with rt.unit() as ctx:
        done = ctx.session.get(OrderExport, record.id)
        assert done is not None
        return done


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_O2_export_holds_exactly_the_orders_the_filter_selects(
    rt: Runtime, mixed: Mixed, fmt: str
) -> None:
    for filters in FILTERS:
        record = _export(rt, mixed.shop_id, filters, fmt)
        assert record.status == ExportStatus.DONE, record.error
        with rt.unit() as ctx:
            expected = [
                o.order_no
                for o in ctx.session.scalars(
                    filtered_query(mixed.shop_id, OrderFilter.model_validate(filters))
                )
            ]
        rows = read_any(Path(record.file_path))
        assert rows[0] == list(export.HEADERS)
        assert [r[0] for r in rows[1:]] == expected, filters
        assert record.row_count == len(expected) == record.rows_done == record.rows_total


def test_O2_csv_bom_headers_money_and_shanghai_times(rt: Runtime, mixed: Mixed) -> None:
    record = _export(rt, mixed.shop_id, {}, "csv")
    bom, rows = read_csv(Path(record.file_path))
    assert bom == b"\xef\xbb\xbf"
    assert rows[0] == [
        "订单号", "下单时间", "支付时间", "发货时间", "订单状态", "售后状态", "商品", "数量",
        "买家", "手机号", "收货地址", "商品金额", "优惠", "实付金额", "快递公司", "快递单号",
        "违规次数",
    ]  # fmt: skip
    by_no = {r[0]: r for r in rows[1:]}
    with rt.unit() as ctx:
        orders = {o.id: o for o in ctx.session.scalars(select(Order))}
    newest = orders[mixed.ids[0]]  # two items, discount 8.05
    row = by_no[newest.order_no]
    assert row[1] == "2026-11-02 10:00:00"  # START is 02:00 UTC = 10:00 Asia/Shanghai
    assert row[2] == "2026-11-02 10:00:00" and row[3] == ""
    assert (row[4], row[5]) == ("待发货", "无售后")
    assert row[6] == '保温杯 500ml×1；西湖龙井, "特级"×2' and row[7] == "3"  # cn-punct: keep
    assert (row[8], row[9]) == ("赵六", "13500004444")  # full phone: download is verified
    assert row[10] == "上海市浦东新区\n世纪大道 1 号"
    assert (row[11], row[12], row[13]) == ("715.10", "8.05", "707.05")
    shipped = by_no[orders[mixed.ids[3]].order_no]
    assert (shipped[4], shipped[14], shipped[15]) == ("已发货", "顺丰速运", "SF1234567890123")
    assert shipped[3] == "2026-11-02 10:00:00" and shipped[11] == "118.00"
    formula = by_no[orders[mixed.ids[2]].order_no]
    assert formula[8] == "'=HYPERLINK(1)"  # CSV injection guard
    unpaid = by_no[orders[mixed.ids[4]].order_no]
    assert (unpaid[2], unpaid[4], unpaid[13]) == ("", "待支付", "0.00")
    assert by_no[orders[mixed.ids[1]].order_no][5] == "售后中"


def test_O2_csv_writes_long_digit_ids_as_text_formulas(rt: Runtime, mixed: Mixed) -> None:
    """A bare 19-digit 订单号 opens in Excel/WPS/Calc as 2.61102703526773E+18: the CSV writes
    all-digit ids longer than 11 characters as ="<digits>" (a quoted CSV field, its quotes
    doubled), so the spreadsheet shows a text with every digit. Other cells are left as they
    are; the XLSX holds plain strings."""
    from xiaodian.orders import service

    with rt.unit("user:1") as ctx:  # the newest order: a 15-digit 中通 number
        service.ship_order(
            ctx, mixed.shop_id, mixed.ids[0], carrier="中通", tracking_no="731234567890123"
        )
        orders = {o.id: o for o in ctx.session.scalars(select(Order))}
    numbers = [orders[i].order_no for i in mixed.ids]
    assert all(len(n) == 19 and n.isdigit() for n in numbers)
    path = Path(_export(rt, mixed.shop_id, {}, "csv").file_path)
    text = path.read_bytes().decode("utf-8-sig")
    for number in numbers:
        assert f'\n"=""{number}""",' in text
    assert ',"=""731234567890123""",' in text
    assert ",SF1234567890123," in text and '=""SF' not in text  # letters: left as is
    assert ",13500004444," in text  # the 11-digit phone fits in 15 digits: a plain cell
    _, raw = read_csv(path, raw=True)
    by_no = {r[0]: r for r in raw[1:]}
    assert by_no[f'="{numbers[0]}"'][15] == '="731234567890123"'
    assert by_no[f'="{numbers[3]}"'][15] == "SF1234567890123"
    assert by_no[f'="{numbers[4]}"'][15] == ""  # unshipped: still empty
    xlsx = read_xlsx(Path(_export(rt, mixed.shop_id, {}, "xlsx").file_path))
    assert [r[0] for r in xlsx[1:]] == numbers  # XLSX: plain strings, unchanged
    assert xlsx[1][15] == "731234567890123"


def test_O2_xlsx_cells_match_the_csv(rt: Runtime, mixed: Mixed) -> None:
    csv_rows = read_csv(Path(_export(rt, mixed.shop_id, {}, "csv").file_path))[1]
    xlsx_rows = read_xlsx(Path(_export(rt, mixed.shop_id, {}, "xlsx").file_path))
    assert len(xlsx_rows) == len(csv_rows) and xlsx_rows[0] == csv_rows[0]
    for a, b in zip(csv_rows[1:], xlsx_rows[1:], strict=True):
        b = b + [""] * (len(a) - len(b))
        a = [v[1:] if v.startswith("'=") else v for v in a]  # XLSX needs no formula guard
        for col in export.MONEY_COLUMNS:  # numbers in XLSX (format 0.00), exact decimals
            assert Decimal(a[col]) == Decimal(b[col]), (a, b)
            a[col] = b[col]
        assert a == b


def test_O2_background_job_progress_notice_and_event(
    rt: Runtime, mixed: Mixed, monkeypatch: Any
) -> None:
    rt.settings.orders.export_batch_rows = 2
    with rt.unit("app:1") as ctx:
        record = export.create_export(
            ctx,
            Principal(shop_id=mixed.shop_id, app_id=1, scopes=frozenset({"orders"})),
            OrderFilter(),
            "csv",
        )
        assert record.status == ExportStatus.QUEUED
    seen: list[tuple[int, int | None]] = []
    original = export._heartbeat

    def spy(rt_: Runtime, export_id: int, done: int, total: int) -> None:
        original(rt_, export_id, done, total)
        with rt.unit() as ctx:
            row = ctx.session.get(OrderExport, export_id)
            assert row is not None and row.status == ExportStatus.RUNNING
            seen.append((row.rows_done, row.rows_total))

    monkeypatch.setattr(export, "_heartbeat", spy)
    assert run_job(rt) == {"claimed": 1, "done": 1, "failed": 0}
    assert seen == [(2, 5), (4, 5), (5, 5)]  # committed after every batch of 2
    assert run_job(rt) == {"claimed": 0, "done": 0, "failed": 0}
    with rt.unit() as ctx:
        done = ctx.session.get(OrderExport, record.id)
        assert done is not None and done.status == ExportStatus.DONE
        assert done.finished_at == START and done.file_size == Path(done.file_path).stat().st_size
        notice = ctx.session.scalars(select(Notice).where(Notice.rule == "O2")).one()
        assert notice.title == "订单导出已完成"
        types = list(ctx.session.scalars(select(Event.type).where(Event.rule == "O2")))
        assert "orders.export.completed" in types
    assert not list(Path(done.file_path).parent.glob("*.part"))


def test_O2_failure_is_recorded_and_leaves_no_file(
    rt: Runtime, mixed: Mixed, monkeypatch: Any
) -> None:
    rt.settings.orders.export_batch_rows = 2
    with rt.unit("app:1") as ctx:
        record = export.create_export(
            ctx,
            Principal(shop_id=mixed.shop_id, app_id=1, scopes=frozenset({"orders"})),
            OrderFilter(),
            "xlsx",
        )
    calls = {"n": 0}
    original = export._heartbeat

    def dies(rt_: Runtime, export_id: int, done: int, total: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        original(rt_, export_id, done, total)

    monkeypatch.setattr(export, "_heartbeat", dies)
    assert run_job(rt)["failed"] == 1
    with rt.unit() as ctx:
        failed = ctx.session.get(OrderExport, record.id)
        assert failed is not None and failed.status == ExportStatus.FAILED
        assert "disk full" in failed.error and failed.file_path == ""
    folder = Path(rt.settings.orders.export_dir)
    assert not [p for p in folder.rglob("*") if p.is_file()]


def test_O2_bad_format_refused_and_sub_account_needs_the_permission(
    rt: Runtime, mixed: Mixed
) -> None:
    from xiaodian.errors import PermissionDenied, ValidationFailed

    with rt.unit() as ctx, pytest.raises(ValidationFailed) as bad:
        export.create_export(
            ctx,
            Principal(shop_id=mixed.shop_id, app_id=1, scopes=frozenset({"orders"})),
            OrderFilter(),
            "pdf",
        )
    assert bad.value.code == "invalid_format"
    sub = Principal(shop_id=mixed.shop_id, user_id=99, permissions=frozenset({"orders.view"}))
    with rt.unit() as ctx, pytest.raises(PermissionDenied):
        export.create_export(ctx, sub, OrderFilter(), "csv")
    with rt.unit() as ctx, pytest.raises(PermissionDenied):
        export.request_code(ctx, sub, 1)
    with rt.unit() as ctx, pytest.raises(PermissionDenied):
        export.authorize_download(ctx, sub, 1, "123456")

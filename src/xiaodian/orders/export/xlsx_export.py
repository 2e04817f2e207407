"""O2 导出查询订单, the XLSX file: strings written as strings (so it needs neither the CSV's
formula guard nor its ="<digits>" wrapping), amounts as numbers formatted 0.00, a frozen header
row, and a new sheet (订单2, 订单3, …) past ``XLSX_MAX_DATA_ROWS``.

It is written by the export's own streamed SpreadsheetML writer (``xlsx.py``, issue 16; the
same cells as XlsxWriter), or by XlsxWriter (constant_memory) when ``orders.xlsx_writer`` is
``xlsxwriter`` or the fast writer cannot be imported. On PostgreSQL the rows come
pre-formatted from ``rows.formatted_select``. Split from ``service.py`` (code layout, no
behaviour change).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import bindparam

from xiaodian.config import Settings
from xiaodian.orders.export.rows import (
    HEADERS,
    INT_COLUMNS,
    MONEY_COLUMNS,
    SERIAL_PLAN_SQL,
    ExportJob,
    compiled_sql,
    formatted_select,
    fsync,
    pg_rows,
)

XLSX_MAX_DATA_ROWS = 1_048_575  # a sheet holds 1,048,576 rows, one is the header
XLSX_WIDTHS = (22, 20, 20, 20, 10, 12, 40, 6, 12, 14, 40, 12, 10, 12, 10, 18, 8)
XLSX_SHEET_NAME = "订单"
logger = logging.getLogger(__name__)


def _fast_xlsx() -> Any:
    """The fast writer's module, or None when it cannot be imported (then XlsxWriter)."""
    try:
        return importlib.import_module("xiaodian.orders.export.xlsx")
    except ImportError:
        logger.warning("orders.export: fast XLSX writer unavailable, using XlsxWriter")
        return None


def xlsx_writer_name(settings: Settings) -> str:
    """The XLSX writer an export uses: ``fast`` unless ``orders.xlsx_writer`` says
    ``xlsxwriter`` or the fast module cannot be imported (issue 16)."""
    if settings.orders.xlsx_writer == "fast" and _fast_xlsx() is not None:
        return "fast"
    return "xlsxwriter"


def write_xlsx(job: ExportJob) -> int:
    """The XLSX file of ``job``, by the writer ``xlsx_writer_name`` names."""
    if xlsx_writer_name(job.rt.settings) == "fast":
        return _write_xlsx_fast(job)
    return _write_xlsx_xlsxwriter(job)


def _write_xlsx_fast(job: ExportJob) -> int:
    """Issue 16: the export's own streamed SpreadsheetML writer (``xlsx.XlsxStream``), the
    same cells as XlsxWriter's constant_memory file; one batch rendered and deflated at a time."""
    xlsx = _fast_xlsx()
    done = 0
    with xlsx.XlsxStream(
        job.path,
        HEADERS,
        widths=XLSX_WIDTHS,
        money_columns=MONEY_COLUMNS,
        int_columns=INT_COLUMNS,
        sheet_name=XLSX_SHEET_NAME,
        max_data_rows=XLSX_MAX_DATA_ROWS,
        expected_rows=job.total,
        compresslevel=job.rt.settings.orders.xlsx_deflate_level,
    ) as book:
        batches = _pg_xlsx_batches(job) if job.rows is pg_rows else job.batches()
        for batch in batches:
            book.write_rows(batch)
            done += len(batch)
            job.report(done)
    with job.path.open("rb+") as out:
        fsync(out)
    return done


def _pg_xlsx_batches(job: ExportJob) -> Iterator[list[tuple[Any, ...]]]:
    """PostgreSQL rows for the fast XLSX writer (issue 16): ``formatted_select`` compiled once
    and bound to each batch's id range, read through psycopg itself (the ORM's row processing
    and a compile per batch were a third of the export's client CPU in the profile), money
    (``numeric``) loaded as its text — 715.10, the text the writer puts in ``<v>`` as is. One
    short transaction per batch, as ``ExportJob.batches``."""
    from psycopg.types.string import TextLoader

    rt = job.rt
    query = formatted_select(
        job.shop_id,
        job.filters,
        rt.settings.timezone,
        csv_safe=False,
        id_range=(bindparam("low", 0), bindparam("high", 0)),
    )
    sql, base_params = compiled_sql(rt, query)
    raw = rt.engine.raw_connection()
    try:
        dbapi: Any = raw.driver_connection
        for low, high in job.ranges:
            with dbapi.cursor() as cursor:
                cursor.adapters.register_loader("numeric", TextLoader)
                cursor.execute(SERIAL_PLAN_SQL)
                cursor.execute(sql, {**base_params, "low": low, "high": high})
                batch: list[tuple[Any, ...]] = cursor.fetchall()
            dbapi.commit()
            yield batch
    finally:
        raw.close()


def _write_xlsx_xlsxwriter(job: ExportJob) -> int:
    """XlsxWriter (constant_memory): the fallback of the fast writer (issue 16)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(
        str(job.path),
        {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False},
    )
    header_fmt = book.add_format({"bold": True, "bg_color": "#F2F3F5"})
    money_fmt = book.add_format({"num_format": "0.00"})
    sheet_no = 0

    def new_sheet() -> Any:
        nonlocal sheet_no
        sheet_no += 1
        name = XLSX_SHEET_NAME
        sheet = book.add_worksheet(name if sheet_no == 1 else f"{name}{sheet_no}")
        for col, width in enumerate(XLSX_WIDTHS):
            sheet.set_column(col, col, width, money_fmt if col in MONEY_COLUMNS else None)
        for col, title in enumerate(HEADERS):
            sheet.write_string(0, col, title, header_fmt)
        sheet.freeze_panes(1, 0)
        return sheet

    sheet = new_sheet()
    r = 0
    done = 0
    try:
        for batch in job.batches():
            write_string = sheet.write_string
            write_number = sheet.write_number
            for row in batch:
                if r == XLSX_MAX_DATA_ROWS:
                    sheet, r = new_sheet(), 0
                    write_string, write_number = sheet.write_string, sheet.write_number
                r += 1
                for col, value in enumerate(row):
                    if value is None:
                        continue
                    if col in MONEY_COLUMNS:
                        write_number(r, col, value, money_fmt)
                    elif col in INT_COLUMNS:
                        write_number(r, col, value)
                    else:
                        write_string(r, col, value)
            done += len(batch)
            job.report(done)
    finally:
        book.close()
    with job.path.open("rb+") as out:
        fsync(out)
    return done

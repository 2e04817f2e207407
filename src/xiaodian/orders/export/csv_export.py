"""O2 导出查询订单, the CSV file: UTF-8 with a BOM (Excel/WPS detect the encoding), and text
cells that would start a formula (= + - @) prefixed with ' (CSV injection).

A CSV has no cell types, so Excel, WPS and LibreOffice Calc read an all-digit cell as a number
and keep 15 significant digits: the 19-digit 订单号 would open as 2.61102703526773E+18. So the
order number and the tracking number (快递单号) are written as the text formula ="<digits>"
when they are all ASCII digits and longer than 11 characters (``LONG_DIGITS_MIN``; the
11-digit phone fits in 15 digits and stays as is): the spreadsheets evaluate it to a text and
keep every digit. Only pure digits are wrapped, so this cannot carry an injection; the csv
module and COPY quote the field and double its quotes (=""261…"" inside the field's quotes),
which is correct CSV.

Performance: on PostgreSQL the CSV is formatted by the database (``rows.formatted_select``:
local time through the transaction's TimeZone, CASE labels, numeric money) and streamed with
``COPY (<filtered query>) TO STDOUT`` straight into the file, one COPY per batch, the
statement compiled once and bound to each batch's id range (``write_csv_copy``). On SQLite the
rows are formatted in Python (``write_csv_rows``). Split from ``service.py`` (code layout, no
behaviour change).
"""

from __future__ import annotations

import contextlib
import csv
import io
import queue
import threading
from collections.abc import Callable, Iterator
from select import select as wait_for
from typing import Any

from sqlalchemy import bindparam

from xiaodian.orders.export.rows import (
    FORMULA_START,
    HEADERS,
    LONG_DIGITS_MIN,
    ORDER_NO_COLUMN,
    TRACKING_COLUMN,
    ExportJob,
    compiled_sql,
    copy_session_sql,
    formatted_select,
    fsync,
)
from xiaodian.runtime import Runtime

BOM = "\ufeff".encode()


def _csv_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv_long_digits(value: Any) -> Any:
    """An all-digit id longer than 11 characters as the text formula ="<digits>": Excel/WPS/
    Calc evaluate it to a text and keep every digit (a bare number keeps 15). Only pure ASCII
    digits are wrapped, so nothing else can reach the formula."""
    if (
        isinstance(value, str)
        and len(value) >= LONG_DIGITS_MIN
        and value.isascii()
        and value.isdigit()
    ):
        return f'="{value}"'
    return value


def _csv_line(values: tuple[Any, ...]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def write_csv_rows(job: ExportJob) -> int:
    """CSV formatted in Python (SQLite; any engine): the rows of ``job.rows``, batch by batch,
    with the formula guard on the text columns and long all-digit ids as ="<digits>"."""
    done = 0
    text_columns = (6, 8, 10)
    id_columns = (ORDER_NO_COLUMN, TRACKING_COLUMN)
    with job.path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADERS)
        for batch in job.batches():
            for row in batch:
                values = list(row)
                for i in text_columns:
                    values[i] = _csv_text(values[i])
                for i in id_columns:
                    values[i] = _csv_long_digits(values[i])
                writer.writerow(values)
            done += len(batch)
            job.report(done)
        out.flush()
        fsync(out)
    return done


def write_csv_copy(job: ExportJob) -> int:
    """CSV on PostgreSQL: one ``COPY (formatted_select) TO STDOUT`` per batch.

    Issue 16 (round three): the batches are formatted by ``export_streams`` connections at
    once — stream ``s`` runs batches ``s, s + n, …`` into an in-memory block, and this thread
    appends the blocks in batch order and reports progress after each. A stream keeps at most
    one finished block waiting (plus the one it is filling), so memory stays bounded by a few
    batches. One stream (or one batch) streams straight into the file."""
    rt = job.rt
    tz = rt.settings.timezone
    # compiled once; each batch only binds its id range (compiling per batch cost more client
    # CPU than the COPY itself)
    bounds: tuple[Any, Any] = (bindparam("low", 0), bindparam("high", 0))
    query = formatted_select(job.shop_id, job.filters, tz, csv_safe=True, id_range=bounds)
    sql, base_params = compiled_sql(rt, query)
    statement = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
    batches = [{**base_params, "low": low, "high": high} for low, high in job.ranges]
    streams = max(1, min(rt.settings.orders.export_streams, len(batches)))
    done = 0
    with job.path.open("wb") as out:
        out.write(BOM + _csv_line(HEADERS))
        if streams == 1:
            raw = rt.engine.raw_connection()
            ok = False
            try:
                block = bytearray()
                for params in batches:
                    done += _copy_batch(
                        raw.driver_connection, statement, params, tz, block, out.write
                    )
                    job.report(done)
                ok = True
            finally:
                _release(raw, ok)
        else:
            with _copy_streams(rt, statement, batches, tz, streams) as blocks:
                for rows, block in blocks:
                    out.write(block)
                    done += rows
                    job.report(done)
        fsync(out)
    return done


class _Stopped(Exception):
    """Another stream (or the writer) failed: this stream stops and drops its connection."""


def _copy_batch(
    dbapi: Any,
    statement: str,
    params: dict[str, Any],
    tz: str,
    sink: bytearray,
    write: Callable[[bytearray], Any] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """One batch in its own transaction: the session settings of ``copy_session_sql``, then
    the COPY (see ``copy_out``); returns the rows copied."""
    dbapi.execute(*copy_session_sql(tz))
    rows = copy_out(dbapi, statement, params, sink, write, stop=stop)
    dbapi.commit()
    return rows


_BLOCK_BYTES = 1 << 18


def copy_out(
    dbapi: Any,
    statement: str,
    params: dict[str, Any] | None,
    sink: bytearray,
    write: Callable[[bytearray], Any] | None = None,
    *,
    stop: threading.Event | None = None,
) -> int:
    """Run ``COPY … TO STDOUT`` on a psycopg connection, appending its bytes to ``sink``;
    with ``write``, ``sink`` is handed to it (and emptied) about every 256 kB and at the end.
    Returns the rows copied (the server's count).

    Issue 16: psycopg's ``for chunk in copy`` costs a Python generator round per row (one
    CopyData message per row; ≈ 2.5 µs of client CPU per order). This loop takes every row
    libpq already holds with ``PQgetCopyData`` in non-blocking mode and waits for the socket
    (``select``, the GIL released, so other streams run) only when libpq's buffer is empty.
    Parameters are merged client-side as ``cursor.copy`` does (COPY takes no server-side
    parameters); psycopg quotes them. With ``stop`` set by another thread, it gives up at its
    next wait (the caller then drops the connection)."""
    import psycopg
    from psycopg import pq

    text = psycopg.ClientCursor(dbapi).mogrify(statement, params) if params else statement
    pgconn = dbapi.pgconn
    pgconn.send_query(text.encode(dbapi.info.encoding))
    fileno = pgconn.socket
    while pgconn.flush():
        wait_for([], [fileno], [])
    result = _next_result(pgconn, fileno)
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        error = _result_error(dbapi, result)
        while _next_result(pgconn, fileno) is not None:
            pass
        raise error
    get = pgconn.get_copy_data
    while True:
        nbytes, data = get(1)
        if nbytes > 0:
            sink += data
            continue
        if nbytes < 0:  # CopyDone (or an error: its result follows)
            break
        # libpq holds no whole row: hand over a full block, then wait for the socket
        if write is not None and len(sink) >= _BLOCK_BYTES:
            write(sink)
            sink.clear()
        if stop is not None and stop.is_set():
            raise _Stopped()
        wait_for([fileno], [], [], None if stop is None else 0.5)
        pgconn.consume_input()
    if write is not None and sink:
        write(sink)
        sink.clear()
    failure: Exception | None = None
    rows = 0
    while (result := _next_result(pgconn, fileno)) is not None:
        if result.status == pq.ExecStatus.COMMAND_OK:
            rows = result.command_tuples or 0
        elif failure is None:
            failure = _result_error(dbapi, result)
    if failure is not None:
        raise failure
    return rows


def _next_result(pgconn: Any, fileno: int) -> Any:
    """libpq's next result once it is whole (None when there are no more)."""
    while pgconn.is_busy():
        wait_for([fileno], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _result_error(dbapi: Any, result: Any) -> Exception:
    import psycopg
    from psycopg.errors import error_from_result

    if result is None or result.status != psycopg.pq.ExecStatus.FATAL_ERROR:
        status = "no result" if result is None else psycopg.pq.ExecStatus(result.status).name
        return psycopg.ProgrammingError(f"expected COPY … TO STDOUT, got {status}")
    return error_from_result(result, encoding=dbapi.info.encoding)


def _release(raw: Any, ok: bool) -> None:
    """Back to the pool after a clean run; closed for good otherwise (it may be mid-COPY)."""
    if not ok:
        with contextlib.suppress(Exception):
            raw.invalidate()
    with contextlib.suppress(Exception):
        raw.close()


@contextlib.contextmanager
def _copy_streams(
    rt: Runtime, statement: str, batches: list[dict[str, Any]], tz: str, streams: int
) -> Iterator[Iterator[tuple[int, bytearray]]]:
    """Issue 16: ``streams`` threads, each with its own connection, run batches ``s, s +
    streams, …`` and queue each finished batch (rows, bytes); the iterator yields them in
    batch order. A failed stream's exception is raised by the iterator; leaving the block
    (done or failed) stops every stream, drops the connections of those that did not finish
    cleanly and joins the threads."""
    stop = threading.Event()
    handoff: list[queue.Queue[tuple[int, bytearray] | BaseException]] = [
        queue.Queue(maxsize=1) for _ in range(streams)
    ]

    def put(s: int, item: tuple[int, bytearray] | BaseException) -> None:
        while not stop.is_set():
            try:
                handoff[s].put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def run(s: int) -> None:
        raw: Any = None
        ok = False
        try:
            raw = rt.engine.raw_connection()
            for i in range(s, len(batches), streams):
                if stop.is_set():
                    return
                block = bytearray()
                rows = _copy_batch(
                    raw.driver_connection, statement, batches[i], tz, block, stop=stop
                )
                put(s, (rows, block))
            ok = True
        except BaseException as exc:  # handed to the writer, which raises it
            put(s, exc)
        finally:
            if raw is not None:
                _release(raw, ok)

    threads = [
        threading.Thread(target=run, args=(s,), name=f"xiaodian-export-{s}", daemon=True)
        for s in range(streams)
    ]
    for thread in threads:
        thread.start()

    def in_order() -> Iterator[tuple[int, bytearray]]:
        for i in range(len(batches)):
            item = handoff[i % streams].get()
            if isinstance(item, BaseException):
                raise item
            yield item

    try:
        yield in_order()
    finally:
        stop.set()
        for thread in threads:
            thread.join()

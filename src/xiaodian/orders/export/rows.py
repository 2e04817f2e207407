"""O2 导出查询订单: the rows an export writes — its columns, the job every writer is given
(``ExportJob``), the batches of selected orders and where a batch's rows come from.

The file's columns are ``HEADERS``. Times are Asia/Shanghai (``settings.timezone``), money is
yuan with two decimals from int fen. The buyer's phone is exported in full: this is the
merchant's own data for shipping and after-sales, and the download itself is phone-verified.

Batches: ``settings.orders.export_batch_rows`` orders each, keyset on ``id`` (newest first, the
order of the order list), each batch read in its own short transaction (``ExportJob.batches``).
On PostgreSQL the rows are formatted by the database (``formatted_select``: local time, CASE
labels, numeric money; the items of a batch aggregated once, GROUP BY order_id over the
batch's id range, issue 16) — the CSV writer streams the same query with COPY
(``csv_export.py``), the XLSX writer reads it (``xlsx_export.py``). On SQLite rows are
formatted in Python (``py_rows``). Peak memory does not depend on the row count (one batch at a
time; the batch boundaries are one id per batch). Split from ``service.py`` (code layout, no
behaviour change); ``service.py`` re-exports what its callers read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Numeric,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy import text as text_sql
from sqlalchemy.orm import Session

from xiaodian.clock import to_local
from xiaodian.db import is_postgres, rowcount, transaction
from xiaodian.orders.carriers import CARRIERS
from xiaodian.orders.filters import OrderFilter
from xiaodian.orders.models import AFTER_SALE_LABELS, STATUS_LABELS, Order, OrderItem
from xiaodian.orders.service import filtered_query
from xiaodian.runtime import Runtime

HEADERS: tuple[str, ...] = (
    "订单号",
    "下单时间",
    "支付时间",
    "发货时间",
    "订单状态",
    "售后状态",
    "商品",
    "数量",
    "买家",
    "手机号",
    "收货地址",
    "商品金额",
    "优惠",
    "实付金额",
    "快递公司",
    "快递单号",
    "违规次数",
)
MONEY_COLUMNS = (11, 12, 13)
INT_COLUMNS = (7, 16)
ITEM_SEPARATOR = "；"
TIME_FORMAT_SQL = "YYYY-MM-DD HH24:MI:SS"
TIME_FORMAT_PY = "%Y-%m-%d %H:%M:%S"
CARRIER_NAMES: dict[str, str] = {c.code: c.name for c in CARRIERS}
FORMULA_START = ("=", "+", "-", "@")
# All-digit ids at least this long are written to CSV as ="<digits>" (see ``csv_export.py``).
LONG_DIGITS_MIN = 12
ORDER_NO_COLUMN = 0
TRACKING_COLUMN = 15

Progress = Callable[[int, int], None]
RowSource = Callable[[Runtime, Session, int, OrderFilter, int, int], Iterator[tuple[Any, ...]]]


@dataclass(frozen=True)
class ExportJob:
    """One export file being written (O2): what every CSV and XLSX writer is given — the
    runtime (engine, session factory, settings), the shop and its filter, the file, the number
    of selected orders and their [low, high) id ranges (``batch_ranges``), where a batch's rows
    come from (``pg_rows`` / ``py_rows``) and who is told the progress."""

    rt: Runtime
    shop_id: int
    filters: OrderFilter
    path: Path
    total: int
    ranges: Sequence[tuple[int, int]]
    rows: RowSource
    progress: Progress | None = None

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        """One batch per range, each read in its own short transaction."""
        for low, high in self.ranges:
            with transaction(self.rt.factory) as session:
                batch = list(self.rows(self.rt, session, self.shop_id, self.filters, low, high))
            yield batch

    def report(self, done: int) -> None:
        """``done`` of ``total`` orders written (after each batch)."""
        if self.progress:
            self.progress(done, self.total)


def batch_ranges(
    rt: Runtime, shop_id: int, filters: OrderFilter
) -> tuple[int, list[tuple[int, int]]]:
    """The total, and [low, high) id ranges of ``export_batch_rows`` selected orders each,
    newest first, from one pass over the selected ids (one id per batch is kept)."""
    batch = max(1, rt.settings.orders.export_batch_rows)
    if is_postgres(rt.engine) and batch >= _CURSOR_MIN_BATCH:
        return _pg_batch_ranges(rt, shop_id, filters, batch)
    ids = filtered_query(shop_id, filters).with_only_columns(Order.id).subquery()
    numbered = select(
        ids.c.id,
        func.row_number().over(order_by=ids.c.id.desc()).label("rn"),
        func.count().over().label("total"),
    ).subquery()
    query = (
        select(numbered.c.id, numbered.c.rn, numbered.c.total)
        .where(
            or_(numbered.c.rn == 1, numbered.c.rn % batch == 0, numbered.c.rn == numbered.c.total)
        )
        .order_by(numbered.c.rn)
    )
    with transaction(rt.factory) as session:
        marks = [(int(i), int(rn), int(total)) for i, rn, total in session.execute(query)]
    if not marks:
        return 0, []
    total = marks[0][2]
    ranges: list[tuple[int, int]] = []
    high = marks[0][0] + 1
    for order_id, rn, _ in marks:
        if rn % batch == 0 or rn == total:
            ranges.append((order_id, high))
            high = order_id
    return total, ranges


# The cursor walk costs a round trip per batch: below this many rows per batch (tests use
# tiny batches) the window query is cheaper.
_CURSOR_MIN_BATCH = 100


def _pg_batch_ranges(
    rt: Runtime, shop_id: int, filters: OrderFilter, batch: int
) -> tuple[int, list[tuple[int, int]]]:
    """``batch_ranges`` on PostgreSQL: a cursor over the selected ids, newest first, walked
    with ``MOVE`` (the server skips the rows without sending them) and ``FETCH`` of each
    batch's last row and the next batch's first, one round trip per batch; the rows skipped
    are counted by the server (``MOVE n``).

    Issue 16 (round three): the window query (``row_number()`` and ``count(*) OVER ()``, whose
    whole partition spills to a temporary file) cost ≈ 1.0–1.2 s of database CPU per 1M
    orders; the cursor walk ≈ 0.2 s, the index scan itself. The filter is evaluated once, as a
    stream; a short last batch's lowest id (skipped by ``MOVE``) is read by one more query."""
    sql, params = compiled_sql(rt, filtered_query(shop_id, filters).with_only_columns(Order.id))
    ranges: list[tuple[int, int]] = []
    total = 0
    with transaction(rt.factory) as session:
        dbapi: Any = session.connection().connection.driver_connection
        with dbapi.cursor() as cursor:
            cursor.execute(f"DECLARE xiaodian_export_ids NO SCROLL CURSOR FOR {sql}", params)
            cursor.execute("FETCH FORWARD 1 FROM xiaodian_export_ids")
            marks = cursor.fetchall()
            high = int(marks[0][0]) + 1 if marks else 0
            total = len(marks)
            while marks:
                # one round trip per batch: skip to its last row, read it and the next one
                cursor.execute(
                    f"MOVE FORWARD {batch - 2} FROM xiaodian_export_ids;"
                    " FETCH FORWARD 2 FROM xiaodian_export_ids"
                )
                total += max(0, rowcount(cursor))
                cursor.nextset()
                marks = cursor.fetchall()
                total += len(marks)
                if not marks:  # a short last batch: its lowest id was skipped by MOVE
                    tail = (
                        filtered_query(shop_id, filters)
                        .with_only_columns(Order.id)
                        .where(Order.id < high)
                        .subquery()
                    )
                    lowest = session.scalar(select(func.min(tail.c.id)))
                    if lowest is not None:
                        ranges.append((int(lowest), high))
                    break
                low = int(marks[0][0])
                ranges.append((low, high))
                high = low
                marks = marks[1:]
            cursor.execute("CLOSE xiaodian_export_ids")
    return total, ranges


def _in_range(query: Any, low: int, high: int) -> Any:
    return query.where(Order.id >= low, Order.id < high)


# --- PostgreSQL: formatted by the database ---


def formatted_select(
    shop_id: int,
    filters: OrderFilter,
    tz: str,
    *,
    csv_safe: bool,
    id_range: tuple[Any, Any] | None = None,
) -> Select[Any]:
    """The export columns computed in SQL (PostgreSQL) over exactly ``filtered_query``, for the
    orders with ``low <= id < high`` when ``id_range`` is given (one batch).

    Issue 16 (the export query near plain COPY): the items are aggregated once for the batch's
    id range (``GROUP BY order_id``, joined by hash) instead of a LATERAL subquery per order,
    and every column uses the cheapest expression that gives the same text (EXPLAIN ANALYZE and
    perf of the backend: the zone name parsed per row by ``timezone(tz, …)``, ``to_char``, the
    regular expressions and ``numeric`` division dominated). With ``csv_safe`` the times are
    ``date_trunc('second', <timestamptz>::timestamp)`` and rely on the session settings of
    ``copy_session_sql`` (TimeZone = ``tz``, DateStyle ISO), which
    ``csv_export.write_csv_copy`` sets for its transaction; without it (rows read by
    SQLAlchemy) they are ``to_char`` texts.
    """

    def local(column: Any) -> Any:
        if csv_safe:
            return func.date_trunc("second", cast(column, DateTime(timezone=False)))
        return func.to_char(func.timezone(tz, column), TIME_FORMAT_SQL)

    def money(column: Any) -> Any:
        # int8 x numeric(…, 2) has scale 2 exactly: 5900 -> 59.00, -5 -> -0.05
        return column * literal(Decimal("0.01"), Numeric(3, 2))

    def text(column: Any) -> Any:
        if not csv_safe:
            return column
        return case(
            (func.ascii(column).in_([ord(c) for c in FORMULA_START]), "'" + column),
            else_=column,
        )

    def long_digits(column: Any) -> Any:
        # ="<digits>": Excel/WPS/Calc evaluate it to a text and keep every digit (a bare
        # number keeps 15). Set-based like the rest, so COPY streams it; only pure ASCII
        # digits (nothing is left once they are trimmed) of at least LONG_DIGITS_MIN bytes.
        if not csv_safe:
            return column
        return case(
            (
                and_(
                    func.octet_length(column) >= LONG_DIGITS_MIN,
                    func.octet_length(func.ltrim(column, "0123456789")) == 0,
                ),
                '="' + column + '"',
            ),
            else_=column,
        )

    item_filter = [OrderItem.shop_id == shop_id]
    if id_range is not None:
        item_filter += [OrderItem.order_id >= id_range[0], OrderItem.order_id < id_range[1]]
    # Issue 16 (round three): string_agg(… ORDER BY id) sorts every order's items on its own
    # (PostgreSQL 15 has no presorted aggregates); fed from rows sorted by (order_id DESC, id)
    # — an incremental sort over the index — the aggregate sees each order's items in id order
    # (the documented sorted-subquery form: nothing else at that query level), and the groups
    # come out newest first for the merge join, with no sort after the aggregate.
    sorted_items = (
        select(
            OrderItem.order_id.label("order_id"),
            (OrderItem.title + "×" + cast(OrderItem.qty, String)).label("line"),
            OrderItem.qty.label("qty"),
        )
        .where(*item_filter)
        .order_by(OrderItem.order_id.desc(), OrderItem.id)
        .subquery("export_item_lines")
    )
    items = (
        select(
            sorted_items.c.order_id,
            func.string_agg(sorted_items.c.line, literal(ITEM_SEPARATOR)).label("goods"),
            func.sum(sorted_items.c.qty).label("qty"),
        )
        .group_by(sorted_items.c.order_id)
        .order_by(sorted_items.c.order_id.desc())
        .subquery("export_items")
    )
    columns = (
        long_digits(Order.order_no),
        local(Order.created_at),
        local(Order.paid_at),
        local(Order.shipped_at),
        case(STATUS_LABELS, value=Order.status, else_=Order.status),
        case(AFTER_SALE_LABELS, value=Order.after_sale, else_=Order.after_sale),
        text(items.c.goods),
        items.c.qty,
        text(Order.buyer_name),
        Order.buyer_phone,
        text(Order.address),
        money(Order.goods_fen),
        money(Order.discount_fen),
        money(Order.paid_fen),
        case(CARRIER_NAMES, value=Order.carrier, else_=Order.carrier),
        long_digits(Order.tracking_no),
        Order.violation_count,
    )
    query = (
        filtered_query(shop_id, filters)
        .with_only_columns(*columns, maintain_column_froms=False)
        .select_from(Order)
        .outerjoin(items, items.c.order_id == Order.id)
    )
    if id_range is not None:
        query = _in_range(query, *id_range)
    return query


# The items of an order are listed in id order because string_agg reads them from a subquery
# sorted by (order_id DESC, id) — an order PostgreSQL keeps for a serial plan, not for an
# aggregate split across parallel workers (possible from PostgreSQL 16): every batch's
# transaction turns parallel plans off.
SERIAL_PLAN_SQL = "SELECT set_config('max_parallel_workers_per_gather', '0', true)"


def copy_session_sql(tz: str) -> tuple[str, dict[str, Any]]:
    """The transaction-local settings the CSV variant of ``formatted_select`` relies on (and
    the serial plan of ``SERIAL_PLAN_SQL``)."""
    return (
        "SELECT set_config('TimeZone', %(tz)s, true), set_config('DateStyle', 'ISO, YMD', true),"
        " set_config('max_parallel_workers_per_gather', '0', true)",
        {"tz": tz},
    )


def compiled_sql(rt: Runtime, query: Select[Any]) -> tuple[str, dict[str, Any]]:
    """SQL text with psycopg placeholders and its parameters: values are never inlined into
    the text; psycopg quotes them (COPY takes no server-side parameters)."""
    compiled = query.compile(dialect=rt.engine.dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)


def pg_rows(
    rt: Runtime, session: Session, shop_id: int, filters: OrderFilter, low: int, high: int
) -> Iterator[tuple[Any, ...]]:
    query = formatted_select(
        shop_id, filters, rt.settings.timezone, csv_safe=False, id_range=(low, high)
    )
    session.execute(text_sql(SERIAL_PLAN_SQL))
    for row in session.execute(query):
        yield tuple(row)


# --- SQLite (and any engine): formatted in Python ---


def py_rows(
    rt: Runtime, session: Session, shop_id: int, filters: OrderFilter, low: int, high: int
) -> Iterator[tuple[Any, ...]]:
    tz = rt.settings.timezone
    query = _in_range(
        filtered_query(shop_id, filters).with_only_columns(
            Order.id,
            Order.order_no,
            Order.created_at,
            Order.paid_at,
            Order.shipped_at,
            Order.status,
            Order.after_sale,
            Order.buyer_name,
            Order.buyer_phone,
            Order.address,
            Order.goods_fen,
            Order.discount_fen,
            Order.paid_fen,
            Order.carrier,
            Order.tracking_no,
            Order.violation_count,
            maintain_column_froms=False,
        ),
        low,
        high,
    )
    orders = session.execute(query).all()
    goods: dict[int, list[str]] = {}
    qty: dict[int, int] = {}
    for order_id, title, n in session.execute(
        select(OrderItem.order_id, OrderItem.title, OrderItem.qty)
        .where(OrderItem.shop_id == shop_id, OrderItem.order_id >= low, OrderItem.order_id < high)
        .order_by(OrderItem.order_id, OrderItem.id)
    ):
        goods.setdefault(order_id, []).append(f"{title}×{n}")
        qty[order_id] = qty.get(order_id, 0) + n

    def when(value: datetime | None) -> str | None:
        return None if value is None else to_local(value, tz).strftime(TIME_FORMAT_PY)

    for o in orders:
        yield (
            o.order_no,
            when(o.created_at),
            when(o.paid_at),
            when(o.shipped_at),
            STATUS_LABELS.get(o.status, o.status),
            AFTER_SALE_LABELS.get(o.after_sale, o.after_sale),
            ITEM_SEPARATOR.join(goods[o.id]) if o.id in goods else None,
            qty.get(o.id),
            o.buyer_name,
            o.buyer_phone,
            o.address,
            fen_to_yuan(o.goods_fen),
            fen_to_yuan(o.discount_fen),
            fen_to_yuan(o.paid_fen),
            CARRIER_NAMES.get(o.carrier, o.carrier) if o.carrier else None,
            o.tracking_no,
            o.violation_count,
        )


def fen_to_yuan(fen: int) -> Decimal:
    """Exact: 123450 → Decimal('1234.50'), -5 → Decimal('-0.05')."""
    return Decimal(int(fen)).scaleb(-2)


def fsync(handle: Any) -> None:
    """The written file on disk before it is renamed into place (``run_export``)."""
    handle.flush()
    os.fsync(handle.fileno())

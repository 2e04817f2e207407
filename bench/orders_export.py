"""Benchmark: O2 order export (CSV and XLSX) of N orders (default 1,000,000) on PostgreSQL.

Anchors measured in the same run:
* CSV  — issue 16's yardstick, a plain ``COPY`` of the same orders and the same columns as
  stored (no formatting, no items), printed as ours / plain (goal <= 2x); beside it the same
  with the items' raw title and qty joined, and the export's formatted query in one
  ``COPY … TO STDOUT WITH (FORMAT csv)`` statement (no batches);
* XLSX — a bare XlsxWriter ``constant_memory`` loop: the same rows from a server-side cursor,
  ``worksheet.write`` per cell; issue 16's yardstick (goal: ours >= 3x). Ours is printed twice:
  with the export's own streamed writer (``xlsx``, the default) and forced to XlsxWriter
  (``xlsx_xlsxwriter``, ``orders.xlsx_writer = "xlsxwriter"``, the fallback).
Each figure runs in its own spawned process; its peak RSS is that process's ``VmHWM`` (Linux
keeps ``ru_maxrss`` across exec, so a spawned child would report its parent's peak).

Fair figures (issue 16: the anchor measured first paid for the cold caches, 13.8 s then 7.8 s
for the same COPY): first ``--warmup`` unmeasured passes (default 1) of every CSV operation
(the XLSX ones read the same rows, warm by then, and spend > 90 % of their time in the
client), then ``--repeat`` timed passes (default 3) of every CSV operation and
``--xlsx-repeat`` (default 1) of every XLSX one, in rounds (each operation once per round, in
the same order). Each line reports the median pass (the lower middle one for an even count)
and lists every pass; the ratios are of the medians, and the headline CSV ratio is printed of
the best passes too.

    python -m bench.orders_export --orders 1000000 [--warmup 1] [--repeat 3] [--xlsx-repeat 1] \
        --db postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/xiaodian_bench

``seed_orders`` (set-based ``INSERT … SELECT`` over generated numbers, both engines) is
reusable: the O2 memory test seeds with it.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.orders_sweep import NOW, build, new_shop
from xiaodian.orders import service as orders
from xiaodian.orders.export import service as export
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime

_COLUMNS = (
    "shop_id, order_no, buyer_id, buyer_name, buyer_phone, address, payment_route, goods_fen,"
    " discount_fen, paid_fen, refunded_fen, status, after_sale, violation_count, created_at,"
    " paid_at, ship_by, shipped_at, carrier, tracking_no, close_reason"
)
_STATUSES = "('pending_payment','awaiting_shipment','shipped','completed','closed')"


def seed_orders(rt: Runtime, shop_id: int, count: int) -> None:
    """``count`` orders (one item each) for ``shop_id`` in two set-based statements: every
    status, shipped ones with a carrier, Chinese names and addresses, times over 90 days."""
    with rt.unit("seed") as ctx:
        product = orders.create_product(
            ctx, shop_id, title="保温杯 500ml 不锈钢", price_fen=5_900, stock=10**9
        )
        from xiaodian.accounts import service as accounts

        buyer, _ = accounts.create_buyer(
            ctx, douyin_id=f"seed_buyer_{shop_id}", nickname="压测买家", phone="13800000000"
        )
        product_id, buyer_id = product.id, buyer.id
    pg = rt.engine.dialect.name == "postgresql"
    base = NOW
    if pg:
        numbers = "SELECT generate_series(1, :count) AS i"
        created = "(:base - i * interval '1 minute')"
        later = "(:base - i * interval '1 minute' + interval '{}')"
        order_no = "'8' || lpad((:shop * 100000000 + i)::text, 18, '0')"
        pick = "(ARRAY" + _STATUSES.replace("(", "[").replace(")", "]") + ")[1 + i % 5]"
        phone = "'13' || lpad((i % 1000000000)::text, 9, '0')"
        text_i = "i::text"
    else:
        numbers = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)"
            " SELECT i FROM n"
        )
        created = "datetime(:base, '-' || i || ' minutes')"
        later = "datetime(:base, '-' || i || ' minutes', '+{}')"
        order_no = "'8' || substr('000000000000000000' || (:shop * 100000000 + i), -18)"
        pick = (
            "CASE i % 5 WHEN 0 THEN 'pending_payment' WHEN 1 THEN 'awaiting_shipment'"
            " WHEN 2 THEN 'shipped' WHEN 3 THEN 'completed' ELSE 'closed' END"
        )
        phone = "'13' || substr('000000000' || (i % 1000000000), -9)"
        text_i = "CAST(i AS TEXT)"
    shipped = "i % 5 IN (2, 3)"
    paid = "i % 5 <> 0"
    sql = f"""
        INSERT INTO orders ({_COLUMNS})
        SELECT :shop, {order_no}, :buyer,
               CASE i % 3 WHEN 0 THEN '张伟' WHEN 1 THEN '王芳' ELSE '李娜' END || {text_i},
               {phone}, '浙江省杭州市西湖区文三路 ' || {text_i} || ' 号', 'wechat',
               5900 * (1 + i % 3), i % 7 * 100,
               CASE WHEN {paid} THEN 5900 * (1 + i % 3) - i % 7 * 100 ELSE 0 END, 0,
               {pick}, 'none', i % 4, {created},
               CASE WHEN {paid} THEN {later.format("1 minutes" if not pg else "1 minute")} END,
               CASE WHEN {paid} THEN {later.format("48 hours")} END,
               CASE WHEN {shipped} THEN {later.format("12 hours")} END,
               CASE WHEN {shipped} THEN 'SF' END,
               CASE WHEN {shipped} THEN 'SF' || substr('0000000000000' || {text_i}, -13) END,
               ''
        FROM ({numbers}) AS numbers
    """
    params: dict[str, Any] = {"shop": shop_id, "buyer": buyer_id, "count": count}
    params["base"] = base if pg else base.replace(tzinfo=None).isoformat(sep=" ")
    with rt.unit("seed") as ctx:
        before = ctx.session.scalar(text("SELECT coalesce(max(id), 0) FROM orders")) or 0
        ctx.session.execute(text(sql), params)
        ctx.session.execute(
            text(
                "INSERT INTO order_items (shop_id, order_id, product_id, title, qty,"
                " unit_price_fen, amount_fen)"
                " SELECT shop_id, id, :product, '保温杯 500ml 不锈钢', goods_fen / 5900, 5900,"
                " goods_fen FROM orders WHERE shop_id = :shop AND id > :before"
            ),
            {"product": product_id, "shop": shop_id, "before": before},
        )
    if pg:
        with rt.engine.begin() as conn:
            conn.execute(text("ANALYZE orders"))
            conn.execute(text("ANALYZE order_items"))


# ----- the measured operations ---------------------------------------------------------------


# The raw columns the export reads, unformatted: the plain COPY anchor of issue 16.
_PLAIN_COLUMNS = (
    "o.order_no, o.created_at, o.paid_at, o.shipped_at, o.status, o.after_sale, o.buyer_name,"
    " o.buyer_phone, o.address, o.goods_fen, o.discount_fen, o.paid_fen, o.carrier,"
    " o.tracking_no, o.violation_count"
)


def plain_copy_anchor(rt: Runtime, shop_id: int, out: Path) -> int:
    """Issue 16's yardstick: a plain ``COPY`` of the same orders (same rows, same order) and
    the same columns as stored — no formatting, no items (the goods column's raw data)."""
    sql = f"SELECT {_PLAIN_COLUMNS} FROM orders o WHERE o.shop_id = %(shop)s ORDER BY o.id DESC"
    return _copy(rt, sql, {"shop": shop_id}, out)


def plain_copy_items_anchor(rt: Runtime, shop_id: int, out: Path) -> int:
    """The same with the items' raw title and qty joined (one line per item)."""
    sql = (
        f"SELECT {_PLAIN_COLUMNS}, i.title, i.qty FROM orders o LEFT JOIN order_items i"
        " ON i.shop_id = o.shop_id AND i.order_id = o.id"
        " WHERE o.shop_id = %(shop)s ORDER BY o.id DESC, i.id"
    )
    return _copy(rt, sql, {"shop": shop_id}, out)


def copy_anchor(rt: Runtime, shop_id: int, out: Path) -> int:
    """The export's own formatted query, whole, in one COPY (no batches)."""
    query = export.formatted_select(shop_id, OrderFilter(), "Asia/Shanghai", csv_safe=True)
    sql, params = export._compiled(rt, query)
    return _copy(rt, sql, params, out, session=export.copy_session_sql("Asia/Shanghai"))


def _copy(
    rt: Runtime,
    sql: str,
    params: dict[str, Any],
    out: Path,
    session: tuple[str, dict[str, Any]] | None = None,
) -> int:
    """One COPY into ``out``, read by the same client loop as ours (``export.copy_out``, round
    three: the best plain COPY client we have, so the anchor stays honest)."""
    raw = rt.engine.raw_connection()
    try:
        dbapi: Any = raw.driver_connection
        with out.open("wb") as f:
            if session is not None:
                dbapi.execute(*session)
            rows = export.copy_out(
                dbapi, f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params, bytearray(), f.write
            )
        dbapi.commit()
    finally:
        raw.close()
    return rows


def copy_two_anchor(rt: Runtime, shop_id: int, out: Path) -> int:
    """A ceiling for two streams: our formatted query in two COPY statements, one per half of
    the orders (split at the median id), run at once over two connections, each into its own
    file — no batches, no ordering, no appending."""
    with rt.engine.connect() as conn:
        middle = conn.execute(
            text(
                "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM orders"
                " WHERE shop_id = :shop"
            ),
            {"shop": shop_id},
        ).scalar_one()
    halves = [(middle, 2**62), (0, middle)]
    rows = [0, 0]

    def run(half: int) -> None:
        query = export.formatted_select(
            shop_id, OrderFilter(), "Asia/Shanghai", csv_safe=True, id_range=halves[half]
        )
        sql, params = export._compiled(rt, query)
        part = out.with_name(f"{out.stem}.{half}{out.suffix}")
        rows[half] = _copy(rt, sql, params, part, session=export.copy_session_sql("Asia/Shanghai"))

    threads = [threading.Thread(target=run, args=(half,)) for half in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.write_bytes(b"")
    return sum(rows)


@contextlib.contextmanager
def _formatted_rows(rt: Runtime, shop_id: int, cursor_name: str) -> Iterator[Any]:
    """The export's formatted rows (XLSX variant) from a server-side cursor, 5,000 a fetch."""
    query = export.formatted_select(shop_id, OrderFilter(), "Asia/Shanghai", csv_safe=False)
    sql, params = export._compiled(rt, query)
    raw = rt.engine.raw_connection()
    try:
        dbapi: Any = raw.driver_connection
        with dbapi.cursor(name=cursor_name) as cursor:
            cursor.itersize = 5000
            cursor.execute(sql, params)
            yield cursor
        dbapi.commit()
    finally:
        raw.close()


def xlsx_anchor(rt: Runtime, shop_id: int, out: Path) -> int:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    sheet = book.add_worksheet()
    for col, title in enumerate(export.HEADERS):
        sheet.write(0, col, title)
    rows = 0
    with _formatted_rows(rt, shop_id, "bench_xlsx") as cursor:
        for rows, row in enumerate(cursor, start=1):
            for col, value in enumerate(row):
                sheet.write(rows, col, value)
    book.close()
    return rows


def xlsx_rust_candidate(rt: Runtime, shop_id: int, out: Path) -> int:
    """A faster writer, measured as the issue asks (not a dependency): rustpy-xlsxwriter
    (Rust ``rust_xlsxwriter``, constant-memory mode, fed a generator of dicts from the same
    server-side cursor). Skipped (0 rows) when it is not installed."""
    try:
        from rustpy_xlsxwriter import write_worksheet
    except ImportError:
        return 0
    headers = export.HEADERS
    money = set(export.MONEY_COLUMNS)
    count = 0

    def records(cursor: Any) -> Iterator[dict[str, Any]]:
        nonlocal count
        for row in cursor:
            count += 1
            yield {
                headers[col]: float(value) if col in money and value is not None else value
                for col, value in enumerate(row)
            }

    with _formatted_rows(rt, shop_id, "bench_xlsx_rust") as cursor:
        write_worksheet(
            records(cursor), str(out), sheet_name="订单", freeze_row=1, float_format="0.00"
        )
    return count


def ours(fmt: str, streams: int | None = None) -> Callable[[Runtime, int, Path], int]:
    def run(rt: Runtime, shop_id: int, out: Path) -> int:
        if streams is not None:
            rt.settings.orders.export_streams = streams
        return export.write_export(rt, shop_id, OrderFilter(), fmt, out)

    return run


def _child(url: str, name: str, shop_id: int, out: str, queue: Any) -> None:
    from xiaodian.config import Settings
    from xiaodian.db import make_engine, make_sessionmaker

    engine = make_engine(url)
    settings = Settings(database_url=url)
    if name == "xlsx_xlsxwriter":
        settings.orders.xlsx_writer = "xlsxwriter"
    rt = Runtime(
        settings=settings,
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=build.__globals__["ManualClock"](NOW),
    )
    operation = {
        "copy_plain": plain_copy_anchor,
        "copy_plain_items": plain_copy_items_anchor,
        "copy": copy_anchor,
        "copy_2": copy_two_anchor,
        "csv_1": ours("csv", streams=1),
        "csv": ours("csv"),
        "xlsx_bare": xlsx_anchor,
        "xlsx": ours("xlsx"),
        "xlsx_xlsxwriter": ours("xlsx"),
        "xlsx_rust": xlsx_rust_candidate,
    }[name]
    started, cpu_started = time.perf_counter(), time.process_time()
    rows = operation(rt, shop_id, Path(out))
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_started
    peak = _own_peak_rss_mb()
    server_cpu = _server_cpu_seconds(rt)
    queue.put(
        {
            "rows": rows,
            "seconds": seconds,
            "peak_mb": peak,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "bytes": Path(out).stat().st_size if Path(out).exists() else 0,
        }
    )


def _server_cpu_seconds(rt: Runtime) -> float:
    """CPU time (user + system) of the PostgreSQL backends this process opened: on a loaded
    machine the database's own work, which waiting for the CPU does not inflate. Read from
    /proc, so only for a local server; nan otherwise. The bench database is used by this
    bench alone, and the spawned process's pooled connections are still open here."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    import psycopg

    dsn = rt.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:  # outside the pool: not one of the measured backends
        # only this process's sessions (named ``xiaodian <pid> <thread>`` by xiaodian.db):
        # another bench reading the same database must not count here
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND application_name LIKE %s",
                (f"xiaodian {os.getpid()} %",),
            )
        ]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return float("nan")
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _own_peak_rss_mb() -> float:
    """This process image's peak resident set (VmHWM), in MB; ru_maxrss where /proc is absent."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, name: str, shop_id: int, folder: Path) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    suffix = "xlsx" if name.startswith("xlsx") else "csv"
    out = folder / f"{name}.{suffix}"
    process = ctx.Process(target=_child, args=(url, name, shop_id, str(out), queue))
    process.start()
    result: dict[str, Any] = queue.get()
    process.join()
    result["file"] = str(out)
    return result


def _median(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """The median pass by wall time (the lower middle one for an even count), whole (its CPU,
    RSS and file with it), with every pass's wall time under ``passes`` and the best under
    ``best``."""
    ordered = sorted(passes, key=lambda r: float(r["seconds"]))
    result = dict(ordered[(len(ordered) - 1) // 2])
    result["passes"] = [float(r["seconds"]) for r in passes]
    result["best"] = float(ordered[0]["seconds"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument(
        "--db", default="postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/xiaodian_bench"
    )
    parser.add_argument("--keep", help="folder to keep the files in (for LibreOffice checks)")
    parser.add_argument("--reuse-shop", type=int, help="measure this already seeded shop")
    parser.add_argument("--csv-only", action="store_true", help="skip the XLSX figures")
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured passes of every CSV operation first"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed passes of every CSV operation (median shown)"
    )
    parser.add_argument(
        "--xlsx-repeat", type=int, default=1, help="timed passes of every XLSX operation"
    )
    args = parser.parse_args()
    if args.repeat < 1 or args.xlsx_repeat < 1 or args.warmup < 0:
        parser.error("--repeat and --xlsx-repeat must be ≥ 1, --warmup ≥ 0")
    csv_names = ["copy_plain", "copy_plain_items", "copy", "copy_2", "csv_1", "csv"]
    names = list(csv_names)
    if not args.csv_only:
        names += ["xlsx_bare", "xlsx", "xlsx_xlsxwriter", "xlsx_rust"]
    if args.reuse_shop:
        shop_id = args.reuse_shop  # a shop seeded by an earlier run of this bench
    else:
        rt = build(args.db)
        shop_id = new_shop(rt, "export")
        started = time.perf_counter()
        seed_orders(rt, shop_id, args.orders)
        print(
            f"seeded {args.orders:,} orders in {time.perf_counter() - started:.1f} s"
            f" (shop {shop_id}: --reuse-shop {shop_id} measures them again)"
        )
        rt.engine.dispose()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="xiaodian-export-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    warm: dict[str, list[float]] = {name: [] for name in csv_names}
    for _ in range(args.warmup):
        for name in csv_names:
            warm[name].append(measure(args.db, name, shop_id, folder)["seconds"])
    if args.warmup:
        print(
            "warm-up (not counted): "
            + ", ".join(f"{n} {' '.join(f'{s:.2f}' for s in w)} s" for n, w in warm.items())
        )
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(max(args.repeat, args.xlsx_repeat)):
        for name in names:
            if round_ < (args.xlsx_repeat if name.startswith("xlsx") else args.repeat):
                runs[name].append(measure(args.db, name, shop_id, folder))
    results = {name: _median(passes) for name, passes in runs.items()}
    for name, r in results.items():
        if not r["rows"]:
            print(f"{name:16s} skipped (rustpy-xlsxwriter is not installed)")
            continue
        every = (
            f"  passes {' '.join(f'{s:.2f}' for s in r['passes'])} s"
            if len(r["passes"]) > 1
            else ""
        )
        print(
            f"{name:16s} {r['rows']:>9,} rows  {r['seconds']:7.2f} s  "
            f"{r['rows'] / r['seconds']:>10,.0f} rows/s  CPU: database {r['server_cpu']:6.2f} s,"
            f" ours {r['client_cpu']:6.2f} s  "
            f"peak RSS {r['peak_mb']:6.1f} MB  "
            f"{r['bytes'] / 1e6:7.1f} MB file{every}"
        )
    if args.repeat > 1:
        print(
            f"(CSV lines: the median of {args.repeat} timed passes — the lower middle one for"
            " an even count — every pass listed)"
        )
    csv_s, plain_s = results["csv"]["seconds"], results["copy_plain"]["seconds"]
    print(
        f"CSV : ours {csv_s:.2f} s = {csv_s / plain_s:.2f}x the plain COPY of the same rows and"
        f" columns ({plain_s:.2f} s; goal <= 2x); "
        f"{csv_s / results['copy_plain_items']['seconds']:.2f}x the plain COPY with the items"
        f" joined; {csv_s / results['copy']['seconds']:.2f}x our formatted query in one COPY"
    )
    if args.repeat > 1:
        best, plain_best = results["csv"]["best"], results["copy_plain"]["best"]
        print(
            f"CSV : best passes: ours {best:.2f} s = {best / plain_best:.2f}x the plain COPY's"
            f" best ({plain_best:.2f} s)"
        )
    one_s = results["csv_1"]["seconds"]
    print(
        f"CSV : one stream {one_s:.2f} s = {one_s / plain_s:.2f}x the plain COPY; ceiling of two"
        f" streams (our query in two COPYs at once) {results['copy_2']['seconds']:.2f} s ="
        f" {results['copy_2']['seconds'] / plain_s:.2f}x"
    )
    cpu, plain_cpu = results["csv"]["server_cpu"], results["copy_plain"]["server_cpu"]
    print(
        f"CSV : database CPU ours {cpu:.2f} s vs plain COPY {plain_cpu:.2f} s"
        f" = {cpu / plain_cpu:.2f}x"
    )
    if args.csv_only:
        print(f"files in {folder}")
        return
    bare = results["xlsx_bare"]
    for name, label in (("xlsx", "ours (fast writer)"), ("xlsx_xlsxwriter", "ours (XlsxWriter)")):
        r = results[name]
        print(
            f"XLSX: {label:19s} {bare['seconds'] / r['seconds']:5.2f}x the bare XlsxWriter"
            f" constant_memory loop in wall time, {bare['client_cpu'] / r['client_cpu']:5.2f}x"
            " in client CPU (goal >= 3x)"
        )
    if results["xlsx_rust"]["rows"]:
        rust_ratio = results["xlsx_bare"]["seconds"] / results["xlsx_rust"]["seconds"]
        print(f"XLSX candidate rustpy-xlsxwriter: {rust_ratio:.2f}x the bare loop")
    print(f"files in {folder}")


if __name__ == "__main__":
    main()

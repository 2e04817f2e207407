"""Benchmark: O1 filtered order search (first page of 20) over a large order table.

Seeds N orders (default 1,000,000) in one shop, then runs each filter many times through
``service.search_orders`` (the open API's query) and reports p50/p95; the anchor is the same
SELECT (``service.search_query``: filters, newest-first order, limit) compiled once and
executed as raw SQL, so the ratio shows the ORM/filter overhead.

``--violated 0.1`` marks the oldest 10 % of the shop's orders violated first (as the sweep
leaves a shop: it judges the oldest due orders), so 有发货超时 is a realistic subset; the
seed alone has none. It writes to the database: never use it on a database you only read.

    python -m bench.orders_search --orders 1000000 --violated 0.1 [--db postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from bench.orders_sweep import NOW, build, new_shop
from xiaodian.clock import ManualClock
from xiaodian.config import Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.orders import service
from xiaodian.orders.cli import bulk_seed
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime

FILTERS: dict[str, dict[str, Any]] = {
    "no filter": {},
    "status=awaiting_shipment": {"status": "awaiting_shipment"},
    "buyer_phone (exact)": {"buyer_phone": "13500012345"},
    "buyer_name prefix": {"buyer_name": "王芳7"},
    "product title": {"product": "龙井"},
    "paid last 7 days + status": {
        "paid_from": NOW - timedelta(days=7),
        "paid_to": NOW,
        "status": "shipped",
    },
    "violated": {"violation": "violated"},
    "not violated": {"violation": "none"},
    # Rare and absent values: nothing to stop early on, the index must find the rows.
    "product (1 of 20 products)": {"product": "商品007"},
    "product (no match)": {"product": "不存在的商品"},
    "buyer_phone last 4 digits": {"buyer_phone": "2345"},
    "buyer_name (no match)": {"buyer_name": "欧阳"},
    "created 80-81 days ago": {
        "created_from": NOW - timedelta(days=81),
        "created_to": NOW - timedelta(days=80),
    },
}


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--db", default="")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="search the biggest shop already in --db (e.g. after orders_sweep)",
    )
    parser.add_argument(
        "--violated",
        type=float,
        default=0.0,
        help="first mark this fraction of the shop's orders, the oldest, violated (writes!)",
    )
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench_search.db"
    if args.reuse:
        rt = reuse(url)
        with rt.engine.connect() as conn:
            shop_id, count = conn.execute(
                text("SELECT shop_id, count(*) FROM orders GROUP BY shop_id ORDER BY 2 DESC")
            ).first()
            total = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
        print(f"database: {rt.engine.dialect.name}; shop {shop_id}: {count:,} of {total:,}")
    else:
        rt = build(url)
        shop_id = new_shop(rt, "search")
        started = time.perf_counter()
        bulk_seed(rt, shop_id, args.orders, due=args.orders // 100)
        print(
            f"database: {rt.engine.dialect.name}; seeded {args.orders:,} orders in "
            f"{time.perf_counter() - started:.1f}s"
        )
    if args.violated > 0:
        violate_oldest(rt, shop_id, args.violated)
    with rt.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print(f"{'filter':28} {'rows':>4} {'p50 ms':>8} {'p95 ms':>8} {'raw p95':>8} {'ratio':>6}")
    for name, raw in FILTERS.items():
        filters = OrderFilter.model_validate(raw)
        timings, anchor = [], []
        with rt.unit() as ctx:  # the anchor runs the final SELECT, product ids resolved
            product_ids = service.matching_product_ids(ctx.session, shop_id, filters)
        compiled = service.search_query(shop_id, filters, product_ids, limit=20).compile(
            rt.engine, compile_kwargs={"render_postcompile": True}
        )
        rows = 0
        for _ in range(args.runs):
            with rt.unit() as ctx:
                t0 = time.perf_counter()
                rows = len(service.search_orders(ctx.session, shop_id, filters, limit=20))
                timings.append(time.perf_counter() - t0)
            with rt.engine.connect() as conn:
                if rt.engine.dialect.name == "postgresql":  # the plan search_orders asks for
                    conn.exec_driver_sql("SET max_parallel_workers_per_gather = 0")
                t0 = time.perf_counter()
                conn.exec_driver_sql(str(compiled), _driver_params(compiled, rt)).fetchall()
                anchor.append(time.perf_counter() - t0)
                if rt.engine.dialect.name == "postgresql":  # the pooled connection as it was
                    conn.exec_driver_sql("RESET max_parallel_workers_per_gather")
        print(
            f"{name:28} {rows:>4} {statistics.median(timings) * 1000:8.2f} "
            f"{p(timings, 0.95):8.2f} {p(anchor, 0.95):8.2f} "
            f"{p(timings, 0.95) / max(p(anchor, 0.95), 1e-9):6.2f}"
        )


def violate_oldest(rt: Runtime, shop_id: int, fraction: float) -> None:
    """Mark the oldest ``fraction`` of the shop's orders judged late once (violation_count 1),
    unless at least that many are violated already."""
    with rt.engine.begin() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM orders WHERE shop_id = :shop"), {"shop": shop_id}
        ).scalar_one()
        want = int(count * fraction)
        have = conn.execute(
            text("SELECT count(*) FROM orders WHERE shop_id = :shop AND violation_count > 0"),
            {"shop": shop_id},
        ).scalar_one()
        if have >= want:
            print(f"violated: {have:,} orders already")
            return
        conn.execute(
            text(
                "UPDATE orders SET violation_count = 1, last_judged_at = :now"
                " WHERE shop_id = :shop AND violation_count = 0 AND id IN ("
                "SELECT id FROM orders WHERE shop_id = :shop"
                " ORDER BY created_at, id LIMIT :n)"
            ),
            {"shop": shop_id, "now": NOW, "n": want},
        )
    if rt.engine.dialect.name == "postgresql":  # as autovacuum would: visibility map, stats
        with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE orders"))
    print(f"violated: the oldest {want:,} orders marked")


def reuse(url: str) -> Runtime:
    engine = make_engine(url)
    return Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=ManualClock(NOW),
    )


def _driver_params(compiled: Any, rt: Any) -> Any:
    """Bind values in the driver's form (positional for SQLite, named for psycopg)."""
    processors = compiled._bind_processors
    params = {}
    for key, value in compiled.params.items():
        proc = processors.get(key)
        params[key] = proc(value) if proc else value
    if rt.engine.dialect.paramstyle == "qmark":
        return tuple(params[k] for k in compiled.positiontup)
    return params


if __name__ == "__main__":
    main()

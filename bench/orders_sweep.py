"""Benchmark: the O6 late-shipment judgment tick over a large order table.

Seeds N orders (default 1,000,000) of which D (default 100,000) are paid, unshipped and past
their ship-by time, then measures:

1. a full orders tick (``scheduler.run_tick`` with the orders sweeps) that judges the D due
   orders: UPDATE … RETURNING, violation rows, one event per judgment, a notice per shop;
2. the anchor: hand-written SQL doing the same writes (UPDATE orders, INSERT … SELECT the
   violations, INSERT … SELECT the events) on an identical copy of the due set;
3. a tick with nothing due (the cost every idle tick pays).

    python -m bench.orders_sweep --orders 1000000 --due 100000 \
        [--db postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/xiaodian_orders_bench]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.clock import ManualClock, local_day_start
from xiaodian.config import Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.orders import sweeps as rules
from xiaodian.orders.cli import bulk_seed
from xiaodian.runtime import Runtime, upgrade

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def build(url: str) -> Runtime:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    return Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=ManualClock(NOW),
    )


def new_shop(rt: Runtime, name: str) -> int:
    with rt.unit() as ctx:
        shop, _user = accounts.create_shop(
            ctx, name=name, username=f"bench_{name}", password="bench-pass-1", phone="13800000000"
        )
        return shop.id


# The sweep's event payload, built by the database (PostgreSQL only; SQLite's anchor leaves
# it empty).
PG_EVENT_PAYLOAD = (
    "json_build_object('order_id', o.id, 'order_no', o.order_no, 'seq', o.violation_count + 1,"
    " 'due_at', to_char(o.next_judge_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS+00:00'),"
    " 'judged_at', to_char(CAST(:now AS timestamptz) AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS+00:00'),"
    " 'penalty_day', to_char(CAST(:day AS timestamptz) AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS+00:00'))"
)


def hand_written(rt: Runtime, shop_id: int, *, with_payload: bool = True) -> float:
    """The same writes as the judgment sweep, in three plain statements: the violation rows,
    the events with the same payload (on PostgreSQL; ``with_payload=False`` writes '{}', the
    lighter anchor of the first measurements), the order UPDATE."""
    rules_ = rt.settings.orders
    penalty_day = local_day_start(
        local_day_start(NOW, "Asia/Shanghai") + timedelta(hours=36), "Asia/Shanghai"
    )
    params = {
        "now": NOW,
        "next": NOW + timedelta(hours=24),
        "shop": shop_id,
        "max": rules_.max_judgments,
        "fen": rules_.penalty_fen,
        "day": penalty_day,
    }
    is_pg = rt.engine.dialect.name == "postgresql"
    payload = PG_EVENT_PAYLOAD if is_pg and with_payload else "'{}'"
    if not is_pg:  # SQLite keeps naive UTC
        params = {
            k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in params.items()
        }
    started = time.perf_counter()
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO order_violations (shop_id, order_id, seq, due_at, judged_at, "
                "penalty_day, penalty_fen, penalty_status) "
                "SELECT shop_id, id, violation_count + 1, next_judge_at, :now, :day, :fen, "
                "'pending' FROM orders WHERE shop_id = :shop AND next_judge_at <= :now "
                "AND status = 'awaiting_shipment' AND refund_agreed_at IS NULL "
                "AND violation_count < :max"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO events (shop_id, type, payload, rule, actor, occurred_at) "
                "SELECT o.shop_id, 'order.late_judged', " + payload + ", 'O6', 'system', "
                ":now FROM orders o WHERE o.shop_id = :shop AND o.next_judge_at <= :now "
                "AND o.status = 'awaiting_shipment' AND o.refund_agreed_at IS NULL "
                "AND o.violation_count < :max"
            ),
            params,
        )
        conn.execute(
            text(
                "UPDATE orders SET violation_count = violation_count + 1, "
                "last_judged_at = :now, last_due_at = next_judge_at, "
                "next_judge_at = CASE WHEN violation_count + 1 >= :max THEN NULL ELSE :next END"
                " WHERE shop_id = :shop AND next_judge_at <= :now "
                "AND status = 'awaiting_shipment' AND refund_agreed_at IS NULL "
                "AND violation_count < :max"
            ),
            params,
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--db", default="")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench_orders.db"
    rt = build(url)
    print(f"database: {rt.engine.dialect.name}; orders {args.orders:,}, due {args.due:,}")
    # Identical shops: one judged by the sweep, the others by the hand-written SQL (with the
    # sweep's event payload, and with bare '{}' payloads as first measured).
    swept, anchored, bare = (new_shop(rt, name) for name in ("sweep", "anchor", "anchor_bare"))
    third, due_third = args.orders // 3, args.due // 3
    started = time.perf_counter()
    for shop_id in (swept, anchored, bare):
        bulk_seed(rt, shop_id, third, due=due_third)
    print(f"seeded in {time.perf_counter() - started:.1f}s")
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.begin() as conn:
            conn.execute(text("ANALYZE"))

    bare_s = hand_written(rt, bare, with_payload=False)
    anchor_s = hand_written(rt, anchored)
    # The sweep judges every due order of every shop; only `swept` still has due orders.
    started = time.perf_counter()
    report = scheduler.run_tick(rt, now=NOW, sweeps=rules.SWEEPS)
    sweep_s = time.perf_counter() - started
    judged = report.counts["orders.judge_late"]["judged"]
    print(f"full tick (sweep)     : {sweep_s:8.3f}s  judged {judged:,} ({judged / sweep_s:,.0f}/s)")
    print(f"hand-written SQL      : {anchor_s:8.3f}s  (same writes, {due_third:,} orders)")
    print(f"  with '{{}}' payloads  : {bare_s:8.3f}s")
    print(
        f"ratio sweep / SQL     : {sweep_s / anchor_s:8.2f}x  ({sweep_s / bare_s:.2f}x vs '{{}}')"
    )

    idle = []
    for _ in range(20):
        started = time.perf_counter()
        scheduler.run_tick(rt, now=NOW + timedelta(minutes=1), sweeps=rules.SWEEPS)
        idle.append(time.perf_counter() - started)
    idle.sort()
    print(f"tick with nothing due : {idle[len(idle) // 2] * 1000:8.2f}ms median of 20")


if __name__ == "__main__":
    main()

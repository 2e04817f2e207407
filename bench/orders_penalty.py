"""Benchmark W1: the O8 penalty batch on a penalty day the planner has never seen.

The penalty day of a batch is always newer than the last ANALYZE: the statistics say the
table holds no pending judgment of that day. The earlier batch (a window subquery inside
``UPDATE … WHERE id IN (…)``) got a plan that re-ran the subquery per pending row under such
estimates — 1,000 pending 12.4 s, 3,000 pending 85.7 s. This benchmark builds that case:

1. two identical groups of shops (``--shops`` each), ``--pending`` pending judgments per group
   on one penalty day, spread over orders in three shapes: a first judgment, a second judgment
   of an order deducted once before, a third judgment of an order deducted twice before (so
   the per-order cap waives it); every shop has more pending than its daily cap;
2. the history (the earlier, decided judgments) is ANALYZEd; then the pending rows are
   inserted, with autovacuum off for the table, so they are never analysed;
3. the anchor, hand-written SQL, decides the first group in one statement (both caps by
   window functions, ``UPDATE … FROM``) and writes one event per judgment by
   ``INSERT … SELECT``;
4. the batch itself (``scheduler.run_tick`` with the penalty sweep) decides the second group:
   the same decisions, plus one ledger transaction per shop, an event per judgment and a
   notice per shop.

Prints both times and their ratio, and checks that both groups got the same decisions.

    python -m bench.orders_penalty --pending 20000 --shops 40 \
        [--db postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/xiaodian_penalty_bench]

The database is wiped (DROP SCHEMA public CASCADE) first: give it its own database.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta

from sqlalchemy import text

from bench.orders_sweep import NOW, build, new_shop
from xiaodian import scheduler
from xiaodian.clock import local_day_start
from xiaodian.orders import rules
from xiaodian.orders.cli import bulk_seed
from xiaodian.runtime import Runtime

TZ = "Asia/Shanghai"
PENALTY_DAY = local_day_start(NOW, TZ)  # the batch runs on this day, for yesterday's judgments
EARLIER_DAY = PENALTY_DAY - timedelta(days=1)


def _naive(rt: Runtime, params: dict[str, object]) -> dict[str, object]:
    if rt.engine.dialect.name == "postgresql":
        return params
    return {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in params.items()}


def seed_group(rt: Runtime, shops: list[int], pending_per_shop: int) -> None:
    for shop_id in shops:
        bulk_seed(rt, shop_id, pending_per_shop, due=0)


def history_and_pending(rt: Runtime, lo: int, hi: int, fen: int) -> None:
    """Orders of shops lo..hi: id % 3 == 0 was deducted twice before, == 1 once, else never;
    each gets one pending judgment (its next seq) on PENALTY_DAY."""
    params = _naive(
        rt,
        {
            "lo": lo,
            "hi": hi,
            "fen": fen,
            "day": PENALTY_DAY,
            "earlier": EARLIER_DAY,
            "judged": PENALTY_DAY - timedelta(hours=12),
            "decided": EARLIER_DAY + timedelta(hours=1),
        },
    )
    history = (
        "INSERT INTO order_violations (shop_id, order_id, seq, due_at, judged_at, penalty_day,"
        " penalty_fen, penalty_status, penalty_decided_at) SELECT shop_id, id, s.seq, :earlier,"
        " :earlier, :earlier, :fen, 'deducted', :decided FROM orders JOIN (SELECT 1 AS seq"
        " UNION ALL SELECT 2) s ON s.seq <= 2 - (orders.id % 3) WHERE shop_id BETWEEN :lo AND :hi"
        " AND orders.id % 3 IN (0, 1)"
    )
    with rt.engine.begin() as conn:
        conn.execute(text(history), params)


def pending(rt: Runtime, lo: int, hi: int, fen: int) -> None:
    params = _naive(
        rt,
        {"lo": lo, "hi": hi, "fen": fen, "day": PENALTY_DAY, "judged": EARLIER_DAY},
    )
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO order_violations (shop_id, order_id, seq, due_at, judged_at,"
                " penalty_day, penalty_fen, penalty_status) SELECT o.shop_id, o.id,"
                " (SELECT count(*) FROM order_violations h WHERE h.order_id = o.id) + 1,"
                " :judged, :judged, :day, :fen, 'pending' FROM orders o"
                " WHERE o.shop_id BETWEEN :lo AND :hi"
            ),
            params,
        )


ANCHOR = """
WITH pending AS MATERIALIZED (
    SELECT id, shop_id, order_id, seq, judged_at, penalty_fen FROM order_violations
    WHERE penalty_status = 'pending' AND penalty_day = :day AND shop_id BETWEEN :lo AND :hi
), before AS (
    SELECT d.order_id, count(*) AS n FROM order_violations d
    WHERE d.penalty_status = 'deducted'
      AND d.order_id IN (SELECT order_id FROM pending)
    GROUP BY d.order_id
), ranked AS (
    SELECT p.*, coalesce(b.n, 0) + row_number() OVER (
        PARTITION BY p.order_id ORDER BY p.judged_at, p.seq) > :max AS over_order
    FROM pending p LEFT JOIN before b ON b.order_id = p.order_id
), running AS (
    SELECT r.id, r.over_order, sum(CASE WHEN r.over_order THEN 0 ELSE r.penalty_fen END) OVER (
        PARTITION BY r.shop_id ORDER BY r.judged_at, r.order_id, r.seq, r.id) AS run
    FROM ranked r
)
UPDATE order_violations v SET penalty_decided_at = :now, penalty_status = CASE
    WHEN r.over_order THEN 'waived_order_cap' WHEN r.run <= :cap THEN 'deducted'
    ELSE 'waived_shop_cap' END
FROM running r WHERE v.id = r.id
"""

ANCHOR_EVENTS = """
INSERT INTO events (shop_id, type, payload, rule, actor, occurred_at)
SELECT v.shop_id, CASE WHEN v.penalty_status = 'deducted' THEN 'order.penalty_deducted'
    ELSE 'order.penalty_waived' END,
    json_build_object('violation_id', v.id, 'order_id', v.order_id, 'order_no', o.order_no,
        'seq', v.seq, 'status', v.penalty_status, 'penalty_day', :day),
    'O8', 'system', :now
FROM order_violations v JOIN orders o ON o.id = v.order_id
WHERE v.penalty_decided_at = :now AND v.penalty_day = :day AND v.shop_id BETWEEN :lo AND :hi
"""


def anchor(rt: Runtime, lo: int, hi: int) -> float:
    settings = rt.settings.orders
    params = {
        "day": PENALTY_DAY,
        "lo": lo,
        "hi": hi,
        "max": settings.max_deductions_per_order,
        "cap": settings.shop_daily_cap_fen,
        "now": NOW,
    }
    started = time.perf_counter()
    with rt.engine.begin() as conn:
        conn.execute(text(ANCHOR), params)
        conn.execute(text(ANCHOR_EVENTS), params)
    return time.perf_counter() - started


def outcome(rt: Runtime, lo: int, hi: int) -> dict[str, int]:
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT penalty_status, count(*) FROM order_violations WHERE penalty_day = :day"
                " AND shop_id BETWEEN :lo AND :hi GROUP BY penalty_status"
            ),
            _naive(rt, {"day": PENALTY_DAY, "lo": lo, "hi": hi}),
        ).all()
    return {str(status): int(n) for status, n in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=20_000, help="pending per group")
    parser.add_argument("--shops", type=int, default=40, help="shops per group")
    parser.add_argument("--db", default="")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench_penalty.db"
    rt = build(url)
    is_pg = rt.engine.dialect.name == "postgresql"
    fen = rt.settings.orders.penalty_fen
    per_shop = max(1, args.pending // args.shops)
    print(f"database: {rt.engine.dialect.name}; {args.shops} shops × {per_shop} pending, × 2")
    started = time.perf_counter()
    anchored = [new_shop(rt, f"anchor{i}") for i in range(args.shops)]
    swept = [new_shop(rt, f"sweep{i}") for i in range(args.shops)]
    seed_group(rt, anchored + swept, per_shop)
    groups = {"anchor": (min(anchored), max(anchored)), "batch": (min(swept), max(swept))}
    for lo, hi in groups.values():
        history_and_pending(rt, lo, hi, fen)
    if is_pg:
        with rt.engine.begin() as conn:
            conn.execute(text("ALTER TABLE order_violations SET (autovacuum_enabled = false)"))
            conn.execute(text("ANALYZE"))
    for lo, hi in groups.values():
        pending(rt, lo, hi, fen)
    print(f"seeded in {time.perf_counter() - started:.1f}s (pending rows never analysed)")

    if is_pg:
        anchor_s = anchor(rt, *groups["anchor"])
    started = time.perf_counter()
    batch = [sweep for sweep in rules.SWEEPS if sweep.name == "orders.deduct_penalties"]
    report = scheduler.run_tick(rt, now=NOW, sweeps=batch)
    batch_s = time.perf_counter() - started
    counts = report.counts["orders.deduct_penalties"]
    decided = sum(counts.values())
    print(f"penalty batch (tick)  : {batch_s:8.3f}s  decided {decided:,} {counts}")
    if is_pg:
        print(f"anchor SQL            : {anchor_s:8.3f}s  (one UPDATE … FROM + events)")
        print(f"ratio batch / SQL     : {batch_s / anchor_s:8.2f}x")
        same = outcome(rt, *groups["anchor"]) == outcome(rt, *groups["batch"])
        print(f"same decisions as SQL : {same}  {outcome(rt, *groups['batch'])}")
        if not same:
            raise SystemExit(f"anchor decided differently: {outcome(rt, *groups['anchor'])}")


if __name__ == "__main__":
    main()

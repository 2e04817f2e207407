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
import cProfile
import pstats
import tempfile
import time
from datetime import datetime, timedelta

from sqlalchemy import text

from bench.orders_sweep import NOW, build, new_shop
from xiaodian import scheduler
from xiaodian.clock import local_day_start
from xiaodian.orders import sweeps as rules
from xiaodian.orders.cli import bulk_seed
from xiaodian.runtime import Runtime

TZ = "Asia/Shanghai"
PENALTY_DAY = local_day_start(NOW, TZ)  # the batch runs on this day, for yesterday's judgments
EARLIER_DAY = PENALTY_DAY - timedelta(days=1)


def _naive(rt: Runtime, params: dict[str, object]) -> dict[str, object]:
    if rt.engine.dialect.name == "postgresql":
        return params
    return {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in params.items()}


def seed_orders(rt: Runtime, shops: list[int], per_shop: int) -> int:
    """``per_shop`` orders for each of ``shops``: seeded once in bulk for the first shop, then
    dealt out round-robin (the batch reads only the order's id and number). Returns the
    first order id."""
    bulk_seed(rt, shops[0], per_shop * len(shops), due=0)
    with rt.engine.begin() as conn:
        base = int(conn.execute(text("SELECT min(id) FROM orders")).scalar_one())
        conn.execute(
            text(
                "UPDATE orders SET shop_id = :lo + ((id - :base) / :per_group) * :n"
                " + (id - :base) % :n"
            ),
            {
                "lo": shops[0],
                "base": base,
                "per_group": per_shop * len(shops) // 2,
                "n": len(shops) // 2,
            },
        )
    return base


def history_and_pending(rt: Runtime, lo: int, hi: int, fen: int, base: int, group: int) -> None:
    """Orders of shops lo..hi, by position k in their group: k % 3 == 0 was deducted twice
    before, == 1 once, else never (both groups alike)."""
    params = _naive(
        rt,
        {
            "lo": lo,
            "hi": hi,
            "fen": fen,
            "base": base,
            "group": group,
            "earlier": EARLIER_DAY,
            "decided": EARLIER_DAY + timedelta(hours=1),
        },
    )
    history = (
        "INSERT INTO order_violations (shop_id, order_id, seq, due_at, judged_at, penalty_day,"
        " penalty_fen, penalty_status, penalty_decided_at) SELECT shop_id, id, s.seq, :earlier,"
        " :earlier, :earlier, :fen, 'deducted', :decided FROM orders JOIN (SELECT 1 AS seq"
        " UNION ALL SELECT 2) s ON s.seq <= 2 - ((orders.id - :base) % :group) % 3"
        " WHERE shop_id BETWEEN :lo AND :hi AND ((orders.id - :base) % :group) % 3 IN (0, 1)"
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


def statuses(rt: Runtime, lo: int, hi: int) -> dict[int, str]:
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, penalty_status FROM order_violations WHERE penalty_day = :day"
                " AND shop_id BETWEEN :lo AND :hi"
            ),
            _naive(rt, {"day": PENALTY_DAY, "lo": lo, "hi": hi}),
        ).all()
    return {int(i): str(status) for i, status in rows}


def anchor_agrees(rt: Runtime, lo: int, hi: int) -> bool:
    """Put the batch's judgments back to pending and let the anchor decide them: the same
    status for every judgment?"""
    decided = statuses(rt, lo, hi)
    with rt.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE order_violations SET penalty_status = 'pending', penalty_decided_at ="
                " NULL, ledger_txn_id = NULL WHERE penalty_day = :day AND shop_id BETWEEN :lo"
                " AND :hi"
            ),
            {"day": PENALTY_DAY, "lo": lo, "hi": hi},
        )
    anchor(rt, lo, hi)
    return statuses(rt, lo, hi) == decided


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=20_000, help="pending per group")
    parser.add_argument("--shops", type=int, default=40, help="shops per group")
    parser.add_argument("--db", default="")
    parser.add_argument("--profile", action="store_true", help="cProfile the batch")
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
    assert swept[-1] - anchored[0] == 2 * args.shops - 1, "shop ids not consecutive"
    base = seed_orders(rt, anchored + swept, per_shop)
    groups = {"anchor": (min(anchored), max(anchored)), "batch": (min(swept), max(swept))}
    for lo, hi in groups.values():
        history_and_pending(rt, lo, hi, fen, base, per_shop * args.shops)
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
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    report = scheduler.run_tick(rt, now=NOW, sweeps=batch)
    batch_s = time.perf_counter() - started
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    counts = report.counts["orders.deduct_penalties"]
    decided = sum(counts.values())
    print(f"penalty batch (tick)  : {batch_s:8.3f}s  decided {decided:,} {counts}")
    if is_pg:
        print(f"anchor SQL            : {anchor_s:8.3f}s  (one UPDATE … FROM + events)")
        print(f"ratio batch / SQL     : {batch_s / anchor_s:8.2f}x")
        same = anchor_agrees(rt, *groups["batch"])
        print(f"same decisions as SQL : {same} (each judgment of the batch re-decided by it)")
        if not same:
            raise SystemExit("the anchor decided differently")


if __name__ == "__main__":
    main()

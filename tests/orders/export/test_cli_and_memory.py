"""O2 from the command line, and constant memory: an export of 10x the orders (and 10x the
batches) peaks at the same RSS and Python heap as the small one, in one fresh process per
format, against margins measured in the same run (compared, not timed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bench.orders_export import seed_orders

from tests.orders.export.conftest import Mixed
from tests.orders.export.helpers import read_any
from xiaodian.orders.schemas import OrderFilter
from xiaodian.orders.service import filtered_query
from xiaodian.runtime import Runtime

ROOT = Path(__file__).resolve().parents[3]  # the repository (tests/orders/export/…)


def _env(rt: Runtime, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "XIAODIAN_DATABASE_URL": rt.settings.database_url,
        "XIAODIAN_ORDERS__EXPORT_DIR": str(tmp_path / "cli-exports"),
        "PYTHONPATH": str(ROOT / "src"),
    }


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_O2_cli_export_writes_what_the_filter_selects(
    rt: Runtime, mixed: Mixed, tmp_path: Path, fmt: str
) -> None:
    output = tmp_path / f"orders.{fmt}"
    done = subprocess.run(
        [sys.executable, "-m", "xiaodian.cli", "orders", "export", "--shop-id",
         str(mixed.shop_id), "--status", "awaiting_shipment", "--format", fmt,
         "--output", str(output)],
        env=_env(rt, tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    with rt.unit() as ctx:
        expected = [
            o.order_no
            for o in ctx.session.scalars(
                filtered_query(mixed.shop_id, OrderFilter(status="awaiting_shipment"))
            )
        ]
    assert [r[0] for r in read_any(output)[1:]] == expected and len(expected) == 3
    assert not output.with_name(output.name + ".part").exists()


# One child per format: it exports the small shop, then the large one (10x the rows, 10x the
# batches at the same batch size), and reports after each run its own peak RSS (VmHWM) and the
# peak of the Python heap during that run (tracemalloc, reset between runs). It also measures
# what holding rows costs: the traced size of one batch of formatted rows kept in a list.
PEAK_SCRIPT = """
import json, resource, sys, time, tracemalloc
from pathlib import Path
from xiaodian.config import get_settings
from xiaodian.db import transaction
from xiaodian.orders.export import service as export
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime

def own_peak_kb():
    # VmHWM is this process image's own peak: ru_maxrss survives exec and would report the
    # peak of the pytest process that started us.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

fmt, out = sys.argv[1], Path(sys.argv[2])
shops = [int(s) for s in sys.argv[3:]]
rt = Runtime.create(get_settings(), migrate=False)
runs = []
tracemalloc.start()
for shop_id in shops:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    rows = export.write_export(rt, shop_id, OrderFilter(), fmt, out)
    runs.append({"rows": rows, "traced_peak": tracemalloc.get_traced_memory()[1] - base,
                 "peak_kb": own_peak_kb(), "seconds": time.perf_counter() - started})
    out.unlink()
total, ranges = export.batch_ranges(rt, shops[0], OrderFilter())
low, high = ranges[0]
tracemalloc.reset_peak()
base = tracemalloc.get_traced_memory()[0]
with transaction(rt.factory) as session:
    held = list(export._py_rows(rt, session, shops[0], OrderFilter(), low, high))
    held_bytes = tracemalloc.get_traced_memory()[0] - base
print(json.dumps({"runs": runs, "row_bytes": held_bytes / len(held)}))
"""

SMALL, LARGE, BATCH = 2_000, 20_000, 500


def _peaks(rt: Runtime, tmp_path: Path, fmt: str, *shop_ids: int) -> dict[str, Any]:
    env = {**_env(rt, tmp_path), "XIAODIAN_ORDERS__EXPORT_BATCH_ROWS": str(BATCH)}
    out = tmp_path / f"peak.{fmt}"
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, fmt, str(out), *map(str, shop_ids)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_O2_peak_memory_does_not_grow_with_the_row_count(
    rt: Runtime, make_shop: Any, tmp_path: Path
) -> None:
    """10x the rows (4 vs 40 batches of 500) in one process per format: the peak RSS and the
    Python heap's peak stay put, with margins measured in the same run — keeping even 5 % of
    the extra rows (or one batch per batch) would exceed them."""
    small, large = make_shop("小店-2千"), make_shop("小店-2万")
    started = time.perf_counter()
    seed_orders(rt, small.shop_id, SMALL)
    seed_orders(rt, large.shop_id, LARGE)
    seeded = time.perf_counter() - started
    for fmt in ("csv", "xlsx"):
        result = _peaks(rt, tmp_path, fmt, small.shop_id, large.shop_id)
        a, b = result["runs"]
        assert (a["rows"], b["rows"]) == (SMALL, LARGE)
        # what holding the extra rows would cost, measured here (formatted rows in a list)
        holding_mb = (LARGE - SMALL) * result["row_bytes"] / 2**20
        growth_mb = (b["peak_kb"] - a["peak_kb"]) / 1024
        traced_growth_mb = (b["traced_peak"] - a["traced_peak"]) / 2**20
        print(f"{fmt}: peak RSS {SMALL:,} {a['peak_kb'] / 1024:.1f} MB, {LARGE:,} "
              f"{b['peak_kb'] / 1024:.1f} MB; Python heap peak {a['traced_peak'] / 2**20:.2f} "
              f"MB vs {b['traced_peak'] / 2**20:.2f} MB; holding the extra rows would take "
              f"{holding_mb:.1f} MB ({result['row_bytes']:.0f} B/row); seeded in {seeded:.1f} s, "
              f"exported in {a['seconds']:.1f} + {b['seconds']:.1f} s")  # fmt: skip
        assert holding_mb > 10, result  # the margin below means something
        assert traced_growth_mb < 0.05 * holding_mb, (fmt, result)
        assert growth_mb < 0.5 * holding_mb, (fmt, result)

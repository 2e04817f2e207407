"""O2 from the command line, and constant memory: an export of 200k orders peaks at about
the same RSS as one of 20k (measured with getrusage in a fresh process — compared, not timed)."""

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

from tests.orders_export.conftest import Mixed
from tests.orders_export.helpers import read_any
from xiaodian.orders.schemas import OrderFilter
from xiaodian.orders.service import filtered_query
from xiaodian.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


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


PEAK_SCRIPT = """
import json, resource, sys, time, tracemalloc
from pathlib import Path
from xiaodian.config import get_settings
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

shop_id, fmt, out = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
rt = Runtime.create(get_settings(), migrate=False)
rt.engine.dispose()
before = own_peak_kb()
started = time.perf_counter()
tracemalloc.start()
rows = export.write_export(rt, shop_id, OrderFilter(), fmt, out)
traced_peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"rows": rows, "before_kb": before, "traced_peak": traced_peak,
                  "peak_kb": own_peak_kb(),
                  "seconds": time.perf_counter() - started}))
"""


def _peak(rt: Runtime, tmp_path: Path, shop_id: int, fmt: str) -> dict[str, Any]:
    out = tmp_path / f"peak-{shop_id}.{fmt}"
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(shop_id), fmt, str(out)],
        env=_env(rt, tmp_path), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink()
    return result


def test_O2_peak_memory_does_not_grow_with_the_row_count(
    rt: Runtime, make_shop: Any, tmp_path: Path
) -> None:
    small, large = make_shop("小店-2万"), make_shop("小店-20万")
    started = time.perf_counter()
    seed_orders(rt, small.shop_id, 20_000)
    seed_orders(rt, large.shop_id, 200_000)
    seeded = time.perf_counter() - started
    for fmt in ("csv", "xlsx"):
        a = _peak(rt, tmp_path, small.shop_id, fmt)
        b = _peak(rt, tmp_path, large.shop_id, fmt)
        assert (a["rows"], b["rows"]) == (20_000, 200_000)
        growth_mb = (b["peak_kb"] - a["peak_kb"]) / 1024
        traced_growth_mb = (b["traced_peak"] - a["traced_peak"]) / 2**20
        print(f"{fmt}: peak RSS 20k {a['peak_kb'] / 1024:.1f} MB, 200k "
              f"{b['peak_kb'] / 1024:.1f} MB; Python heap peak 20k "
              f"{a['traced_peak'] / 2**20:.1f} MB, 200k {b['traced_peak'] / 2**20:.1f} MB "
              f"(seeded in {seeded:.1f} s)")  # fmt: skip
        # 10x the rows: the peaks may differ by noise, never by anything like 10x a batch.
        assert growth_mb < 12, (fmt, a, b)
        assert traced_growth_mb < 4, (fmt, a, b)

"""Issue 16 (the export query, round three): on PostgreSQL the CSV batches are formatted by
``orders.export_streams`` connections at once and appended in batch order. The file is the
same byte for byte with one stream or two, progress is reported in order, and a stream that
fails fails the export cleanly: recorded as 失败, no file left, no connection left out."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from bench.orders_export import seed_orders
from sqlalchemy import text

from tests.orders.export.conftest import Mixed
from tests.orders.export.helpers import read_csv, run_job
from xiaodian.accounts.service import Principal
from xiaodian.orders.export import service as export
from xiaodian.orders.export.models import ExportStatus, OrderExport
from xiaodian.orders.schemas import OrderFilter
from xiaodian.orders.service import filtered_query
from xiaodian.runtime import Runtime

SEEDED = 3_000
BATCH = 100


def _queue_export(rt: Runtime, shop_id: int, filters: OrderFilter | None = None) -> int:
    with rt.unit("app:1") as ctx:
        record = export.create_export(
            ctx,
            Principal(shop_id=shop_id, app_id=1, scopes=frozenset({"orders"})),
            filters or OrderFilter(),
            "csv",
        )
        return record.id


def _export_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("xiaodian-export-")]


@pytest.mark.usefixtures("pg_only")
def test_16_one_stream_and_two_streams_write_the_same_bytes(
    rt: Runtime, mixed: Mixed, tmp_path: Path
) -> None:
    seed_orders(rt, mixed.shop_id, SEEDED)
    rt.settings.orders.export_batch_rows = BATCH
    total = SEEDED + len(mixed.ids)
    files = {}
    for streams in (1, 2, 3):
        rt.settings.orders.export_streams = streams
        for name, filters in (("all", OrderFilter()), ("shipped", OrderFilter(status="shipped"))):
            path = tmp_path / f"{name}-{streams}.csv"
            rows = export.write_export(rt, mixed.shop_id, filters, "csv", path)
            files[name, streams] = path.read_bytes()
            assert rows == (total if name == "all" else len(read_csv(path)[1]) - 1)
    # smaller batches (their ranges come from the window query, not the cursor walk): same bytes
    rt.settings.orders.export_batch_rows = 37
    rt.settings.orders.export_streams = 2
    export.write_export(rt, mixed.shop_id, OrderFilter(), "csv", tmp_path / "small.csv")
    assert (tmp_path / "small.csv").read_bytes() == files["all", 1]
    assert files["all", 1] == files["all", 2] == files["all", 3]
    assert files["shipped", 1] == files["shipped", 2] == files["shipped", 3]
    # and it is the export: every selected order once, newest first, under the one header
    _, rows = read_csv(tmp_path / "all-2.csv")
    with rt.unit() as ctx:
        expected = [
            o.order_no for o in ctx.session.scalars(filtered_query(mixed.shop_id, OrderFilter()))
        ]
    assert rows[0] == list(export.HEADERS) and [r[0] for r in rows[1:]] == expected
    assert len(expected) == total and not _export_threads()


def test_16_progress_is_reported_in_order_after_every_batch(
    rt: Runtime, mixed: Mixed, monkeypatch: Any
) -> None:
    """Two streams finish batches in any order; the job still reports (and commits) the rows
    written so far after each batch, rising by one batch at a time up to the total."""
    seed_orders(rt, mixed.shop_id, 1_000)
    rt.settings.orders.export_batch_rows = BATCH
    rt.settings.orders.export_streams = 2
    total = 1_000 + len(mixed.ids)
    seen: list[tuple[int, int]] = []
    original = export._heartbeat

    def spy(rt_: Runtime, export_id: int, done: int, total_: int) -> None:
        original(rt_, export_id, done, total_)
        seen.append((done, total_))

    monkeypatch.setattr(export, "_heartbeat", spy)
    export_id = _queue_export(rt, mixed.shop_id)
    assert run_job(rt) == {"claimed": 1, "done": 1, "failed": 0}
    batches = -(-total // BATCH)
    assert seen == [(min(total, BATCH * (i + 1)), total) for i in range(batches)]
    with rt.unit() as ctx:
        record = ctx.session.get(OrderExport, export_id)
        assert record is not None and record.status == ExportStatus.DONE
        assert record.rows_done == record.row_count == total
        assert len(read_csv(Path(record.file_path))[1]) == total + 1


@pytest.mark.usefixtures("pg_only")
def test_16_a_failing_stream_fails_the_export_and_leaves_no_file(
    rt: Runtime, mixed: Mixed, monkeypatch: Any
) -> None:
    """One stream's database session is killed (pg_terminate_backend) after the first batch
    is written: the export is 失败 with the database's reason, the part file is gone,
    both streams have stopped and no connection is left checked out of the pool."""
    seed_orders(rt, mixed.shop_id, SEEDED)
    rt.settings.orders.export_batch_rows = BATCH
    rt.settings.orders.export_streams = 2
    monkeypatch.delenv("PGAPPNAME", raising=False)
    # a session is named after the thread that opened it (xiaodian.db): with one pooled
    # session left, at least one stream opens its own, named xiaodian-export-<n>
    rt.engine.dispose()
    killed: list[int] = []
    original = export._heartbeat

    def kill_stream(rt_: Runtime, export_id: int, done: int, total: int) -> None:
        original(rt_, export_id, done, total)
        if killed:
            return
        with rt.engine.begin() as conn:
            victim = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name LIKE :name"
                    " ORDER BY pid LIMIT 1"
                ),
                {"name": f"xiaodian {os.getpid()} xiaodian-export-%"},
            ).scalar_one()
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim}).scalar()
        killed.append(victim)

    monkeypatch.setattr(export, "_heartbeat", kill_stream)
    export_id = _queue_export(rt, mixed.shop_id)
    assert run_job(rt) == {"claimed": 1, "done": 0, "failed": 1}
    assert len(killed) == 1
    with rt.unit() as ctx:
        record = ctx.session.get(OrderExport, export_id)
        assert record is not None and record.status == ExportStatus.FAILED
        assert record.file_path == "" and record.error, record.error
        assert record.rows_done < SEEDED
    folder = Path(rt.settings.orders.export_dir)
    assert not [p for p in folder.rglob("*") if p.is_file()]
    assert not _export_threads()
    assert rt.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # the pool still works: a new export with both streams completes
    rt.settings.orders.export_streams = 2
    again = _queue_export(rt, mixed.shop_id)
    monkeypatch.setattr(export, "_heartbeat", original)
    assert run_job(rt) == {"claimed": 1, "done": 1, "failed": 0}
    with rt.unit() as ctx:
        done = ctx.session.get(OrderExport, again)
        assert done is not None and done.row_count == SEEDED + len(mixed.ids)


@pytest.mark.usefixtures("pg_only")
def test_16_items_are_listed_in_id_order_whatever_the_rows_physical_order(
    rt: Runtime, mixed: Mixed, tmp_path: Path
) -> None:
    """The goods cell lists an order's items by id even when the table's physical order
    differs (an updated row moves to the end of the heap): the aggregate is fed sorted rows."""
    multi = mixed.ids[0]  # the newest order has two items (保温杯, 西湖龙井)
    with rt.engine.begin() as conn:
        first = conn.execute(
            text("SELECT min(id) FROM order_items WHERE order_id = :o"), {"o": multi}
        ).scalar_one()
        conn.execute(text("UPDATE order_items SET qty = qty WHERE id = :i"), {"i": first})
        physical = (
            conn.execute(
                text("SELECT id FROM order_items WHERE order_id = :o ORDER BY ctid"), {"o": multi}
            )
            .scalars()
            .all()
        )
    assert physical[-1] == first  # the first item now lies last in the heap
    path = tmp_path / "items.csv"
    export.write_export(rt, mixed.shop_id, OrderFilter(), "csv", path)
    row = next(r for r in read_csv(path)[1] if r[6].count("；") == 1)
    assert row[6].startswith("保温杯 500ml×1；西湖龙井"), row[6]

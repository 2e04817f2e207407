"""Issue 16 (hold O1's p95 < 30 ms over 1M orders): the order list reads newest first (U6:
``created_at DESC, id DESC``), so the index of each equality filter ends in ``(created_at,
id)`` and a first page is an ordered index scan — no sort of the filter's rows, no backward
walk of the shop filtering most of it away. The plans are read on both engines (EXPLAIN
(FORMAT JSON) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite); bench/orders_search.py times
them at 1M orders (docs/benchmarks.md). The pages themselves stay in list order with
``before_id`` paging."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text, update

from xiaodian.orders import service
from xiaodian.orders.cli import bulk_seed
from xiaodian.orders.models import AfterSale, Order
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime

ORDERS = 3_000

# filter → the index its first page must be read from, in order
PAGES: dict[str, tuple[dict[str, Any], str]] = {
    "violated": ({"violation": "violated"}, "ix_orders_shop_violated"),
    "status": ({"status": "awaiting_shipment"}, "ix_orders_shop_status_created"),
    "after_sale": ({"after_sale": "in_progress"}, "ix_orders_shop_after_sale"),
}


@pytest.fixture
def seeded(rt: Runtime, shop: Any) -> Iterator[int]:
    """One shop of ORDERS orders over 90 days; the oldest tenth violated (as the sweep leaves
    a shop), every 50th order in after-sales; statistics gathered."""
    shop_id = int(shop.shop_id)
    bulk_seed(rt, shop_id, ORDERS)
    with rt.unit() as ctx:
        oldest = (
            select(Order.id)
            .where(Order.shop_id == shop_id)
            .order_by(Order.created_at, Order.id)
            .limit(ORDERS // 10)
        )
        ids = list(ctx.session.scalars(oldest))
        ctx.session.execute(
            update(Order).where(Order.id.in_(ids)).values(violation_count=1),
            execution_options={"synchronize_session": False},
        )
        ctx.session.execute(
            update(Order)
            .where(Order.shop_id == shop_id, Order.id % 50 == 0)
            .values(after_sale=AfterSale.IN_PROGRESS),
            execution_options={"synchronize_session": False},
        )
    with rt.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    yield shop_id


def _plan(rt: Runtime, shop_id: int, raw: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(index names, node types) of the first page's plan."""
    query = service.search_query(shop_id, OrderFilter.model_validate(raw), limit=20)
    compiled = query.compile(
        rt.engine, compile_kwargs={"literal_binds": True, "render_postcompile": True}
    )
    with rt.engine.connect() as conn:
        if rt.engine.dialect.name == "postgresql":
            plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
            indexes: set[str] = set()
            nodes: set[str] = set()

            def walk(node: dict[str, Any]) -> None:
                nodes.add(str(node["Node Type"]))
                if "Index Name" in node:
                    indexes.add(str(node["Index Name"]))
                for child in node.get("Plans", []):
                    walk(child)

            walk(plan[0]["Plan"])
            return indexes, nodes
        rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    details = [str(row[-1]) for row in rows]
    names = {word for detail in details for word in detail.split() if word.startswith("ix_")}
    return names, {"Sort" for detail in details if "TEMP B-TREE" in detail}


@pytest.mark.parametrize("case", sorted(PAGES))
def test_16_search_pages_read_the_order_aligned_index(rt: Runtime, seeded: int, case: str) -> None:
    raw, index = PAGES[case]
    indexes, nodes = _plan(rt, seeded, raw)
    assert index in indexes, (case, indexes, nodes)
    assert not nodes & {"Sort", "Incremental Sort"}, (case, indexes, nodes)


@pytest.mark.parametrize("case", sorted(PAGES))
def test_16_search_pages_stay_newest_first_with_before_id(
    rt: Runtime, seeded: int, case: str
) -> None:
    raw, _index = PAGES[case]
    filters = OrderFilter.model_validate(raw)
    with rt.unit() as ctx:
        want = [
            order.id
            for order in sorted(
                ctx.session.scalars(service.filtered_query(seeded, filters)),
                key=lambda o: (o.created_at, o.id),
                reverse=True,
            )
        ]
        got: list[int] = []
        before_id = None
        while True:
            page = service.search_orders(ctx.session, seeded, filters, before_id=before_id)
            if not page:
                break
            got += [order.id for order in page]
            before_id = page[-1].id
    assert len(want) >= 50, (case, len(want))
    assert got == want


def test_16_search_pages_are_planned_without_parallel_workers(
    rt: Runtime, seeded: int, pg_only: None
) -> None:
    """A first page is planned serially (``db.serial_plans``): at 1M orders the planner gave
    the rare-product page a Gather Merge whose workers took ~30 ms to start, against 5 ms for
    the serial plan (docs/benchmarks.md). The setting holds for the page's SELECT only: the
    transaction has its own value again afterwards."""
    from sqlalchemy import event

    seen: list[tuple[str, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM orders" in statement:
            setting = conn.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar()
            seen.append((statement, str(setting)))

    with rt.unit() as ctx:
        before = ctx.session.scalar(text("SHOW max_parallel_workers_per_gather"))
        assert before != "0", "the server's default allows parallel plans"
        event.listen(rt.engine, "before_cursor_execute", record)
        try:
            page = service.search_orders(ctx.session, seeded, OrderFilter(), limit=20)
        finally:
            event.remove(rt.engine, "before_cursor_execute", record)
        after = ctx.session.scalar(text("SHOW max_parallel_workers_per_gather"))
    assert len(page) == 20
    assert seen and all(setting == "0" for _, setting in seen), seen
    assert after == before

"""O1: rare and absent filter values are served by an index, never by walking the shop's
orders. On SQLite the plan of each filter's first page names the index built for it; on
PostgreSQL (whose planner reads a tiny test table whole or by id) the indexes are checked by
their definitions, and bench/orders_search.py shows the plans at 1M orders. Alembic's
autogenerate cannot compare the expression index, so this also proves the migration made it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from xiaodian.orders import service
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime


def _sqlite_plan(rt: Runtime, shop_id: int, raw: dict[str, Any]) -> str:
    filters = OrderFilter.model_validate(raw)
    with rt.unit() as ctx:
        product_ids = service.matching_product_ids(ctx.session, shop_id, filters)
        query = service.search_query(shop_id, filters, product_ids, limit=20)
        compiled = query.compile(
            ctx.session.get_bind(),
            compile_kwargs={"literal_binds": True, "render_postcompile": True},
        )
        rows = ctx.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_O1_phone_tail_product_and_name_filters_are_index_backed(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    tea = shopper.product(shop.shop_id, title="西湖龙井")
    for n in range(3):
        shopper.order(shop.shop_id, tea, name=f"王芳{n}", phone=f"1390000234{n}")
    # The filters still select the right orders.
    assert len(shop.api.get("/api/v1/orders?buyer_phone=2341").json()["items"]) == 1
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.connect() as conn:
            rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all()
        definitions = {str(name): str(definition) for name, definition in rows}
        assert "substr((buyer_phone)::text" in definitions["ix_orders_shop_phone_tail"]
        assert "varchar_pattern_ops" in definitions["ix_orders_shop_buyer_name"]
        assert "product_id" in definitions["ix_order_items_shop_product"]
        return
    assert "ix_orders_shop_phone_tail" in _sqlite_plan(rt, shop.shop_id, {"buyer_phone": "2341"})
    assert "ix_order_items_shop_product" in _sqlite_plan(rt, shop.shop_id, {"product": "龙井"})

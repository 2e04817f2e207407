"""`xiaodian seed --orders N`: the bulk loader behind the benchmarks (issue 3 item 9)."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from xiaodian.cli import app
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.orders.models import Order, OrderItem, OrderStatus


def test_seed_loads_orders_into_a_new_shop_and_refuses_an_unknown_one(cli_database: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["seed", "--orders", "1200", "--due", "30"])
    assert result.exit_code == 0, result.output
    assert "1,200 orders in shop" in result.output
    with make_sessionmaker(make_engine(cli_database))() as session:
        per_shop = session.execute(
            select(Order.shop_id, func.count()).group_by(Order.shop_id)
        ).all()
        assert len(per_shop) == 1 and per_shop[0][1] == 1200
        items = session.scalar(select(func.count()).select_from(OrderItem))
        assert items is not None and items >= 1200
        statuses = set(session.scalars(select(Order.status).distinct()))
        assert OrderStatus.AWAITING_SHIPMENT in statuses and len(statuses) >= 4

    unknown = runner.invoke(app, ["seed", "--orders", "10", "--shop-id", "999"])
    assert unknown.exit_code == 2
    assert "店铺 999 不存在" in unknown.output and "does not exist" in unknown.output
    assert runner.invoke(app, ["seed", "--orders", "0"]).exit_code == 2

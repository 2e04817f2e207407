"""`xiaodian seed --orders N`: the bulk loader behind the benchmarks (issue 3 item 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from xiaodian.cli import app
from xiaodian.config import get_settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.orders.models import Order, OrderItem, OrderStatus


def test_seed_loads_orders_into_a_new_shop_and_refuses_an_unknown_one(
    tmp_path: Path, monkeypatch: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    monkeypatch.setenv("XIAODIAN_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["seed", "--orders", "1200", "--due", "30"])
        assert result.exit_code == 0, result.output
        assert "1,200 orders in shop" in result.output
        with make_sessionmaker(make_engine(url))() as session:
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
        bad = runner.invoke(app, ["seed", "--orders", "0"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()

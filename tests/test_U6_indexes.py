"""U6 (issue 13): every list shown newest first with stable ties — ``(time, id)`` within a
shop, see ``xiaodian.timeorder.newest_first`` — has an index that serves that order."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect

from xiaodian.models import metadata
from xiaodian.runtime import upgrade

# table → the columns its newest-first list filters on (equality) then sorts by
NEWEST_FIRST_LISTS = {
    "notices": ("shop_id", "created_at", "id"),  # 站内通知
    "events": ("shop_id", "occurred_at", "id"),  # 事件 (business clock)
    "order_exports": ("shop_id", "created_at", "id"),  # 导出记录
    "ledger_entries": ("shop_id", "account_code", "created_at", "id"),  # 余额/保证金流水
    "orders": ("shop_id", "created_at", "id"),  # 订单管理
}


def _serves(index_columns: list[str], wanted: tuple[str, ...]) -> bool:
    return tuple(index_columns[: len(wanted)]) == wanted


@pytest.mark.parametrize("table", sorted(NEWEST_FIRST_LISTS))
def test_U6_each_newest_first_list_has_its_index_in_the_models(table: str) -> None:
    wanted = NEWEST_FIRST_LISTS[table]
    indexes = [[c.name for c in ix.columns] for ix in metadata.tables[table].indexes]
    assert any(_serves(cols, wanted) for cols in indexes), (table, indexes)


def test_U6_the_migrated_database_has_the_same_indexes(engine: Engine) -> None:
    upgrade(engine)
    inspector = inspect(engine)
    for table, wanted in NEWEST_FIRST_LISTS.items():
        indexes = [list(ix["column_names"]) for ix in inspector.get_indexes(table)]
        assert any(_serves(cols, wanted) for cols in indexes), (table, indexes)

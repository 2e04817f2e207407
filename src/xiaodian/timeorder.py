"""Time order for lists (U6): newest first by business time, ties broken by id.

Every list a person reads as history (statements, notices, orders, exports, events) is ordered
``time DESC, id DESC`` — rows written with a simulated clock may carry an earlier business
time than rows written before them, and rows of one operation share one instant. Paging stays
a keyset on the last row's id: the cursor row's time is looked up in the same query.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select


def newest_first(time_column: Any, id_column: Any) -> tuple[Any, Any]:
    """The ORDER BY of a history list: ``time DESC, id DESC``."""
    return time_column.desc(), id_column.desc()


def before(time_column: Any, id_column: Any, before_id: int) -> ColumnElement[bool]:
    """Rows that come after the row ``before_id`` in ``newest_first`` order."""
    cursor = select(time_column).where(id_column == before_id).correlate(None).scalar_subquery()
    return or_(time_column < cursor, and_(time_column == cursor, id_column < before_id))

"""Request and response models of the O2 export API (issue 15 M5: models here, the mapping
from ORM rows in ``mappers.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from xiaodian.orders.schemas import OrderFilter
from xiaodian.strict import RequestModel


class ExportIn(RequestModel):
    filter: OrderFilter = Field(default_factory=OrderFilter, description="O1 filter (订单筛选)")
    format: Literal["csv", "xlsx"] = Field("csv", description="文件格式")


class ExportOut(BaseModel):
    id: int
    status: str = Field(description="queued | running | done | failed")
    status_label: str = Field(description="排队中 | 导出中 | 已完成 | 失败")
    format: str
    filter: dict[str, object]
    rows_total: int | None
    rows_done: int
    progress_percent: int
    row_count: int | None
    file_size: int | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str


class ExportsPage(BaseModel):
    items: list[ExportOut]
    next_before_id: int | None


class CodeSentOut(BaseModel):
    sent_to: str = Field(description="masked phone the code was sent to: 138****0001")
    expires_at: datetime


class DownloadIn(RequestModel):
    code: str = Field(min_length=1, max_length=12, description="6-digit SMS code")

"""Open API for O2 导出查询订单: queue an export of what a filter selects, follow its record
(导出记录), request the SMS code (手机验证) and download the file with it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from xiaodian.api.deps import CtxDep, OrdersApp, PageDep
from xiaodian.orders.export import service
from xiaodian.orders.export.models import OrderExport
from xiaodian.orders.schemas import OrderFilter
from xiaodian.strict import RequestModel
from xiaodian.web.render import mask_phone

router = APIRouter(tags=["orders export 订单导出"])

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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


def export_out(record: OrderExport) -> ExportOut:
    return ExportOut(
        id=record.id,
        status=record.status,
        status_label=service.status_label(record),
        format=record.format,
        filter=dict(record.filter),
        rows_total=record.rows_total,
        rows_done=record.rows_done,
        progress_percent=service.progress_percent(record),
        row_count=record.row_count,
        file_size=record.file_size,
        created_by=record.created_by,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
    )


@router.post("/api/v1/orders/exports", response_model=ExportOut, status_code=202)
def create_export(body: ExportIn, ctx: CtxDep, principal: OrdersApp) -> ExportOut:
    """O2: queue an export of exactly the orders `filter` selects; poll the record."""
    return export_out(service.create_export(ctx, principal, body.filter, body.format))


@router.get("/api/v1/orders/exports", response_model=ExportsPage)
def list_exports(ctx: CtxDep, principal: OrdersApp, page: PageDep) -> ExportsPage:
    principal.require("orders.export")
    rows = service.list_exports(
        ctx.session, principal.shop_id, before_id=page.before_id, limit=page.limit
    )
    return ExportsPage(
        items=[export_out(r) for r in rows],
        next_before_id=rows[-1].id if len(rows) == page.limit else None,
    )


@router.get("/api/v1/orders/exports/{export_id}", response_model=ExportOut)
def get_export(export_id: int, ctx: CtxDep, principal: OrdersApp) -> ExportOut:
    principal.require("orders.export")
    return export_out(service.get_export(ctx.session, principal.shop_id, export_id))


@router.post(
    "/api/v1/orders/exports/{export_id}/verification_code",
    response_model=CodeSentOut,
    status_code=201,
)
def send_code(export_id: int, ctx: CtxDep, principal: OrdersApp) -> CodeSentOut:
    """手机验证: send a one-time 6-digit code to the shop's phone (valid 5 minutes)."""
    sent = service.request_code(ctx, principal, export_id)
    return CodeSentOut(sent_to=mask_phone(sent.phone), expires_at=sent.expires_at)


def _file(ctx: CtxDep, principal: OrdersApp, export_id: int, code: str) -> FileResponse:
    path = service.authorize_download(ctx, principal, export_id, code)
    record = service.get_export(ctx.session, principal.shop_id, export_id)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[record.format],
        filename=service.download_name(record),
    )


@router.post(
    "/api/v1/orders/exports/{export_id}/download",
    response_class=FileResponse,
    responses={200: {"description": "the export file (CSV or XLSX)"}},
)
def download(export_id: int, body: DownloadIn, ctx: CtxDep, principal: OrdersApp) -> FileResponse:
    """Download with the SMS code (single use; 5 wrong tries lock it)."""
    return _file(ctx, principal, export_id, body.code)


@router.get(
    "/api/v1/orders/exports/{export_id}/download",
    response_class=FileResponse,
    responses={200: {"description": "the export file (CSV or XLSX)"}},
)
def download_get(
    export_id: int,
    ctx: CtxDep,
    principal: OrdersApp,
    code: Annotated[str, Query(max_length=12, description="6-digit SMS code")] = "",
) -> FileResponse:
    """Same as the POST, with the code in the query string."""
    return _file(ctx, principal, export_id, code)

"""Open API for O2 导出查询订单: queue an export of what a filter selects, follow its record
(导出记录), request the SMS code (手机验证) and download the file with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from xiaodian.api.deps import CtxDep, OrdersApp, PageDep
from xiaodian.orders.export import service
from xiaodian.orders.export.mappers import export_out
from xiaodian.orders.export.schemas import CodeSentOut, DownloadIn, ExportIn, ExportOut, ExportsPage
from xiaodian.web.render import mask_phone

router = APIRouter(tags=["orders export 订单导出"])

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


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

"""Console: 导出记录 (O2) — "导出查询订单" with the order filter and a format, the records with
their progress (the page refreshes itself while an export runs), and the download flow:
获取验证码 → enter the code → the file. The code goes to the account's phone by the configured
SMS provider; in a demo it lands on the 演示手机 page (F3), never on this page.

The page accepts the order list's filter in its query string (same names as the order list
form), so "导出查询订单" from the order list pre-fills exactly the current filter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, QueryParams

from xiaodian.errors import XiaodianError
from xiaodian.orders.export import service
from xiaodian.orders.export.api import MEDIA_TYPES
from xiaodian.orders.export.models import OrderExport
from xiaodian.orders.models import AFTER_SALE_LABELS, STATUS_LABELS
from xiaodian.orders.schemas import OrderFilter
from xiaodian.web import forms
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import mask_phone, render

router = APIRouter(prefix="/console/orders/exports", include_in_schema=False)

PAGE = "/console/orders/exports"
PAGE_SIZE = 20
FILTER_FIELDS = (
    "status",
    "order_no",
    "product",
    "buyer_name",
    "buyer_phone",
    "after_sale",
    "violation",
    "created_from",
    "created_to",
    "paid_from",
    "paid_to",
    "shipped_from",
    "shipped_to",
    "ship_by_from",
    "ship_by_to",
)
FIELD_LABELS = {
    "status": "订单状态",
    "order_no": "订单号",
    "product": "商品",
    "buyer_name": "买家姓名",
    "buyer_phone": "买家手机号",
    "after_sale": "售后状态",
    "violation": "违规状态",
    "created_from": "下单时间从",
    "created_to": "下单时间至",
    "paid_from": "支付时间从",
    "paid_to": "支付时间至",
    "shipped_from": "发货时间从",
    "shipped_to": "发货时间至",
    "ship_by_from": "承诺发货时间从",
    "ship_by_to": "承诺发货时间至",
}
VIOLATION_LABELS = {"none": "无违规", "violated": "有发货超时", "max_judged": "已判定3次"}


@router.get("")
def exports_page(
    request: Request,
    console: ConsoleCtx,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    console.principal.require("orders.export")
    session, shop_id = console.ctx.session, console.shop_id
    rows = service.list_exports(session, shop_id, before_id=before_id, limit=PAGE_SIZE + 1)
    page = rows[:PAGE_SIZE]
    return render(
        request,
        "orders/exports.html",
        records=[_view(r) for r in page],
        next_before_id=page[-1].id if len(rows) > PAGE_SIZE else None,
        first_page=before_id is None,
        running=service.has_running(session, shop_id),
        values=_prefill(request.query_params),
        status_labels=STATUS_LABELS,
        after_sale_labels=AFTER_SALE_LABELS,
        violation_labels=VIOLATION_LABELS,
    )


@router.post("")
def create_export(request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    """确认导出: queue the export of what the submitted filter selects."""
    console.principal.require("orders.export")
    try:
        filters = OrderFilter.model_validate(_filter_values(form))
    except ValidationError as exc:
        # U8: back on the page it came from, each problem beside its field, the filter kept
        raise forms.invalid_fields(exc, "筛选条件有误，请按提示修改") from exc
    fmt = str(form.get("format") or "csv")
    record = service.create_export(console.ctx, console.principal, filters, fmt)
    flash(request, f"已提交导出（导出记录 #{record.id}），请稍候，完成后完成手机验证即可下载")
    return RedirectResponse(PAGE, status_code=303)


@router.post("/{export_id}/code")
def send_code(export_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    """获取验证码."""
    try:
        sent = service.request_code(console.ctx, console.principal, export_id)
    except XiaodianError as exc:
        if exc.status == 404:
            raise
        return _refused_on_page(request, console, exc)
    flash(request, f"验证码已发送至 {mask_phone(sent.phone)},5分钟内有效")
    return RedirectResponse(f"{PAGE}#export-{export_id}", status_code=303)


@router.post("/{export_id}/download")
def download(
    export_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    code: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Enter the code → the file (a wrong code is counted; the page says how many tries left)."""
    try:
        path = service.authorize_download(console.ctx, console.principal, export_id, code)
    except XiaodianError as exc:
        if exc.status == 404:
            raise
        return _refused_on_page(request, console, exc)
    record = service.get_export(console.ctx.session, console.shop_id, export_id)
    return FileResponse(
        path, media_type=MEDIA_TYPES[record.format], filename=service.download_name(record)
    )


def _refused_on_page(request: Request, console: ConsoleCtx, exc: XiaodianError) -> Response:
    """A refused code request or download, answered with the 导出记录 page: the reason beside
    the code field of that record's form (U8). Answered, not raised, because a wrong code is
    counted (O2, at most 5 tries) and the count must commit with the answer."""
    forms.keep(request, {}, exc)
    page = exports_page(request, console)
    page.status_code = exc.status
    return page


def _filter_values(source: FormData | QueryParams) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in FILTER_FIELDS:
        raw = source.get(name)
        if isinstance(raw, str) and raw.strip():
            values[name] = raw.strip()
    return values


def _prefill(query: QueryParams) -> dict[str, str]:
    return _filter_values(query)


def _view(record: OrderExport) -> dict[str, Any]:
    return {
        "record": record,
        "status_label": service.status_label(record),
        "percent": service.progress_percent(record),
        "filter_text": describe_filter(record.filter),
    }


def describe_filter(stored: dict[str, Any]) -> str:
    """The stored filter in words: 订单状态=待发货；买家姓名=张."""
    parts = []
    for name in FILTER_FIELDS:
        value = stored.get(name)
        if value in (None, ""):
            continue
        if name == "status":
            value = STATUS_LABELS.get(value, value)
        elif name == "after_sale":
            value = AFTER_SALE_LABELS.get(value, value)
        elif name == "violation":
            value = VIOLATION_LABELS.get(value, value)
        parts.append(f"{FIELD_LABELS[name]}={value}")
    return "；".join(parts) or "全部订单"

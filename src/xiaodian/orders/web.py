"""Console pages for orders (SPEC §3): 订单管理 list with filters (O1), detail and ship form
(O3), 批量发货 upload with per-row results (O3), 违规处理 (O6–O8) and 店铺评级 (O9) with a
server-rendered SVG chart of daily judgments and the rolling rate, and the after-sales signal
仅退款自主完结时长 (A3.2) beside the rate (also on the dashboard)."""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from xiaodian.aftersales import service as aftersales
from xiaodian.context import Ctx
from xiaodian.errors import ValidationFailed, XiaodianError
from xiaodian.orders import service
from xiaodian.orders.carriers import CARRIERS
from xiaodian.orders.models import (
    AFTER_SALE_LABELS,
    PENALTY_LABELS,
    PHONE_TAIL_DIGITS,
    ROUTE_LABELS,
    STATUS_LABELS,
)
from xiaodian.orders.schemas import OrderFilter
from xiaodian.orders.service import Rating
from xiaodian.web import forms
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.labels import actor_names
from xiaodian.web.render import render

router = APIRouter(prefix="/console/orders", include_in_schema=False)

PAGE_SIZE = 20
FILTER_FIELDS = tuple(OrderFilter.model_fields)
FILTER_INVALID_ZH = "筛选条件有误，请按提示修改"
VIOLATION_LABELS = {"none": "无违规", "violated": "有发货超时", "max_judged": "已判定3次"}


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "after_sale_labels": AFTER_SALE_LABELS,
        "penalty_labels": PENALTY_LABELS,
        "route_labels": ROUTE_LABELS,
        "violation_labels": VIOLATION_LABELS,
    }


@router.get("")
def order_list(
    request: Request,
    console: ConsoleCtx,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> Response:
    """O1 订单管理: filters in the query string; invalid filters are listed, not a 500.
    U4: numbered pages with the total (共 N 条), previous/next and a page size among
    ``dashboard.order_page_sizes``; 导出 exports exactly the filter shown."""
    console.principal.require("orders.view")
    raw = {k: v for k, v in request.query_params.items() if k in FILTER_FIELDS and v.strip()}
    errors: list[str] = []
    try:
        filters = OrderFilter.model_validate(raw)
    except ValidationError as exc:
        # U8: each problem beside its filter field, what was typed kept (web/forms.py)
        refused = forms.invalid_fields(exc, FILTER_INVALID_ZH)
        forms.keep(request, raw, refused)
        errors = [refused.message_zh]
        filters = OrderFilter()
    sizes = console.ctx.settings.dashboard.order_page_sizes
    size = size if size in sizes else sizes[0]
    session, shop_id = console.ctx.session, console.shop_id
    total = service.count_orders(session, shop_id, filters)
    pages = max(1, math.ceil(total / size))
    page = min(page, pages)
    rows = service.search_orders(session, shop_id, filters, limit=size, offset=(page - 1) * size)
    kept = raw if not errors else {}
    return render(
        request,
        "orders/list.html",
        orders=rows,
        values=raw,
        errors=errors,
        total=total,
        page=page,
        pages=pages,
        size=size,
        sizes=sizes,
        kept=kept,
        page_url=lambda n, s=size: "/console/orders?" + urlencode({**kept, "page": n, "size": s}),
        **_labels(),
    )


@router.get("/search")
def global_search(
    request: Request, console: ConsoleCtx, q: Annotated[str, Query(max_length=100)] = ""
) -> Response:
    """U4 global search (the console header): an order no., a phone's last 4 digits (or the
    whole number) or a buyer name → 订单管理 filtered by it, or the order itself when exactly
    one matches."""
    console.principal.require("orders.view")
    query = search_query(q)
    if query is None:
        return RedirectResponse("/console/orders", status_code=303)
    filters = OrderFilter.model_validate(query)
    session, shop_id = console.ctx.session, console.shop_id
    if service.count_orders(session, shop_id, filters) == 1:
        (order,) = service.search_orders(session, shop_id, filters, limit=1)
        return RedirectResponse(f"/console/orders/{order.id}", status_code=303)
    return RedirectResponse("/console/orders?" + urlencode(query), status_code=303)


ORDER_NO_MIN_DIGITS = 12  # order numbers have 19 digits; phones at most 11


def search_query(text: str) -> dict[str, str] | None:
    """What the header's search box means, as 订单管理 filter values: digits long enough for
    an order no. → 订单号; 4 to 11 digits → 买家手机号 (4 = 后四位); anything else → 买家姓名."""
    text = " ".join(text.split())
    if not text:
        return None
    digits = text.replace(" ", "").replace("-", "")
    if digits.isdigit() and len(digits) >= ORDER_NO_MIN_DIGITS:
        return {"order_no": digits[:19]}
    if digits.isdigit() and len(digits) >= PHONE_TAIL_DIGITS:
        return {"buyer_phone": digits}
    return {"buyer_name": text[:60]}


@router.get("/violations")
def violations(
    request: Request,
    console: ConsoleCtx,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    penalty_status: str = "",
) -> Response:
    """订单-违规处理: each 发货超时判定 with its deadline, judgment time and penalty status."""
    console.principal.require("orders.view")
    status = penalty_status if penalty_status in PENALTY_LABELS else None
    rows = service.list_violations(
        console.ctx.session,
        console.shop_id,
        penalty_status=status,
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    page = rows[:PAGE_SIZE]
    return render(
        request,
        "orders/violations.html",
        rows=page,
        penalty_status=status or "",
        next_before_id=page[-1][0].id if len(rows) > PAGE_SIZE else None,
        first_page=before_id is None,
        extra=urlencode({"penalty_status": status}) if status else "",
        flags=service.list_review_flags(console.ctx.session, console.shop_id),
        rules=console.ctx.settings.orders,
        **_labels(),
    )


@router.get("/rating")
def rating(request: Request, console: ConsoleCtx) -> Response:
    """O9 店铺评级: late-shipment rate and score over the rolling window; daily judgments and
    the rolling rate as SVG."""
    console.principal.require("orders.view")
    return render(request, "orders/rating.html", **rating_panel(console.ctx, console.shop_id))


@router.get("/ship_batch")
def ship_batch_form(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("orders.ship")
    return render(request, "orders/ship_batch.html", result=None, carriers=CARRIERS)


@router.post("/ship_batch")
async def ship_batch(request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    """O3 批量发货: upload CSV/XLSX; each row shipped or rejected with its reason."""
    console.principal.require("orders.ship")
    upload = form.get("file")
    refused: XiaodianError | None = None
    rows: list[service.ShipRow] | None = None
    if not isinstance(upload, UploadFile) or not upload.filename:
        refused = ValidationFailed(
            "file_missing", "请选择要上传的 CSV 或 XLSX 文件", "Choose a CSV or XLSX file"
        )
    else:
        content = await upload.read(service.BATCH_MAX_BYTES + 1)
        try:
            with console.ctx.session.begin_nested():
                rows = service.ship_batch(console.ctx, console.shop_id, upload.filename, content)
        except XiaodianError as exc:
            refused = exc
    if refused is not None:
        # U8: the file's problem beside the file field (a file cannot be kept: choose again)
        # (a column-level detail of the file is still about the file: one message, there)
        beside_file = ValidationFailed(
            refused.code, refused.message_zh, refused.message_en, field="file"
        )
        forms.keep(request, form, beside_file)
    result = None
    if rows is not None:
        shipped = sum(1 for r in rows if r.result == "shipped")
        result = {"rows": rows, "shipped": shipped, "errors": len(rows) - shipped}
    return render(
        request,
        "orders/ship_batch.html",
        result=result,
        carriers=CARRIERS,
        status_code=200 if refused is None else 422,
    )


@router.get("/{order_id:int}")
def order_detail(order_id: int, request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("orders.view")
    session = console.ctx.session
    order = service.get_order(session, console.shop_id, order_id)
    history = service.order_history(session, order)
    return render(
        request,
        "orders/detail.html",
        order=order,
        items=service.order_items(session, order),
        history=history,
        actor_names=actor_names(session, console.shop_id, [h.actor for h in history]),
        refunds=service.order_refunds(session, order),
        violations=service.order_violations(session, order),
        carrier_options=[(c.code, c.name) for c in CARRIERS],
        can_ship=console.principal.can("orders.ship"),
        **_labels(),
    )


@router.post("/{order_id:int}/ship")
def ship(
    order_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    carrier: Annotated[str, Form()] = "",
    tracking_no: Annotated[str, Form()] = "",
) -> Response:
    """O3: ship with carrier + tracking number. A refusal propagates to the shared form handler
    (U8): the detail page is rendered again with the reason beside its field and the chosen
    carrier and typed tracking number kept."""
    console.principal.require("orders.ship")
    order = service.ship_order(
        console.ctx, console.shop_id, order_id, carrier=carrier, tracking_no=tracking_no
    )
    flash(request, f"订单 {order.order_no} 已发货", "ok")
    return RedirectResponse(f"/console/orders/{order_id}", status_code=303)


def rating_panel(ctx: Ctx, shop_id: int) -> dict[str, Any]:
    """O9: what the 店铺评级 page and the dashboard show — one service call, one chart."""
    result = service.rating(ctx.session, shop_id, ctx.now, ctx.settings)
    # A3.2 仅退款自主完结时长 (seed 003's experience-score signal), beside the late-shipment rate.
    completion = aftersales.refund_completion_time(
        ctx.session, shop_id, ctx.now, ctx.settings.aftersales.completion_window_days
    )
    return {"rating": result, "chart": chart(result), "completion": completion}


def chart(r: Rating, width: int = 640, height: int = 200) -> dict[str, Any]:
    """Geometry of the server-rendered SVG (no JS): a bar per day for its judgments (left
    axis, counts) and a line through each day's rolling late-shipment rate (right axis, %)."""
    days = r.days
    top = max([d.judgments for d in days] + [1])
    # Right axis: the highest rate rounded up to a whole 5 %, so small rates stay readable.
    top_rate = min(1.0, max(0.05, math.ceil(max(d.late_rate for d in days) * 20) / 20))
    pad_l, pad_r, pad_b, pad_t = 32, 44, 24, 12
    inner_w, inner_h = width - pad_l - pad_r, height - pad_b - pad_t
    base_y = pad_t + inner_h
    step = inner_w / max(len(days), 1)
    bars, points = [], []
    for i, d in enumerate(days):
        h = inner_h * d.judgments / top
        center = pad_l + i * step + step / 2
        bars.append(
            {
                "x": round(pad_l + i * step + 1, 1),
                "y": round(base_y - h, 1),
                "w": round(max(step - 2, 1), 1),
                "h": round(h, 1),
                "day": d.day,
                "n": d.judgments,
                "label": d.day[5:] if i % 5 == 0 or i == len(days) - 1 else "",
                "lx": round(center, 1),
            }
        )
        points.append(
            {
                "x": round(center, 1),
                "y": round(base_y - inner_h * d.late_rate / top_rate, 1),
                "day": d.day,
                "rate": d.late_rate,
                "late": d.late_orders,
                "base": d.base_orders,
            }
        )
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "points": points,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "top": top,
        "top_rate_label": f"{top_rate * 100:.0f}%",
        "pad_l": pad_l,
        "right_x": width - pad_r,
        "base_y": base_y,
        "pad_t": pad_t,
    }

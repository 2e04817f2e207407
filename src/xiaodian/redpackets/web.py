"""Console pages for 店铺红包 (SPEC §1): the list filtered by status with totals and the
使用率 chart (R8), 发放 one buyer or a batch (typed or CSV upload) with per-row results
(R1/R2), the detail page with 回收 (R5) and 延长有效期 · 确认修改 (R6), bulk 回收/延长 with
per-item results, and the reminder lead time (R7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from xiaodian.clock import to_local
from xiaodian.errors import ValidationFailed, XiaodianError
from xiaodian.money import percent_of, yuan_label
from xiaodian.redpackets import service
from xiaodian.redpackets.models import DISPLAY_LABELS
from xiaodian.redpackets.service import UsagePoint
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.forms import confirm_large_amount, fen_from_yuan, form_fields, keep
from xiaodian.web.render import render

router = APIRouter(prefix="/console/redpackets", include_in_schema=False)

PAGE_SIZE = 20
PERMISSION = "redpackets.manage"
DAY = 86_400


@router.get("")
def packet_list(
    request: Request,
    console: ConsoleCtx,
    status: str = "",
    buyer: Annotated[str, Query(max_length=64)] = "",
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """R8: packets filterable by 有效/即将过期/已过期/已回收/已用完, totals, usage chart."""
    console.principal.require(PERMISSION)
    ctx = console.ctx
    status = status if status in DISPLAY_LABELS else ""
    rows = service.list_packets(
        ctx.session,
        console.shop_id,
        ctx.now,
        ctx.settings,
        status=status or None,
        buyer_douyin_id=buyer or None,
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    page = rows[:PAGE_SIZE]
    query = {k: v for k, v in {"status": status, "buyer": buyer}.items() if v}
    totals = service.totals(ctx.session, console.shop_id, ctx.now, ctx.settings)
    points = service.usage_series(ctx.session, console.shop_id, ctx.now, ctx.settings)
    return render(
        request,
        "redpackets/list.html",
        rows=page,
        status=status,
        buyer=buyer,
        labels=DISPLAY_LABELS,
        totals=totals,
        chart=usage_chart(points),
        next_before_id=page[-1].packet.id if len(rows) > PAGE_SIZE else None,
        first_page=before_id is None,
        extra=urlencode(query),
        lead_hours=service.remind_lead_hours(ctx.session, console.shop_id, ctx.settings),
        rules=ctx.settings.redpackets,
        now=ctx.now,
    )


@router.get("/issue")
def issue_form(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require(PERMISSION)
    ctx = console.ctx
    return render(
        request,
        "redpackets/issue.html",
        rules=ctx.settings.redpackets,
        values={},
        lead_hours=service.remind_lead_hours(ctx.session, console.shop_id, ctx.settings),
    )


@router.post("/issue")
async def issue(
    request: Request,
    console: ConsoleCtx,
    form: CsrfForm,
    buyers: Annotated[str, Form(max_length=100_000)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    validity_days: Annotated[str, Form(max_length=4)] = "",
    validity_hours: Annotated[str, Form(max_length=4)] = "",
    request_id: Annotated[str, Form(max_length=80)] = "",
    remind: Annotated[str, Form(max_length=4)] = "on",
    remind_lead_hours: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """R1/R2 发放: IDs typed in the box and/or one per line in an uploaded CSV. R7 (F7): the
    reminder is chosen here — 开启/关闭 and its lead, preset from the shop's default."""
    console.principal.require(PERMISSION)
    ctx = console.ctx
    rules = ctx.settings.redpackets
    shop_lead = service.remind_lead_hours(ctx.session, console.shop_id, ctx.settings)
    values = {
        "buyers": buyers,
        "amount": amount,
        "validity_days": validity_days,
        "validity_hours": validity_hours,
        "remind": "off" if remind == "off" else "on",
        "remind_lead_hours": remind_lead_hours,
    }
    try:
        ids = service.split_ids(buyers)
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            ids += service.parse_buyer_file(await upload.read())
        amount_fen = fen_from_yuan(amount, "amount", label="红包金额")
        confirm_large_amount(  # U8: the whole batch counts (each packet × buyers)
            form,
            "amount",
            amount_fen * max(len(ids), 1),
            console.ctx.settings.console.large_amount_confirm_fen,
        )
        validity = _seconds(validity_days, validity_hours, default_days=rules.validity_days)
        lead = _int(remind_lead_hours, "remind_lead_hours") if remind_lead_hours.strip() else None
        result = service.issue(
            ctx,
            console.shop_id,
            buyer_douyin_ids=ids,
            amount_fen=amount_fen,
            validity_seconds=validity,
            request_id=request_id or None,
            remind=values["remind"] == "on",
            remind_lead_hours=lead,
        )
    except XiaodianError as exc:
        ctx.session.rollback()
        keep(request, form, exc)  # U8: errors beside the fields, the form kept
        return render(
            request,
            "redpackets/issue.html",
            status_code=exc.status,
            rules=rules,
            lead_hours=shop_lead,
            values=values,
            error=exc.message_zh,
            field_errors=[e.get("message_zh", "") for e in exc.errors],
        )
    return render(request, "redpackets/issue_result.html", result=result)


@router.get("/{packet_id}")
def detail(request: Request, console: ConsoleCtx, packet_id: int) -> Response:
    console.principal.require(PERMISSION)
    ctx = console.ctx
    packet = service.get_packet(ctx.session, console.shop_id, packet_id)
    status = service.display_status(packet, ctx.now, ctx.settings)
    return render(
        request,
        "redpackets/detail.html",
        packet=packet,
        buyer=service.packet_buyer(ctx.session, packet),
        status=status,
        status_label=DISPLAY_LABELS[status],
        logs=service.packet_logs(ctx.session, packet),
        rules=ctx.settings.redpackets,
        max_days=service.extension_allowed_seconds(packet, ctx.now) // DAY,
        allowed_label=service.duration_label(service.extension_allowed_seconds(packet, ctx.now)),
        lead_hours=service.packet_lead_hours(ctx.session, packet, ctx.settings),
        validity_label=service.duration_label(packet.validity_seconds),
        min_remaining=yuan_label(
            percent_of(packet.amount_fen, ctx.settings.redpackets.extension_min_remaining_percent)
        ),
    )


@router.post("/{packet_id}/reclaim")
def reclaim(request: Request, console: ConsoleCtx, _form: CsrfForm, packet_id: int) -> Response:
    """R5 回收."""
    console.principal.require(PERMISSION)
    try:
        packet = service.reclaim(console.ctx, console.shop_id, packet_id)
        flash(request, f"已回收：{yuan_label(packet.reclaimed_fen)} 已退回商家账户余额")
    except XiaodianError as exc:
        console.ctx.session.rollback()
        flash(request, exc.message_zh, "error")
    return RedirectResponse(f"/console/redpackets/{packet_id}", status_code=303)


@router.post("/{packet_id}/extend")
def extend(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    packet_id: int,
    days: Annotated[str, Form(max_length=4)] = "",
    hours: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """R6 延长有效期 · 确认修改. A refusal propagates to the shared form handler (U8): the detail
    page comes back with the reason on the form and the typed days and hours kept."""
    console.principal.require(PERMISSION)
    seconds = _seconds(days, hours, default_days=0)
    with form_fields(extension_seconds="days"):
        packet = service.extend(console.ctx, console.shop_id, packet_id, seconds)
    flash(request, f"修改成功：有效期延长至 {_local_label(request, packet.expires_at)}，已通知买家")
    return RedirectResponse(f"/console/redpackets/{packet_id}", status_code=303)


@dataclass
class BulkRow:
    redpacket_id: int
    ok: bool
    message: str


@router.post("/bulk")
async def bulk(
    request: Request,
    console: ConsoleCtx,
    form: CsrfForm,
    action: Annotated[str, Form()] = "",
    days: Annotated[str, Form(max_length=4)] = "",
    hours: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Bulk 回收 / 延长有效期 with per-item results."""
    console.principal.require(PERMISSION)
    try:
        ids = [int(v) for v in form.getlist("ids") if isinstance(v, str) and v.isdigit()]
        if action == "reclaim":
            results = service.reclaim_many(console.ctx, console.shop_id, ids)
            title = "批量回收结果"
        elif action == "extend":
            seconds = _seconds(days, hours, default_days=0)
            results = service.extend_many(console.ctx, console.shop_id, ids, seconds)
            title = "批量延长有效期结果"
        else:
            raise ValidationFailed("invalid_action", "请选择操作", "Choose an action")
    except XiaodianError:
        console.ctx.session.rollback()
        raise  # U8: back on the list, the message beside its field, the choices kept
    rows = [BulkRow(r.redpacket_id, r.ok, r.message_zh) for r in results]
    return render(request, "redpackets/bulk_result.html", title=title, rows=rows)


@router.post("/settings")
def save_settings(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    remind_lead_hours: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """R7: the shop's reminder lead time (empty = the default)."""
    console.principal.require(PERMISSION)
    try:
        hours = _int(remind_lead_hours, "remind_lead_hours") if remind_lead_hours.strip() else None
        lead = service.set_remind_lead_hours(console.ctx, console.shop_id, hours)
        flash(request, f"已保存：红包到期前 {lead} 小时提醒买家")
    except XiaodianError:
        console.ctx.session.rollback()
        raise  # U8: back on the list, the message beside the field, what was typed kept
    return RedirectResponse("/console/redpackets", status_code=303)


# ----- helpers -----------------------------------------------------------------------------


def _int(text: str, field: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ValidationFailed(
            "invalid_number", "请填写非负整数", f"{field}: a whole number", field=field
        )
    return int(text)


def _seconds(days: str, hours: str, *, default_days: int) -> int:
    if not days.strip() and not hours.strip():
        if default_days:
            return default_days * DAY
        raise ValidationFailed(
            "invalid_duration", "请填写延长的天数或小时数", "Give days or hours", field="days"
        )
    d = _int(days, "days") if days.strip() else 0
    h = _int(hours, "hours") if hours.strip() else 0
    return d * DAY + h * 3600


def _local_label(request: Request, when: datetime) -> str:
    rt = request.app.state.rt
    return to_local(when, rt.settings.timezone).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Chart:
    width: int
    height: int
    pad_l: int
    pad_t: int
    base_y: int
    points: str
    dots: list[dict[str, object]]
    labels: list[dict[str, object]]
    last: str


def usage_chart(points: list[UsagePoint]) -> Chart:
    """R8 使用率 over time as a server-rendered SVG polyline (0–100%)."""
    width, height, pad_l, pad_t, pad_b = 720, 200, 44, 12, 24
    base_y = height - pad_b
    inner_w, inner_h = width - pad_l - 12, base_y - pad_t
    step = inner_w / max(len(points) - 1, 1)
    coords = []
    dots: list[dict[str, object]] = []
    labels: list[dict[str, object]] = []
    for i, p in enumerate(points):
        x = pad_l + i * step
        y = base_y - inner_h * min(p.permille, 1000) / 1000
        coords.append(f"{x:.1f},{y:.1f}")
        rate = f"{p.permille // 10}.{p.permille % 10}%"
        dots.append(
            {
                "x": f"{x:.1f}",
                "y": f"{y:.1f}",
                "title": f"{p.day}：使用率 {rate}（已使用 {yuan_label(p.spent_fen)} / "
                f"已发放 {yuan_label(p.issued_fen)}）",
            }
        )
        if i % max(len(points) // 6, 1) == 0 or i == len(points) - 1:
            labels.append({"x": f"{x:.1f}", "text": p.day[5:]})
    last = points[-1] if points else None
    return Chart(
        width,
        height,
        pad_l,
        pad_t,
        base_y,
        " ".join(coords),
        dots,
        labels,
        f"{last.permille // 10}.{last.permille % 10}%" if last else "0.0%",
    )

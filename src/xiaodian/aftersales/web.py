"""Console pages for after-sales (SPEC §4): 售后工作台 (A3: 已发货仅退款待处理 with time left,
search, single and batch actions, 快递拦截 A3.1), 售后详情 (agree / 拒签后退款 / 快递拦截 A3.1 /
reject with 举证 upload, A4; the buyer's change requests, A5) and 售后小助手 → 创建策略 (A2,
main account or granted)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from xiaodian.aftersales import logistics, strategies
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.models import (
    INTERCEPTION_LABELS,
    KIND_LABELS,
    PACKAGE_LABELS,
    STATUS_LABELS,
    STRATEGY_LABELS,
    STRATEGY_RULES,
)
from xiaodian.aftersales.reasons import BUYER_REASONS, REJECT_REASONS
from xiaodian.aftersales.service import RequestFilter
from xiaodian.errors import ValidationFailed, XiaodianError
from xiaodian.money import yuan_label
from xiaodian.orders import service as orders
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.forms import fen_from_yuan
from xiaodian.web.labels import actor_names
from xiaodian.web.render import render

router = APIRouter(prefix="/console/aftersales", include_in_schema=False)

PAGE_SIZE = 20
SEARCH_FIELDS = ("order_no", "buyer_name", "buyer_phone", "apply_date")
ACTION_LABELS = {
    "agree": "同意退款",
    "agree_on_refusal": "同意拒签后退款",
    "confirm_return": "确认收货并退款",
    "approve_change": "同意买家撤销/修改",
    "decline_change": "不同意买家撤销/修改",
}


def _labels() -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "package_labels": PACKAGE_LABELS,
        "interception_labels": INTERCEPTION_LABELS,
        "strategy_labels": STRATEGY_LABELS,
        "reject_reasons": REJECT_REASONS,
        "buyer_reasons": BUYER_REASONS,
    }


def remaining(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours}小时{rest // 60}分"


@router.get("")
def workbench(
    request: Request,
    console: ConsoleCtx,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    tab: str = "pending",
) -> Response:
    """A3 售后工作台: 已发货仅退款待处理 (default tab) or all requests, with search."""
    console.principal.require("aftersales.handle")
    raw = {
        k: v.strip() for k, v in request.query_params.items() if k in SEARCH_FIELDS and v.strip()
    }
    errors: list[str] = []
    apply_date: date | None = None
    if raw.get("apply_date"):
        try:
            apply_date = date.fromisoformat(raw["apply_date"])
        except ValueError:
            errors.append("创建时间格式应为 YYYY-MM-DD")
    tab = tab if tab in ("pending", "all") else "pending"
    filters = RequestFilter(
        kind="shipped_refund" if tab == "pending" else None,
        status="pending" if tab == "pending" else None,
        order_no=raw.get("order_no"),
        buyer_name=raw.get("buyer_name"),
        buyer_phone=raw.get("buyer_phone"),
        apply_date=apply_date,
    )
    session = console.ctx.session
    rows = aftersales.list_requests(
        session,
        console.shop_id,
        filters,
        tz=console.ctx.settings.timezone,
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    page = rows[:PAGE_SIZE]
    now = console.ctx.now
    return render(
        request,
        "aftersales/workbench.html",
        rows=[
            (r, o, remaining(int((r.due_at - now).total_seconds())) if r.due_at else "")
            for r, o in page
        ],
        tab=tab,
        values=raw,
        errors=errors,
        pending_count=aftersales.count_pending_shipped(session, console.shop_id),
        interceptable_ids={r.id for r, _ in page if strategies.interceptable_packages(session, r)},
        interception_fee=yuan_label(console.ctx.settings.aftersales.interception_fee_fen),
        sla_hours=console.ctx.settings.aftersales.merchant_sla_hours,
        next_before_id=page[-1][0].id if len(rows) > PAGE_SIZE else None,
        first_page=before_id is None,
        extra=urlencode({**raw, "tab": tab}),
        **_labels(),
    )


@router.post("/batch")
def batch(request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    """A3 批量处理: one action on the ticked requests; the result of each is shown."""
    console.principal.require("aftersales.handle")
    action = str(form.get("action", ""))
    ids = [int(v) for v in form.getlist("request_ids") if isinstance(v, str) and v.isdigit()]
    if not ids:
        flash(request, "请先勾选售后单", "error")
        return RedirectResponse("/console/aftersales", status_code=303)
    results = aftersales.batch(console.ctx, console.shop_id, ids, action)
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    label = ACTION_LABELS.get(action, action)
    flash(request, f"批量{label}：成功 {len(ok)} 单，失败 {len(failed)} 单")
    for r in failed:
        flash(request, f"售后单 {r.request_id}:{r.message_zh}", "error")
    return RedirectResponse("/console/aftersales", status_code=303)


@router.get("/assistant")
def assistant(request: Request, console: ConsoleCtx) -> Response:
    """A2 售后小助手: only the main account, or a sub-account it authorized."""
    console.principal.require("aftersales.assistant")
    rows = strategies.list_strategies(console.ctx.session, console.shop_id)
    return render(
        request,
        "aftersales/assistant.html",
        rows=[(code, row, STRATEGY_RULES[code]) for code, row in rows.items()],
        default_threshold=console.ctx.settings.aftersales.small_amount_default_fen,
        fee_fen=console.ctx.settings.aftersales.interception_fee_fen,
        **_labels(),
    )


@router.post("/assistant")
def save_assistant(request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    """创建策略 / 保存: one strategy per submit."""
    console.principal.require("aftersales.assistant")
    code = str(form.get("code", ""))
    threshold: int | None = None
    if code == "small_amount":  # U8: asked in 元, refused beside the field (the form kept)
        threshold = fen_from_yuan(str(form.get("threshold", "")), "threshold", label="退款金额")
        if threshold <= 0:
            raise ValidationFailed(
                "invalid_amount",
                "退款金额须大于 0 元",
                "The threshold must be positive",
                field="threshold",
            )
    strategies.save_strategy(
        console.ctx,
        console.shop_id,
        code,
        enabled=form.get("enabled") == "on",
        threshold_fen=threshold,
    )
    flash(request, f"策略已保存：{STRATEGY_LABELS.get(code, code)}")
    return RedirectResponse("/console/aftersales/assistant", status_code=303)


@router.get("/evidence/{evidence_id}")
def evidence_file(evidence_id: int, console: ConsoleCtx) -> Response:
    console.principal.require("aftersales.handle")
    ev = aftersales.get_evidence(console.ctx.session, console.shop_id, evidence_id)
    return Response(
        aftersales.evidence_bytes(console.ctx, ev),
        media_type=ev.content_type,
        headers={"Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/{request_id}")
def detail(request_id: int, request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("aftersales.handle")
    session = console.ctx.session
    req = aftersales.get_request(session, console.shop_id, request_id)
    order = orders.get_order(session, console.shop_id, req.order_id)
    items = {i.id: i for i in orders.order_items(session, order)}
    packages = logistics.packages_of(session, console.shop_id, order.id)
    contents = logistics.package_items(session, console.shop_id, [p.id for p in packages])
    history = aftersales.history(session, req)
    left = ""
    if req.due_at:
        left = remaining(int((req.due_at - console.ctx.now).total_seconds()))
    return render(
        request,
        "aftersales/detail.html",
        req=req,
        order=order,
        left=left,
        items=[(items[int(i["order_item_id"])], int(i["qty"])) for i in req.items],
        packages=[
            (p, [(items[c.order_item_id].title, c.qty) for c in contents if c.package_id == p.id])
            for p in packages
        ],
        history=history,
        actor_names=actor_names(session, console.shop_id, [h.actor for h in history]),
        interceptable=strategies.interceptable_packages(session, req),
        interception_fee=yuan_label(console.ctx.settings.aftersales.interception_fee_fen),
        evidence=aftersales.evidence_of(session, req),
        reason_label=BUYER_REASONS.get(req.kind, {}).get(req.reason),
        amount_label=yuan_label(req.amount_fen),
        **_labels(),
    )


@router.post("/{request_id}/operate")
def operate(request_id: int, request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    console.principal.require("aftersales.handle")
    # Another shop's (or no) request is a 404 page, not a flash on a page that does not exist.
    aftersales.get_request(console.ctx.session, console.shop_id, request_id)
    action = str(form.get("action", ""))
    try:
        with console.ctx.session.begin_nested():
            aftersales.operate(console.ctx, console.shop_id, request_id, action)
        flash(request, f"已{ACTION_LABELS.get(action, action)}")
    except XiaodianError as exc:
        flash(request, exc.message_zh, "error")
    return RedirectResponse(f"/console/aftersales/{request_id}", status_code=303)


@router.post("/{request_id}/intercept")
def intercept(request_id: int, request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    """A3.1 快递拦截 from the workbench (one row) or the detail page: 平台拦截 through the
    carrier adapter, or 线下联系快递 recorded with a note. The outcome shows on the detail page."""
    console.principal.require("aftersales.handle")
    aftersales.get_request(console.ctx.session, console.shop_id, request_id)
    mode = str(form.get("mode", ""))
    # A refusal (checked before anything is written) propagates to the shared form handler
    # (U8): the detail page again, the reason beside the note, the note kept.
    req = strategies.manual_interception(
        console.ctx,
        console.shop_id,
        request_id,
        mode=mode,
        note=str(form.get("note", ""))[:200],
    )
    if mode == "offline":
        flash(request, f"已记录线下快递拦截，售后单{STATUS_LABELS[req.status]}")
    else:
        flash(request, "已向快递公司发起拦截，拦截结果将显示在包裹与售后记录中")
    return RedirectResponse(f"/console/aftersales/{request_id}", status_code=303)


@router.post("/{request_id}/reject")
async def reject(
    request_id: int, request: Request, console: ConsoleCtx, form: CsrfForm
) -> Response:
    """A4 拒绝: reason from the list + 举证 files uploaded here (type by content, size)."""
    console.principal.require("aftersales.handle")
    ctx = console.ctx
    aftersales.get_request(ctx.session, console.shop_id, request_id)
    limit = ctx.settings.aftersales.evidence_max_bytes
    # A refusal propagates to the shared form handler (U8): the detail page comes back with the
    # reason beside its field and the note kept; no row of this submit is stored (a file's
    # bytes, kept under their content hash, are reused when the file is sent again).
    for upload in form.getlist("files"):
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(limit + 1)
            aftersales.merchant_upload(ctx, console.shop_id, request_id, upload.filename, data)
    req = aftersales.get_request(ctx.session, console.shop_id, request_id)
    unused = [e.id for e in aftersales.evidence_of(ctx.session, req) if e.party == "merchant"]
    aftersales.reject(
        ctx,
        console.shop_id,
        request_id,
        reason=str(form.get("reason", "")),
        evidence_ids=unused,
        note=str(form.get("note", "")),
    )
    flash(request, "已拒绝售后申请")
    return RedirectResponse(f"/console/aftersales/{request_id}", status_code=303)

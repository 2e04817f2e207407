"""Open API for after-sales (SPEC §4): list/detail/operate/batch (A3, A4), 快递拦截 (A3.1),
evidence upload, ERP cancel-shipment (A2.1), strategies (A2), packages (split); buyer API
(/buyer/v1) to apply,
modify, withdraw (A1, A5); local-carrier controls under /sim/logistics (simulated clock only).
Every state change also goes out as an ``aftersale.*`` / ``package.*`` webhook event (X1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from xiaodian.aftersales import logistics, strategies
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.mappers import (
    batch_out,
    cancel_shipment_out,
    completion_time_out,
    detail_out,
    evidence_out,
    package_out,
    packages_out,
    request_out,
    strategies_out,
)
from xiaodian.aftersales.models import AfterSaleRequest
from xiaodian.aftersales.reasons import BUYER_REASONS, REJECT_REASONS
from xiaodian.aftersales.schemas import (
    ApplyIn,
    BatchIn,
    BatchOut,
    CancelShipmentIn,
    CancelShipmentOut,
    CarrierEventIn,
    CompletionTimeOut,
    EvidenceOut,
    InterceptionFaultIn,
    InterceptionIn,
    InterventionIn,
    ModifyIn,
    OperateIn,
    PackageOut,
    RequestDetail,
    RequestQuery,
    RequestsPage,
    ReturnShipmentIn,
    SplitIn,
    StrategyIn,
    StrategyOut,
    WithdrawIn,
)
from xiaodian.aftersales.service import ItemQty, RequestFilter
from xiaodian.api.deps import AftersalesApp, BuyerDep, CtxDep, PageDep, SimulationApp, read_upload
from xiaodian.context import Ctx
from xiaodian.errors import ValidationFailed
from xiaodian.orders import service as orders

router = APIRouter(tags=["aftersales 售后"])
sim_router = APIRouter(prefix="/sim/logistics", tags=["simulation"])

_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "order_id": {"type": "integer", "description": "buyer upload only"},
                    },
                }
            }
        },
    }
}


# ----- merchant / ERP ----------------------------------------------------------------------


@router.get("/api/v1/aftersales", response_model=RequestsPage)
def list_requests(
    q: Annotated[RequestQuery, Query()], ctx: CtxDep, principal: AftersalesApp, page: PageDep
) -> RequestsPage:
    """A3: requests matching every filter (已发货仅退款待处理 = kind=shipped_refund&status=pending),
    newest first, keyset paging by ``before_id``."""
    principal.require("aftersales.handle")
    rows = aftersales.list_requests(
        ctx.session,
        principal.shop_id,
        RequestFilter(**q.model_dump()),
        tz=ctx.settings.timezone,
        before_id=page.before_id,
        limit=page.limit,
    )
    items = [request_out(ctx, r) for r, _ in rows]
    return RequestsPage(
        items=items, next_before_id=items[-1].id if len(items) == page.limit else None
    )


@router.get("/api/v1/aftersales/reasons")
def reasons(_principal: AftersalesApp) -> dict[str, Any]:
    """A1 buyer reasons per kind; A4 rejection reasons with the evidence each demands. Signed
    like every /api route (S2: the route walk found it open)."""
    return {
        "apply": {
            kind: [
                {"code": c, "label": r.label, "images_required": r.images_required}
                for c, r in found.items()
            ]
            for kind, found in BUYER_REASONS.items()
        },
        "reject": [
            {
                "code": c,
                "label": r.label,
                "hint": r.hint,
                "min_evidence": r.min_evidence,
                "note_required": r.note_required,
            }
            for c, r in REJECT_REASONS.items()
        ],
    }


@router.get("/api/v1/aftersales/refund_completion_time", response_model=CompletionTimeOut)
def refund_completion_time(ctx: CtxDep, principal: AftersalesApp) -> CompletionTimeOut:
    """A3.2 仅退款自主完结时长: count, average and median hours from the buyer's request to the
    merchant's own first decision, over the last ``completion_window_days`` (as on 店铺评级)."""
    principal.require("aftersales.handle")
    got = aftersales.refund_completion_time(
        ctx.session, principal.shop_id, ctx.now, ctx.settings.aftersales.completion_window_days
    )
    return completion_time_out(got)


@router.get("/api/v1/aftersales/strategies", response_model=list[StrategyOut])
def list_strategies(ctx: CtxDep, principal: AftersalesApp) -> list[StrategyOut]:
    """A2 售后小助手: the four 已发货仅退款 strategies and their state."""
    principal.require("aftersales.assistant")
    return strategies_out(ctx.session, principal.shop_id)


@router.put("/api/v1/aftersales/strategies", response_model=list[StrategyOut])
def save_strategy(body: StrategyIn, ctx: CtxDep, principal: AftersalesApp) -> list[StrategyOut]:
    """A2 创建策略: create or update one strategy (enabled, threshold for 小金额)."""
    principal.require("aftersales.assistant")
    strategies.save_strategy(
        ctx, principal.shop_id, body.code, enabled=body.enabled, threshold_fen=body.threshold_fen
    )
    return strategies_out(ctx.session, principal.shop_id)


@router.post("/api/v1/aftersales/erp/cancel_shipment", response_model=CancelShipmentOut)
def erp_cancel_shipment(
    body: CancelShipmentIn, ctx: CtxDep, principal: AftersalesApp
) -> CancelShipmentOut:
    """A2.1 ERP取消发货: cancel the order's moving packages; with the strategy enabled a pending
    已发货仅退款 request is agreed and refunded at once."""
    principal.require("aftersales.handle")
    cancelled = logistics.cancel_shipment(ctx, principal.shop_id, body.order_id)
    req = _latest_request(ctx, principal.shop_id, body.order_id)
    return cancel_shipment_out(ctx, body.order_id, cancelled, req)


@router.post("/api/v1/aftersales/batch", response_model=BatchOut)
def batch(body: BatchIn, ctx: CtxDep, principal: AftersalesApp) -> BatchOut:
    """A3 批量处理: one action on many requests; a result per request."""
    principal.require("aftersales.handle")
    results = aftersales.batch(
        ctx,
        principal.shop_id,
        body.request_ids,
        body.action,
        reason=body.reason,
        evidence_ids=body.evidence_ids,
        note=body.note,
    )
    return batch_out(results)


@router.get("/api/v1/aftersales/orders/{order_id}/packages", response_model=list[PackageOut])
def order_packages(order_id: int, ctx: CtxDep, principal: AftersalesApp) -> list[PackageOut]:
    principal.require("aftersales.handle")
    orders.get_order(ctx.session, principal.shop_id, order_id)
    return packages_out(ctx.session, principal.shop_id, order_id)


@router.post(
    "/api/v1/aftersales/orders/{order_id}/packages",
    response_model=list[PackageOut],
    status_code=201,
)
def split_package(
    order_id: int, body: SplitIn, ctx: CtxDep, principal: AftersalesApp
) -> list[PackageOut]:
    """Ship part of an order's items in another package (own carrier and tracking no.)."""
    principal.require("orders.ship")
    logistics.split(
        ctx,
        principal.shop_id,
        order_id,
        carrier_code=body.carrier,
        tracking_no=body.tracking_no,
        items=[(i.order_item_id, i.qty) for i in body.items],
    )
    return packages_out(ctx.session, principal.shop_id, order_id)


@router.get("/api/v1/aftersales/{request_id}", response_model=RequestDetail)
def get_request(request_id: int, ctx: CtxDep, principal: AftersalesApp) -> RequestDetail:
    principal.require("aftersales.handle")
    return detail_out(ctx, aftersales.get_request(ctx.session, principal.shop_id, request_id))


@router.post("/api/v1/aftersales/{request_id}/operate", response_model=RequestDetail)
def operate(
    request_id: int, body: OperateIn, ctx: CtxDep, principal: AftersalesApp
) -> RequestDetail:
    """agree 同意退款 / reject 拒绝 (reason + evidence, A4) / agree_on_refusal 拒签后退款 /
    confirm_return / approve_change / decline_change (A5)."""
    principal.require("aftersales.handle")
    req = aftersales.operate(
        ctx,
        principal.shop_id,
        request_id,
        body.action,
        reason=body.reason,
        evidence_ids=body.evidence_ids,
        note=body.note,
    )
    return detail_out(ctx, req)


@router.post("/api/v1/aftersales/{request_id}/interception", response_model=RequestDetail)
def intercept(
    request_id: int, body: InterceptionIn, ctx: CtxDep, principal: AftersalesApp
) -> RequestDetail:
    """A3.1 快递拦截: ``carrier`` asks the carrier to intercept the request's packages still on
    their way (the merchant pays the interception fee on success, then the refund is agreed);
    ``offline`` records an interception made by contacting the carrier (note required; agreed
    at once). Each step is in ``history`` with the actor and rule A3.1."""
    principal.require("aftersales.handle")
    req = strategies.manual_interception(
        ctx, principal.shop_id, request_id, mode=body.mode, note=body.note
    )
    return detail_out(ctx, req)


@router.post(
    "/api/v1/aftersales/{request_id}/evidence",
    response_model=EvidenceOut,
    status_code=201,
    openapi_extra=_UPLOAD_DOC,
)
async def upload_evidence(
    request_id: int, request: Request, ctx: CtxDep, principal: AftersalesApp
) -> EvidenceOut:
    """A4 举证: multipart field ``file`` (jpg/png image or PDF, judged by content)."""
    principal.require("aftersales.handle")
    aftersales.get_request(ctx.session, principal.shop_id, request_id)
    name, data, _ = await _read_upload(request, ctx)
    ev = aftersales.merchant_upload(ctx, principal.shop_id, request_id, name, data)
    return evidence_out(ev)


# ----- buyer -------------------------------------------------------------------------------


@router.post(
    "/buyer/v1/aftersales/evidence",
    response_model=EvidenceOut,
    status_code=201,
    openapi_extra=_UPLOAD_DOC,
)
async def buyer_upload(request: Request, ctx: CtxDep, buyer: BuyerDep) -> EvidenceOut:
    """A1 图片凭证: multipart fields ``order_id`` and ``file`` (jpg/png)."""
    name, data, fields = await _read_upload(request, ctx)
    raw = str(fields.get("order_id", ""))
    if not raw.isdigit():
        raise ValidationFailed(
            "order_id_missing", "请填写订单号 order_id", "order_id is required", field="order_id"
        )
    ev = aftersales.buyer_upload(ctx, buyer, int(raw), name, data)
    return evidence_out(ev)


@router.post("/buyer/v1/aftersales", response_model=RequestDetail, status_code=201)
def buyer_apply(body: ApplyIn, ctx: CtxDep, buyer: BuyerDep) -> RequestDetail:
    """A1: apply for 未发货仅退款 / 已发货仅退款 / 退货退款."""
    req = aftersales.apply(
        ctx,
        buyer,
        body.order_id,
        kind=body.kind,
        items=[ItemQty(i.order_item_id, i.qty) for i in body.items],
        amount_fen=body.amount_fen,
        reason=body.reason,
        note=body.note,
        image_ids=body.image_ids,
    )
    return detail_out(ctx, req, masked=False)


@router.get("/buyer/v1/aftersales/{request_id}", response_model=RequestDetail)
def buyer_get(request_id: int, ctx: CtxDep, buyer: BuyerDep) -> RequestDetail:
    return detail_out(ctx, aftersales.buyer_request(ctx.session, buyer.id, request_id), False)


@router.patch("/buyer/v1/aftersales/{request_id}", response_model=RequestDetail)
def buyer_modify(request_id: int, body: ModifyIn, ctx: CtxDep, buyer: BuyerDep) -> RequestDetail:
    """A5 修改: at once while pending; after agreement a change request for the merchant."""
    req = aftersales.modify(
        ctx,
        buyer.id,
        request_id,
        items=[ItemQty(i.order_item_id, i.qty) for i in body.items] if body.items else None,
        amount_fen=body.amount_fen,
        reason=body.reason,
        note=body.note,
    )
    return detail_out(ctx, req, masked=False)


@router.post("/buyer/v1/aftersales/{request_id}/withdraw", response_model=RequestDetail)
def buyer_withdraw(
    request_id: int, body: WithdrawIn, ctx: CtxDep, buyer: BuyerDep
) -> RequestDetail:
    """A5 撤销: at once while pending; after agreement a change request for the merchant."""
    req = aftersales.withdraw(ctx, buyer.id, request_id, body.note)
    return detail_out(ctx, req, masked=False)


@router.post("/buyer/v1/aftersales/{request_id}/intervention", response_model=RequestDetail)
def buyer_intervention(
    request_id: int, body: InterventionIn, ctx: CtxDep, buyer: BuyerDep
) -> RequestDetail:
    """F1 申请平台介入: on a request the merchant rejected (A4); the operator's 平台介入 queue
    lists it first. Once per request."""
    req = aftersales.request_intervention(ctx, buyer.id, request_id, body.note)
    return detail_out(ctx, req, masked=False)


@router.post("/buyer/v1/aftersales/{request_id}/return_shipment", response_model=RequestDetail)
def buyer_return(
    request_id: int, body: ReturnShipmentIn, ctx: CtxDep, buyer: BuyerDep
) -> RequestDetail:
    req = aftersales.ship_return(
        ctx, buyer.id, request_id, carrier=body.carrier, tracking_no=body.tracking_no
    )
    return detail_out(ctx, req, masked=False)


# ----- local carrier controls (simulated clock only) -----------------------------------------


@sim_router.post("/packages/{package_id}/events", response_model=PackageOut)
def sim_carrier_event(
    package_id: int, body: CarrierEventIn, ctx: CtxDep, principal: SimulationApp
) -> PackageOut:
    """The local carrier reports an event for one of the shop's packages (demo, ERP tests)."""
    package = logistics.carrier_event(ctx, principal.shop_id, package_id, body.event, body.note)
    return package_out(ctx.session, package)


@sim_router.post("/packages/{package_id}/interception_fault", response_model=PackageOut)
def sim_interception_fault(
    package_id: int, body: InterceptionFaultIn, ctx: CtxDep, principal: SimulationApp
) -> PackageOut:
    """Make the local carrier fail (or succeed) this package's interception."""
    package = logistics.set_interception_fault(ctx, principal.shop_id, package_id, body.fail)
    return package_out(ctx.session, package)


# ----- shapes ------------------------------------------------------------------------------


async def _read_upload(request: Request, ctx: Ctx) -> tuple[str, bytes, dict[str, str]]:
    upload = await read_upload(
        request, max_bytes=ctx.settings.aftersales.evidence_max_bytes, max_fields=5
    )
    return upload.filename, upload.content, upload.fields


def _latest_request(ctx: Ctx, shop_id: int, order_id: int) -> AfterSaleRequest | None:
    from sqlalchemy import select

    return ctx.session.scalars(
        select(AfterSaleRequest)
        .where(AfterSaleRequest.shop_id == shop_id, AfterSaleRequest.order_id == order_id)
        .order_by(AfterSaleRequest.id.desc())
    ).first()

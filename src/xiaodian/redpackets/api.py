"""Red-packet routes (thin): the merchant open API (/api/v1/redpackets…: issue R1/R2, list
and totals R8, reclaim R5, extend R6, reminder settings R7) and the buyer API (/buyer/v1…:
own packets, checkout with a packet R3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from xiaodian.api.deps import BuyerDep, CtxDep, MarketingApp, PageDep
from xiaodian.redpackets import schemas as s
from xiaodian.redpackets import service
from xiaodian.redpackets.mappers import (
    bulk_out,
    buyer_packet_out,
    checkout_out,
    detail_out,
    issue_out,
    packet_out,
    totals_out,
    usage_out,
)

router = APIRouter()
TAG = "redpackets 店铺红包"
PERMISSION = "redpackets.manage"


@router.post("/api/v1/redpackets", response_model=s.IssueOut, status_code=201, tags=[TAG])
def issue(body: s.IssueIn, ctx: CtxDep, principal: MarketingApp) -> s.IssueOut:
    """R1/R2 发放: one packet per listed buyer; per-row results; insufficient balance refuses
    the whole batch (409 insufficient_balance). R7: the reminder (on/off, lead time) is chosen
    here; by default on, with the shop's default lead."""
    principal.require(PERMISSION)
    result = service.issue(
        ctx,
        principal.shop_id,
        buyer_douyin_ids=body.buyer_douyin_ids,
        amount_fen=body.amount_fen,
        validity_seconds=body.validity_seconds,
        request_id=body.request_id,
        note=body.note,
        remind=body.remind,
        remind_lead_hours=body.remind_lead_hours,
    )
    return issue_out(result)


@router.get("/api/v1/redpackets", response_model=s.RedPacketsPage, tags=[TAG])
def list_packets(
    ctx: CtxDep,
    principal: MarketingApp,
    page: PageDep,
    status: Annotated[
        str | None, Query(description="valid | expiring | expired | reclaimed | used_up")
    ] = None,
    buyer_douyin_id: Annotated[str | None, Query(max_length=64)] = None,
) -> s.RedPacketsPage:
    """R8: the shop's packets, newest first, filterable by status, with totals."""
    principal.require(PERMISSION)
    rows = service.list_packets(
        ctx.session,
        principal.shop_id,
        ctx.now,
        ctx.settings,
        status=status or None,
        buyer_douyin_id=buyer_douyin_id,
        before_id=page.before_id,
        limit=page.limit + 1,
    )
    items = rows[: page.limit]
    return s.RedPacketsPage(
        items=[packet_out(r.packet, ctx.now, ctx.settings) for r in items],
        next_before_id=items[-1].packet.id if len(rows) > page.limit else None,
        totals=totals_out(service.totals(ctx.session, principal.shop_id, ctx.now, ctx.settings)),
    )


@router.get("/api/v1/redpackets/stats", response_model=s.StatsOut, tags=[TAG])
def stats(
    ctx: CtxDep,
    principal: MarketingApp,
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
) -> s.StatsOut:
    """R8 使用率 (spent / issued) per day, cumulative, and the totals per status."""
    principal.require(PERMISSION)
    shop_id = principal.shop_id
    return s.StatsOut(
        totals=totals_out(service.totals(ctx.session, shop_id, ctx.now, ctx.settings)),
        usage=usage_out(service.usage_series(ctx.session, shop_id, ctx.now, ctx.settings, days)),
    )


@router.get("/api/v1/redpackets/settings", response_model=s.SettingsOut, tags=[TAG])
def get_settings(ctx: CtxDep, principal: MarketingApp) -> s.SettingsOut:
    principal.require(PERMISSION)
    hours = service.remind_lead_hours(ctx.session, principal.shop_id, ctx.settings)
    return s.SettingsOut(remind_lead_hours=hours)


@router.put("/api/v1/redpackets/settings", response_model=s.SettingsOut, tags=[TAG])
def put_settings(body: s.SettingsIn, ctx: CtxDep, principal: MarketingApp) -> s.SettingsOut:
    """R7: the shop's reminder lead time (null resets to the default)."""
    principal.require(PERMISSION)
    hours = service.set_remind_lead_hours(ctx, principal.shop_id, body.remind_lead_hours)
    return s.SettingsOut(remind_lead_hours=hours)


@router.post("/api/v1/redpackets/reclaim", response_model=s.BulkOut, tags=[TAG])
def reclaim_many(body: s.BulkIn, ctx: CtxDep, principal: MarketingApp) -> s.BulkOut:
    """R5 bulk 回收 with per-item results."""
    principal.require(PERMISSION)
    return bulk_out(service.reclaim_many(ctx, principal.shop_id, body.ids))


@router.post("/api/v1/redpackets/extend", response_model=s.BulkOut, tags=[TAG])
def extend_many(body: s.BulkExtendIn, ctx: CtxDep, principal: MarketingApp) -> s.BulkOut:
    """R6 bulk 延长有效期 with per-item results."""
    principal.require(PERMISSION)
    results = service.extend_many(ctx, principal.shop_id, body.ids, body.extension_seconds)
    return bulk_out(results)


@router.get("/api/v1/redpackets/{redpacket_id}", response_model=s.RedPacketDetail, tags=[TAG])
def get_packet(redpacket_id: int, ctx: CtxDep, principal: MarketingApp) -> s.RedPacketDetail:
    principal.require(PERMISSION)
    packet = service.get_packet(ctx.session, principal.shop_id, redpacket_id)
    logs = service.packet_logs(ctx.session, packet)
    return detail_out(packet, logs, ctx.now, ctx.settings)


@router.post("/api/v1/redpackets/{redpacket_id}/reclaim", response_model=s.RedPacketOut, tags=[TAG])
def reclaim(redpacket_id: int, ctx: CtxDep, principal: MarketingApp) -> s.RedPacketOut:
    """R5 回收: an expired packet's remaining returns to the merchant balance, exactly once;
    again → 409 already_reclaimed."""
    principal.require(PERMISSION)
    packet = service.reclaim(ctx, principal.shop_id, redpacket_id)
    return packet_out(packet, ctx.now, ctx.settings)


@router.post("/api/v1/redpackets/{redpacket_id}/extend", response_model=s.RedPacketOut, tags=[TAG])
def extend(
    redpacket_id: int, body: s.ExtendIn, ctx: CtxDep, principal: MarketingApp
) -> s.RedPacketOut:
    """R6 延长有效期: the extension ≤ the original validity and the validity left after it
    ≤ the original validity too; remaining ≥ 10% of the original; the buyer is notified."""
    principal.require(PERMISSION)
    packet = service.extend(ctx, principal.shop_id, redpacket_id, body.extension_seconds)
    return packet_out(packet, ctx.now, ctx.settings)


# ----- buyer API ---------------------------------------------------------------------------


@router.get("/buyer/v1/redpackets", response_model=list[s.BuyerRedPacketOut], tags=[TAG])
def buyer_packets(
    ctx: CtxDep, buyer: BuyerDep, shop_id: Annotated[int | None, Query(ge=1)] = None
) -> list[s.BuyerRedPacketOut]:
    """The buyer's own packets (optionally of one shop)."""
    return [
        buyer_packet_out(packet, ctx.now, ctx.settings)
        for packet in service.buyer_packets(ctx.session, buyer.id, ctx.now, shop_id=shop_id)
    ]


@router.post(
    "/buyer/v1/shops/{shop_id}/checkout",
    response_model=s.CheckoutOut,
    status_code=201,
    tags=[TAG],
)
def checkout(shop_id: int, body: s.CheckoutIn, ctx: CtxDep, buyer: BuyerDep) -> s.CheckoutOut:
    """R3: place an order using a red packet for part or all of it (one transaction); then pay
    the rest with ``POST /buyer/v1/orders/{order_id}/pay``."""
    result = service.checkout(
        ctx,
        buyer,
        shop_id,
        items=[(i.product_id, i.qty) for i in body.items],
        address=body.address,
        payment_route=body.payment_route,
        redpacket_id=body.redpacket_id,
        redpacket_amount_fen=body.redpacket_amount_fen,
        receiver_name=body.receiver_name,
        receiver_phone=body.receiver_phone,
    )
    remaining = None
    if result.spend is not None:
        remaining = service.get_packet(ctx.session, shop_id, result.spend.packet_id).remaining_fen
    return checkout_out(result, remaining)

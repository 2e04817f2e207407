"""Red packets, their logs, totals and bulk results → API shapes (SPEC §1, R1–R8; issue 15
M5: every context's response mapping lives in its ``mappers.py``)."""

from __future__ import annotations

from datetime import datetime

from xiaodian.config import Settings
from xiaodian.redpackets.models import DISPLAY_LABELS, RedPacket, RedPacketLog
from xiaodian.redpackets.schemas import (
    BulkOut,
    BuyerRedPacketOut,
    CheckoutOut,
    IssueOut,
    IssueRowOut,
    ItemResultOut,
    LogOut,
    RedPacketDetail,
    RedPacketOut,
    StatusTotalOut,
    TotalsOut,
    UsagePointOut,
)
from xiaodian.redpackets.service import (
    Checkout,
    IssueResult,
    ItemResult,
    Totals,
    UsagePoint,
    display_status,
)


def packet_out(packet: RedPacket, now: datetime, settings: Settings) -> RedPacketOut:
    status = display_status(packet, now, settings)
    return RedPacketOut(
        id=packet.id,
        buyer_id=packet.buyer_id,
        amount_fen=packet.amount_fen,
        remaining_fen=packet.remaining_fen,
        spent_fen=packet.spent_fen,
        reclaimed_fen=packet.reclaimed_fen,
        returned_to_balance_fen=packet.returned_to_balance_fen,
        status=status,
        status_label=DISPLAY_LABELS[status],
        validity_seconds=packet.validity_seconds,
        issued_at=packet.issued_at,
        expires_at=packet.expires_at,
        extension_count=packet.extension_count,
        remind_enabled=packet.remind_enabled,
        remind_lead_hours=packet.remind_lead_hours,
        remind_at=packet.remind_at,
        reminded_at=packet.reminded_at,
    )


def detail_out(
    packet: RedPacket, logs: list[RedPacketLog], now: datetime, settings: Settings
) -> RedPacketDetail:
    return RedPacketDetail(
        **packet_out(packet, now, settings).model_dump(),
        history=[
            LogOut(
                kind=log.kind,
                amount_fen=log.amount_fen,
                order_id=log.order_id,
                rule=log.rule,
                note=log.note,
                actor=log.actor,
                at=log.at,
            )
            for log in logs
        ],
    )


def issue_out(result: IssueResult) -> IssueOut:
    return IssueOut(
        batch_id=result.batch.id,
        issued=result.batch.issued_count,
        rejected=result.batch.rejected_count,
        total_fen=result.batch.total_fen,
        replayed=result.replayed,
        rows=[IssueRowOut(**row.as_dict()) for row in result.rows],
    )


def totals_out(t: Totals) -> TotalsOut:
    return TotalsOut(
        count=t.count,
        issued_fen=t.issued_fen,
        spent_fen=t.spent_fen,
        remaining_fen=t.remaining_fen,
        reclaimed_fen=t.reclaimed_fen,
        returned_to_balance_fen=t.returned_to_balance_fen,
        usage_permille=t.usage_permille,
        by_status=[
            StatusTotalOut(
                status=s.status,
                label=s.label,
                count=s.count,
                amount_fen=s.amount_fen,
                remaining_fen=s.remaining_fen,
            )
            for s in t.by_status
        ],
    )


def bulk_out(results: list[ItemResult]) -> BulkOut:
    ok = sum(1 for r in results if r.ok)
    return BulkOut(
        succeeded=ok,
        failed=len(results) - ok,
        results=[
            ItemResultOut(
                redpacket_id=r.redpacket_id,
                ok=r.ok,
                code=r.code,
                message_zh=r.message_zh,
                message_en=r.message_en,
            )
            for r in results
        ],
    )


def usage_out(points: list[UsagePoint]) -> list[UsagePointOut]:
    return [
        UsagePointOut(
            day=p.day, issued_fen=p.issued_fen, spent_fen=p.spent_fen, usage_permille=p.permille
        )
        for p in points
    ]


def buyer_packet_out(packet: RedPacket, now: datetime, settings: Settings) -> BuyerRedPacketOut:
    status = display_status(packet, now, settings)
    return BuyerRedPacketOut(
        id=packet.id,
        shop_id=packet.shop_id,
        amount_fen=packet.amount_fen,
        remaining_fen=packet.remaining_fen,
        status=status,
        status_label=DISPLAY_LABELS[status],
        expires_at=packet.expires_at,
    )


def checkout_out(result: Checkout, remaining_fen: int | None) -> CheckoutOut:
    order = result.order
    return CheckoutOut(
        order_id=order.id,
        order_no=order.order_no,
        goods_fen=order.goods_fen,
        discount_fen=order.discount_fen,
        to_pay_fen=order.goods_fen - order.discount_fen,
        redpacket_id=result.spend.packet_id if result.spend else None,
        redpacket_remaining_fen=remaining_fen,
    )

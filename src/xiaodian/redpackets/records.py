"""What every red-packet operation shares (issue 15 M3): the packet lookup, the R7 reminder
lead, the packet's log rows (红包明细) and its event payload. ``service.py`` (R3, R7, R8),
``issuance.py`` (R1/R2) and ``extension.py`` (R5/R6) write through these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    insert,
    select,
)
from sqlalchemy.orm import Session

from xiaodian.config import Settings
from xiaodian.context import Ctx
from xiaodian.errors import NotFound
from xiaodian.redpackets import rules
from xiaodian.redpackets.models import (
    RedPacket,
    RedPacketLog,
    RedPacketSettings,
)


def get_packet(session: Session, shop_id: int, packet_id: int) -> RedPacket:
    packet = session.scalars(
        select(RedPacket)
        .where(RedPacket.id == packet_id, RedPacket.shop_id == shop_id)
        .execution_options(populate_existing=True)
    ).first()
    if packet is None:
        raise NotFound("红包", "Red packet", packet_id)
    return packet


# ----- R7 reminder lead ------------------------------------------------------------------


MAX_LEAD_HOURS = 24 * 30


def remind_lead_hours(session: Session, shop_id: int, settings: Settings) -> int:
    """R7: the shop's default reminder lead (the preset of the issuance form)."""
    row = session.get(RedPacketSettings, shop_id)
    if row is not None and row.remind_lead_hours is not None:
        return row.remind_lead_hours
    return settings.redpackets.remind_lead_hours


shop_remind_lead_hours = remind_lead_hours  # for ``issue``, whose argument has that name


def packet_lead_hours(session: Session, packet: RedPacket, settings: Settings) -> int:
    """R7: the lead chosen at issuance, else the shop's default (F7)."""
    if packet.remind_lead_hours is not None:
        return packet.remind_lead_hours
    return remind_lead_hours(session, packet.shop_id, settings)


def packet_payload(packet: RedPacket, **extra: Any) -> dict[str, Any]:
    return {
        "redpacket_id": packet.id,
        "buyer_id": packet.buyer_id,
        "amount_fen": packet.amount_fen,
        "remaining_fen": packet.remaining_fen,
        "spent_fen": packet.spent_fen,
        "status": packet.status,
        "expires_at": packet.expires_at.isoformat(),
        **extra,
    }


def log_row(
    ctx: Ctx,
    packet: RedPacket,
    kind: str,
    amount: int,
    rule: str,
    note: str,
    order_id: int | None = None,
) -> dict[str, Any]:
    return {
        "shop_id": packet.shop_id,
        "packet_id": packet.id,
        "kind": kind,
        "amount_fen": amount,
        "order_id": order_id,
        "rule": rule,
        "note": note[:300],
        "actor": ctx.actor,
        "at": ctx.now,
    }


def log(
    ctx: Ctx,
    packet: RedPacket,
    kind: str,
    amount: int,
    rule: str,
    note: str,
    order_id: int | None = None,
) -> None:
    log_many(ctx, [log_row(ctx, packet, kind, amount, rule, note, order_id)])


def log_many(ctx: Ctx, rows: list[dict[str, Any]]) -> None:
    if rows:
        ctx.session.execute(insert(RedPacketLog), rows)


def local_time(ctx: Ctx, when: datetime) -> str:
    return rules.local_label(when, ctx.settings.timezone)

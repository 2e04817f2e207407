"""Time-driven red-packet rules (SPEC §1): R7 reminders and R4 expiry, as set-based,
idempotent sweeps with ``next_due`` (run twice at one instant: the second finds nothing).

* R7 ``remind``: every active packet with money left whose ``remind_at`` has come and whose
  end has not, gets one buyer-inbox reminder; ``remind_at`` is cleared in the same UPDATE, so
  a packet is reminded once per validity period (an extension sets ``remind_at`` again).
* R4 ``expire``: every active packet with money left whose ``expires_at`` has come becomes
  expired (过期作废) at exactly its end instant; its pending reminder is dropped.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.clock import to_local
from xiaodian.context import Ctx, Sweep
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.notify.service import NewEvent
from xiaodian.redpackets.models import PacketStatus, RedPacket, RedPacketLog


def remind(ctx: Ctx) -> dict[str, int]:
    """R7: remind buyers of packets about to expire, once per validity period."""
    now = ctx.now
    rows = ctx.session.execute(
        update(RedPacket)
        .where(
            RedPacket.remind_at <= now,
            RedPacket.status == PacketStatus.ACTIVE,
            RedPacket.remaining_fen > 0,
            RedPacket.expires_at > now,
        )
        .values(remind_at=None, reminded_at=now)
        .returning(
            RedPacket.id,
            RedPacket.shop_id,
            RedPacket.buyer_id,
            RedPacket.remaining_fen,
            RedPacket.expires_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return {"reminded": 0}
    names = _shop_names(ctx, {row.shop_id for row in rows})
    tz = ctx.settings.timezone
    messages: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    events: list[NewEvent] = []
    for pid, shop_id, buyer_id, remaining, expires_at in rows:
        end = to_local(expires_at, tz).strftime("%Y-%m-%d %H:%M:%S")
        messages.append(
            {
                "buyer_id": buyer_id,
                "shop_id": shop_id,
                "kind": "reminder",
                "title": f"「{names[shop_id]}」的店铺红包即将过期",
                "body": f"您的红包剩余 {yuan_label(remaining)}，将于 {end} 过期作废，请尽快使用。",
                "payload": {"redpacket_id": pid, "expires_at": expires_at.isoformat()},
                "rule": "R7",
            }
        )
        logs.append(_log(pid, shop_id, "remind", 0, "R7", f"已提醒买家，{end} 过期", now))
        events.append(
            NewEvent(
                shop_id,
                "redpacket.reminded",
                {
                    "redpacket_id": pid,
                    "buyer_id": buyer_id,
                    "remaining_fen": remaining,
                    "expires_at": expires_at.isoformat(),
                },
                "R7",
            )
        )
    notify.message_buyers(ctx, messages)
    ctx.session.execute(insert(RedPacketLog), logs)
    notify.emit_many(ctx, events)
    return {"reminded": len(rows)}


def expire(ctx: Ctx) -> dict[str, int]:
    """R4: packets whose validity has ended with money left become expired (过期作废)."""
    return _expire_due(ctx)


def expire_packet_if_due(ctx: Ctx, shop_id: int, packet_id: int) -> dict[str, int]:
    """R4 for one packet, ahead of the sweep: a merchant who reclaims (R5) or extends (R6) a
    packet in the instant between its end and the next tick still gets its expiry recorded,
    its event and notice, in order."""
    return _expire_due(ctx, RedPacket.id == packet_id, RedPacket.shop_id == shop_id)


def _expire_due(ctx: Ctx, *only: Any) -> dict[str, int]:
    now = ctx.now
    rows = ctx.session.execute(
        update(RedPacket)
        .where(
            RedPacket.status == PacketStatus.ACTIVE,
            RedPacket.remaining_fen > 0,
            RedPacket.expires_at <= now,
            *only,
        )
        .values(status=PacketStatus.EXPIRED, expired_at=RedPacket.expires_at, remind_at=None)
        .returning(
            RedPacket.id,
            RedPacket.shop_id,
            RedPacket.buyer_id,
            RedPacket.amount_fen,
            RedPacket.remaining_fen,
            RedPacket.expires_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return {"expired": 0}
    logs = []
    events = []
    per_shop: dict[int, list[int]] = defaultdict(list)
    for pid, shop_id, buyer_id, amount, remaining, expires_at in rows:
        per_shop[shop_id].append(remaining)
        logs.append(_log(pid, shop_id, "expire", 0, "R4", "有效期结束，过期作废", expires_at))
        events.append(
            NewEvent(
                shop_id,
                "redpacket.expired",
                {
                    "redpacket_id": pid,
                    "buyer_id": buyer_id,
                    "amount_fen": amount,
                    "remaining_fen": remaining,
                    "expires_at": expires_at.isoformat(),
                    "status": PacketStatus.EXPIRED.value,
                },
                "R4",
            )
        )
    ctx.session.execute(insert(RedPacketLog), logs)
    notify.emit_many(ctx, events)
    notify.notice_many(
        ctx,
        [
            {
                "shop_id": shop_id,
                "category": "redpacket",
                "rule": "R4",
                "title": f"{len(amounts)} 个店铺红包已过期",
                "body": f"剩余共 {yuan_label(sum(amounts))} 未使用。可以回收至商家账户余额，"
                "或延长有效期后通知买家使用。",
                "link": "/console/redpackets?status=expired",
            }
            for shop_id, amounts in per_shop.items()
        ],
    )
    return {"expired": len(rows)}


def next_remind_due(session: Session, now: datetime) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.min(RedPacket.remind_at)).where(
            RedPacket.remind_at.is_not(None),
            RedPacket.status == PacketStatus.ACTIVE,
            RedPacket.remaining_fen > 0,
            RedPacket.expires_at > now,
        )
    )
    return value


def next_expiry_due(session: Session, now: datetime) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.min(RedPacket.expires_at)).where(
            RedPacket.status == PacketStatus.ACTIVE, RedPacket.remaining_fen > 0
        )
    )
    return value


def _shop_names(ctx: Ctx, shop_ids: set[int]) -> dict[int, str]:
    return {sid: accounts.get_shop(ctx.session, sid).name for sid in shop_ids}


def _log(
    pid: int, shop_id: int, kind: str, amount: int, rule: str, note: str, at: datetime
) -> dict[str, Any]:
    return {
        "shop_id": shop_id,
        "packet_id": pid,
        "kind": kind,
        "amount_fen": amount,
        "order_id": None,
        "rule": rule,
        "note": note,
        "actor": "system",
        "at": at,
    }


# Reminders first: a packet reminded and expiring at one instant is reminded only if its end
# is still ahead (the remind sweep checks expires_at > now).
SWEEPS = [
    Sweep("redpackets.remind", "R7", remind, next_remind_due),
    Sweep("redpackets.expire", "R4", expire, next_expiry_due),
]

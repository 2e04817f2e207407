"""Red-packet expiry follow-ups: reclaim 回收 and extension 延长有效期, one by one or in bulk
(SPEC §1, R5/R6/R8; issue 15 M3: its own SPEC section). The decisions are in ``rules.py``.

* R5 reclaim: only an expired packet (status expired, or past its end and not yet swept);
  REDPACKET_FLOAT → BALANCE with key ``redpacket-reclaim:<id>``; again → ``already_reclaimed``.
* R6 extension: only an expired or about-to-expire packet (ending within the R8 即将过期
  window, ``expiring_soon_hours``); both halves of seed 000's "延长的时间不能超过原有效期的时长…
  延长后的有效期不能超过3天" (F7, issue 17): the extension ≤ the packet's original validity
  length, **and** the validity left after extending (new end − now) ≤ that length; remaining
  ≥ 10% of the original amount (ceiling, ``money.percent_of``). No limit on how many times
  by default (the seed sets none; ``max_extensions`` sets one). The new end is
  ``max(old end, now) + extension``: an about-to-expire packet keeps its remaining time and
  gains the extension, an expired one is valid again for the extension from now. The buyer
  gets an inbox message and an event is emitted. An extension sets the R7 reminder again.

``service.py`` re-exports these operations: callers import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    func,
    update,
)

from xiaodian.accounts import service as accounts
from xiaodian.context import Ctx
from xiaodian.errors import Conflict, ValidationFailed, XiaodianError
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.redpackets import rules
from xiaodian.redpackets.models import (
    PacketStatus,
    RedPacket,
)
from xiaodian.redpackets.records import (
    get_packet,
    local_time,
    log,
    packet_lead_hours,
    packet_payload,
)
from xiaodian.redpackets.rules import is_valid
from xiaodian.redpackets.sweeps import expire_packet_if_due

# ----- R5 reclaim --------------------------------------------------------------------------


def reclaim(ctx: Ctx, shop_id: int, packet_id: int) -> RedPacket:
    """R5 回收: an expired packet's remaining goes back to the merchant balance, exactly once
    (the conditional UPDATE moves it out of the packet once; the ledger key is per packet)."""
    session = ctx.session
    _expire_if_due(ctx, shop_id, packet_id)
    packet = get_packet(session, shop_id, packet_id)
    amount = packet.remaining_fen
    done = session.execute(
        update(RedPacket)
        .where(
            RedPacket.id == packet.id,
            RedPacket.shop_id == shop_id,
            RedPacket.status.in_((PacketStatus.ACTIVE, PacketStatus.EXPIRED)),
            RedPacket.expires_at <= ctx.now,
            RedPacket.remaining_fen == amount,
            RedPacket.remaining_fen > 0,
        )
        .values(
            status=PacketStatus.RECLAIMED,
            reclaimed_fen=RedPacket.reclaimed_fen + RedPacket.remaining_fen,
            remaining_fen=0,
            reclaimed_at=ctx.now,
            expired_at=func.coalesce(RedPacket.expired_at, RedPacket.expires_at),
            remind_at=None,
        )
        .returning(RedPacket.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if done is None:
        packet = get_packet(session, shop_id, packet_id)
        if packet.status == PacketStatus.RECLAIMED:
            raise Conflict(
                "already_reclaimed",
                f"红包 {packet.id} 已回收（{yuan_label(packet.reclaimed_fen)}），不会重复退回",
                f"Red packet {packet.id} was already reclaimed; nothing is credited twice",
                rule="R5",
            )
        if packet.remaining_fen <= 0:
            raise Conflict(
                "nothing_to_reclaim",
                f"红包 {packet.id} 已用完，没有可回收的金额",
                f"Red packet {packet.id} is used up; nothing to reclaim",
                rule="R5",
            )
        if is_valid(packet, ctx.now):
            raise Conflict(
                "not_expired",
                f"红包 {packet.id} 尚未过期（有效期至 {local_time(ctx, packet.expires_at)}），"
                "只能回收已过期的红包",
                f"Red packet {packet.id} has not expired; only expired packets can be reclaimed",
                rule="R5",
            )
        raise Conflict(
            "concurrent_change", "红包刚刚发生变动，请刷新后重试", "Changed meanwhile; retry"
        )
    ledger.move(
        ctx,
        shop_id,
        source=Account.REDPACKET_FLOAT,
        target=Account.BALANCE,
        amount_fen=amount,
        key=f"redpacket-reclaim:{packet.id}",
        kind="redpacket_reclaim",
        rule="R5",
        memo=f"回收过期红包 {packet.id},{yuan_label(amount)} 退回商家账户余额",
        ref_type="redpacket",
        ref_id=packet.id,
    )
    packet = get_packet(session, shop_id, packet_id)
    log(ctx, packet, "reclaim", amount, "R5", "回收，剩余金额退回商家账户余额")
    notify.emit(
        ctx, shop_id, "redpacket.reclaimed", packet_payload(packet, reclaimed_fen=amount), rule="R5"
    )
    return packet


# ----- R6 extension ------------------------------------------------------------------------


def extend(ctx: Ctx, shop_id: int, packet_id: int, extension_seconds: int) -> RedPacket:
    """R6 延长有效期 (确认修改): see the module docstring for the rules and the new end."""
    session = ctx.session
    knobs = ctx.settings.redpackets
    _expire_if_due(ctx, shop_id, packet_id)
    packet = get_packet(session, shop_id, packet_id)
    refusal = rules.extension_refusal(packet, extension_seconds, ctx.now, ctx.settings)
    if refusal is not None:
        raise refusal
    new_end = rules.new_end(packet.expires_at, ctx.now, extension_seconds)
    minimum = rules.minimum_remaining(packet.amount_fen, knobs)
    remind_at = None
    if packet.remind_enabled:
        remind_at = new_end - timedelta(hours=packet_lead_hours(session, packet, ctx.settings))
    done = session.execute(
        update(RedPacket)
        .where(
            RedPacket.id == packet.id,
            RedPacket.shop_id == shop_id,
            RedPacket.status.in_((PacketStatus.ACTIVE, PacketStatus.EXPIRED)),
            RedPacket.extension_count == packet.extension_count,
            RedPacket.expires_at == packet.expires_at,
            RedPacket.remaining_fen >= minimum,
        )
        .values(
            status=PacketStatus.ACTIVE,
            expires_at=new_end,
            expired_at=None,
            remind_at=remind_at,
            extension_count=RedPacket.extension_count + 1,
            extended_at=ctx.now,
        )
        .returning(RedPacket.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if done is None:
        raise rules.lost_extension(get_packet(session, shop_id, packet_id), knobs, minimum)
    old_end = packet.expires_at
    packet = get_packet(session, shop_id, packet_id)
    note = f"有效期由 {local_time(ctx, old_end)} 延长至 {local_time(ctx, new_end)}"
    log(ctx, packet, "extend", 0, "R6", note)
    shop = accounts.get_shop(session, shop_id)
    notify.message_buyer(
        ctx,
        buyer_id=packet.buyer_id,
        shop_id=shop_id,
        kind="text",
        title=f"「{shop.name}」的店铺红包有效期已延长",
        body=f"您的红包剩余 {yuan_label(packet.remaining_fen)}，有效期延长至 "
        f"{local_time(ctx, new_end)}，请在有效期内使用。",
        payload={"redpacket_id": packet.id, "expires_at": new_end.isoformat()},
        rule="R6",
    )
    notify.emit(
        ctx,
        shop_id,
        "redpacket.extended",
        packet_payload(
            packet,
            previous_expires_at=old_end.isoformat(),
            extension_seconds=extension_seconds,
            buyer_notified=True,
        ),
        rule="R6",
    )
    return packet


# ----- bulk (R8 oversight) -----------------------------------------------------------------


@dataclass
class ItemResult:
    redpacket_id: int
    ok: bool
    code: str = ""
    message_zh: str = ""
    message_en: str = ""


def reclaim_many(ctx: Ctx, shop_id: int, packet_ids: list[int]) -> list[ItemResult]:
    """R5/R8 bulk 回收: each packet on its own (a savepoint); per-item results."""
    return _each(ctx, packet_ids, lambda pid: reclaim(ctx, shop_id, pid), "已回收")


def _expire_if_due(ctx: Ctx, shop_id: int, packet_id: int) -> None:
    """R4 before R5/R6: the packet's expiry is recorded first if its sweep has not run yet."""
    if expire_packet_if_due(ctx, shop_id, packet_id)["expired"]:
        ctx.session.expire_all()  # the UPDATE bypassed the identity map


def extend_many(
    ctx: Ctx, shop_id: int, packet_ids: list[int], extension_seconds: int
) -> list[ItemResult]:
    """R6/R8 bulk 延长有效期: each packet on its own (a savepoint); per-item results."""
    return _each(
        ctx, packet_ids, lambda pid: extend(ctx, shop_id, pid, extension_seconds), "已延长"
    )


def _each(ctx: Ctx, ids: list[int], action: Any, ok_label: str) -> list[ItemResult]:
    if not ids:
        raise ValidationFailed(
            "nothing_selected", "请至少选择一个红包", "Select at least one packet", field="ids"
        )
    if len(ids) > ctx.settings.redpackets.max_batch_rows:
        raise ValidationFailed(
            "too_many", "一次选择的红包太多", "Too many packets at once", field="ids"
        )
    results = []
    for pid in dict.fromkeys(ids):
        try:
            with ctx.session.begin_nested():
                action(pid)
            results.append(ItemResult(pid, True, "ok", ok_label, "done"))
        except XiaodianError as exc:
            results.append(ItemResult(pid, False, exc.code, exc.message_zh, exc.message_en))
    return results

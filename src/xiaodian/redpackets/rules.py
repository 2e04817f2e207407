"""Red-packet decisions (issue 15 M2): validity, the shown status and the refusals of spending
and extending (R2–R6, F7), as functions of their inputs. Nothing here reads or writes the
database: ``service.py`` looks the packet up, asks these functions and writes (a conditional
UPDATE that re-checks in SQL what was decided here); ``sweeps.py`` runs R4/R7 set-based.

* **R2 validity**: valid iff active and ``now < expires_at`` (the end instant is excluded).
* **R8 status shown** (有效, 即将过期, 已过期, 已回收, 已用完): ``display_status``; its SQL twin is
  ``service.display_case``.
* **R6 extension** (F7, seed 000 "延长的时间不能超过原有效期的时长…延长后的有效期不能超过3天"):
  ``extension_refusal`` checks, in this order, reclaimed, a positive length, the length ≤ the
  original validity, the ``max_extensions`` limit, expired or about to expire, the validity
  left after extending ≤ the original length, and the remaining ≥ 10 % of the amount;
  ``new_end`` is ``max(old end, now) + extension``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from xiaodian.clock import to_local
from xiaodian.config import RedPacketRules, Settings
from xiaodian.errors import Conflict, ValidationFailed, XiaodianError
from xiaodian.money import percent_of, yuan_label
from xiaodian.redpackets.models import DISPLAY_LABELS, DisplayStatus, PacketStatus

DAY = 86_400


class Packet(Protocol):
    """What the decisions read of a red packet (the ORM row, or any object like it)."""

    @property
    def id(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def amount_fen(self) -> int: ...

    @property
    def remaining_fen(self) -> int: ...

    @property
    def expires_at(self) -> datetime: ...

    @property
    def validity_seconds(self) -> int: ...

    @property
    def extension_count(self) -> int: ...


# ----- labels ------------------------------------------------------------------------------


def duration_label(seconds: int) -> str:
    days, rest = divmod(seconds, DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else ""]
    parts += [f"{minutes}分" if minutes else "", f"{secs}秒" if secs else ""]
    return "".join(parts) or "0秒"


def local_label(when: datetime, tz: str) -> str:
    return to_local(when, tz).strftime("%Y-%m-%d %H:%M:%S")


# ----- R2 validity, R8 status --------------------------------------------------------------


def is_valid(packet: Packet, now: datetime) -> bool:
    """R2/R3: spendable iff active and ``now < expires_at`` (the end instant is excluded)."""
    return packet.status == PacketStatus.ACTIVE and now < packet.expires_at


def display_status(packet: Packet, now: datetime, settings: Settings) -> str:
    """R8: the status shown for one packet at ``now``."""
    if packet.status == PacketStatus.RECLAIMED:
        return DisplayStatus.RECLAIMED
    if packet.remaining_fen <= 0:
        return DisplayStatus.USED_UP
    if packet.status == PacketStatus.EXPIRED or packet.expires_at <= now:
        return DisplayStatus.EXPIRED
    if packet.expires_at <= now + timedelta(hours=settings.redpackets.expiring_soon_hours):
        return DisplayStatus.EXPIRING
    return DisplayStatus.VALID


def status_refusal(status: str) -> XiaodianError | None:
    """R8: a status filter names one of the shown statuses."""
    if status not in DISPLAY_LABELS:
        return ValidationFailed(
            "invalid_status",
            f"状态须为 {'、'.join(DISPLAY_LABELS.values())} 之一",
            f"status must be one of {', '.join(DISPLAY_LABELS)}",
            field="status",
        )
    return None


# ----- R3 spending -------------------------------------------------------------------------


def spend_refusal(packet: Packet, amount: int, now: datetime) -> Conflict:
    """R3/R4/R5: why ``amount`` cannot be taken from ``packet`` now (reclaimed, expired, or
    too little left) — asked once the conditional UPDATE took nothing."""
    if packet.status == PacketStatus.RECLAIMED:
        return Conflict(
            "redpacket_reclaimed",
            "红包已被商家回收，不能使用",
            "The packet was reclaimed",
            rule="R5",
        )
    if not is_valid(packet, now):
        return Conflict(
            "redpacket_expired",
            f"红包已于 {packet.expires_at.isoformat()} 过期作废，不能使用",
            f"The packet expired at {packet.expires_at.isoformat()}",
            rule="R4",
        )
    return Conflict(
        "redpacket_insufficient",
        f"红包剩余 {yuan_label(packet.remaining_fen)}，不足抵扣 {yuan_label(amount)}",
        f"The packet has {yuan_label(packet.remaining_fen)} left, less than {yuan_label(amount)}",
        rule="R3",
    )


# ----- R6 extension ------------------------------------------------------------------------


def new_end(expires_at: datetime, now: datetime, extension_seconds: int) -> datetime:
    """R6: an about-to-expire packet keeps its remaining time and gains the extension; an
    expired one is valid again for the extension from now."""
    return max(expires_at, now) + timedelta(seconds=extension_seconds)


def minimum_remaining(amount_fen: int, rules: RedPacketRules) -> int:
    """R6: the remaining amount a packet needs to be extended (10 % of the amount, ceiling)."""
    return percent_of(amount_fen, rules.extension_min_remaining_percent)


def extension_allowed_seconds(packet: Packet, now: datetime) -> int:
    """R6 (F7): the longest extension now — the original length less the time still left."""
    left = max(0, int((packet.expires_at - now).total_seconds()))
    return max(0, packet.validity_seconds - left)


def extension_refusal(
    packet: Packet,
    extension_seconds: int,
    now: datetime,
    settings: Settings,
) -> XiaodianError | None:
    """R6 延长有效期: the first rule the extension breaks, or None (see the module docstring
    for the order)."""
    rules, tz = settings.redpackets, settings.timezone
    if packet.status == PacketStatus.RECLAIMED:
        return Conflict(
            "already_reclaimed",
            f"红包 {packet.id} 已回收，不能延长有效期",
            f"Red packet {packet.id} was reclaimed; it cannot be extended",
            rule="R6",
        )
    if isinstance(extension_seconds, bool) or extension_seconds < 1:
        return ValidationFailed(
            "invalid_extension",
            "延长时长须大于0",
            "The extension must be positive",
            field="extension_seconds",
            rule="R6",
        )
    if extension_seconds > packet.validity_seconds:
        return ValidationFailed(
            "extension_too_long",
            f"延长时长 {duration_label(extension_seconds)} 不能超过原有效期时长 "
            f"{duration_label(packet.validity_seconds)}",
            f"The extension ({extension_seconds} s) may not exceed the original validity "
            f"({packet.validity_seconds} s)",
            field="extension_seconds",
            rule="R6",
        )
    if at_limit(packet, rules):  # before "not expiring yet" (S9)
        return limit_reached(packet, rules)
    refusal: XiaodianError | None = not_expiring_refusal(packet, now, rules.expiring_soon_hours, tz)
    if refusal is None:
        end = new_end(packet.expires_at, now, extension_seconds)
        refusal = validity_after_refusal(packet, end, now, tz)
    if refusal is not None:
        return refusal
    minimum = minimum_remaining(packet.amount_fen, rules)
    if packet.remaining_fen < minimum:
        percent = rules.extension_min_remaining_percent
        return remaining_too_low(packet.remaining_fen, packet.amount_fen, percent, minimum)
    return None


def lost_extension(fresh: Packet, rules: RedPacketRules, minimum: int) -> Conflict:
    """S9: why an extension lost its race, told honestly — a reclaim that committed first makes
    it ``already_reclaimed`` (not "remaining ¥0.00 below 10 %"), another extension that used
    the last allowed one makes it ``extension_limit`` (not "retry"); "retry" is left only for
    a change after which a retry could succeed."""
    if fresh.status == PacketStatus.RECLAIMED:
        return Conflict(
            "already_reclaimed",
            f"红包 {fresh.id} 已被回收，不能延长有效期",
            f"Red packet {fresh.id} was reclaimed meanwhile; it cannot be extended",
            rule="R6",
        )
    if at_limit(fresh, rules):
        return limit_reached(fresh, rules)
    if fresh.remaining_fen < minimum:
        percent = rules.extension_min_remaining_percent
        return remaining_too_low(fresh.remaining_fen, fresh.amount_fen, percent, minimum)
    return Conflict(
        "concurrent_change", "红包刚刚发生变动，请刷新后重试", "Changed meanwhile; retry"
    )


def at_limit(packet: Packet, rules: RedPacketRules) -> bool:
    """R6: ``max_extensions`` unset (the default, F7) means no limit on the count."""
    return rules.max_extensions is not None and packet.extension_count >= rules.max_extensions


def limit_reached(packet: Packet, rules: RedPacketRules) -> Conflict:
    return Conflict(
        "extension_limit",
        f"红包 {packet.id} 已延长过 {packet.extension_count} 次，每个红包最多延长 "
        f"{rules.max_extensions} 次",
        f"Red packet {packet.id} was already extended {packet.extension_count} time(s); "
        f"at most {rules.max_extensions}",
        rule="R6",
    )


def not_expiring_refusal(
    packet: Packet, now: datetime, expiring_soon_hours: int, tz: str
) -> Conflict | None:
    """R6: only an expired or about-to-expire packet (即将过期: ending within
    ``expiring_soon_hours``, the same window as the R8 status) may be extended."""
    soon = now + timedelta(hours=expiring_soon_hours)
    if packet.status == PacketStatus.ACTIVE and packet.expires_at > soon:
        local_end = to_local(packet.expires_at, tz)
        return Conflict(
            "not_expiring_yet",
            f"红包 {packet.id} 有效期至 {local_end:%Y-%m-%d %H:%M},"
            f"只有已过期或 {expiring_soon_hours} 小时内即将过期的红包可以延长有效期",
            f"Red packet {packet.id} is valid until {packet.expires_at:%Y-%m-%d %H:%M} UTC; "
            f"only an expired packet or one expiring within {expiring_soon_hours} h can be "
            "extended",
            rule="R6",
        )
    return None


def validity_after_refusal(
    packet: Packet, end: datetime, now: datetime, tz: str
) -> ValidationFailed | None:
    """R6, the seed's second half (F7): "延长后的有效期不能超过3天" — the validity left after
    extending (new end − now) may not exceed the packet's original validity length. A packet
    with 20 h left of a 3-day validity can gain at most 2 days 4 hours."""
    limit = packet.validity_seconds
    after = int((end - now).total_seconds())
    if after <= limit:
        return None
    allowed = extension_allowed_seconds(packet, now)
    most = f"本次最多可延长 {duration_label(allowed)}" if allowed else "已不能再延长"
    return ValidationFailed(
        "validity_after_extension_too_long",
        f"延长后的有效期（至 {local_label(end, tz)}，还剩 {duration_label(after)}）不能超过"
        f"原有效期时长 {duration_label(limit)}；{most}",
        f"After the extension the packet would be valid for {after} s more (until "
        f"{end:%Y-%m-%d %H:%M} UTC), longer than its original validity ({limit} s); "
        f"at most {allowed} s can be added now",
        field="extension_seconds",
        rule="R6",
    )


def remaining_too_low(remaining: int, amount: int, percent: int, minimum: int) -> Conflict:
    return Conflict(
        "remaining_too_low",
        f"剩余金额 {yuan_label(remaining)} 低于原金额 {yuan_label(amount)} 的 {percent}%"
        f"（{yuan_label(minimum)}），不能延长",
        f"Remaining {yuan_label(remaining)} is below {percent}% of the original "
        f"{yuan_label(amount)} ({yuan_label(minimum)}); the packet cannot be extended",
        rule="R6",
    )

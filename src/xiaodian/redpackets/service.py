"""Shop red packets 店铺红包: reading, spending and giving back, the R7 reminder lead (SPEC §1).
Issuance (R1/R2) is ``issuance.py``, reclaim and extension (R5/R6, bulk R8) ``extension.py``,
what they share ``records.py``, the decisions ``rules.py``; this module re-exports their
public names, so callers keep importing ``redpackets.service``.

Decisions (each cited where it is enforced):

* R3 spending happens at checkout (``checkout``): one conditional UPDATE takes the amount from
  the packet (never below zero, never after expiry, only the owner's packet in that shop),
  the order is placed with that amount as its discount, and REDPACKET_FLOAT → ORDER_ESCROW
  moves it so escrow holds the whole order value. Giving back (refund, close) goes to the
  packet while it is valid, else to the merchant balance; partial refunds give back
  ``floor(used × refunded / paid)`` cumulatively, so the total given back never exceeds what
  was used and a full refund gives back exactly all of it. An order closed unpaid (or closed
  with nothing refunded, e.g. paid wholly by the packet) gives back everything not yet given
  back. On completion the used part is the merchant's revenue and stays in ORDER_ESCROW with
  the rest of the order: orders does not settle escrow (yet), so neither do we.
* R7 a reminder is due ``lead`` hours before the end, once per validity period: sending
  clears ``remind_at``; an extension sets it again. The merchant chooses it at issuance (F7):
  on or off, and the lead time, preset from the shop's default (default 24 h). A packet
  issued without a chosen lead follows the shop's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.clock import local_day_start, to_local
from xiaodian.config import Settings
from xiaodian.context import Ctx
from xiaodian.errors import NotFound, ValidationFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.models import Order
from xiaodian.redpackets import rules

# M3: the SPEC sections in their own modules; callers and tests keep using service.
from xiaodian.redpackets.extension import ItemResult as ItemResult
from xiaodian.redpackets.extension import extend as extend
from xiaodian.redpackets.extension import extend_many as extend_many
from xiaodian.redpackets.extension import reclaim as reclaim
from xiaodian.redpackets.extension import reclaim_many as reclaim_many
from xiaodian.redpackets.issuance import IssueResult as IssueResult
from xiaodian.redpackets.issuance import IssueRow as IssueRow
from xiaodian.redpackets.issuance import issue as issue
from xiaodian.redpackets.issuance import parse_buyer_file as parse_buyer_file
from xiaodian.redpackets.issuance import split_ids as split_ids
from xiaodian.redpackets.models import (
    DISPLAY_LABELS,
    DisplayStatus,
    PacketStatus,
    RedPacket,
    RedPacketLog,
    RedPacketSettings,
    RedPacketSpend,
)
from xiaodian.redpackets.records import MAX_LEAD_HOURS as MAX_LEAD_HOURS
from xiaodian.redpackets.records import get_packet as get_packet
from xiaodian.redpackets.records import log, packet_payload
from xiaodian.redpackets.records import packet_lead_hours as packet_lead_hours
from xiaodian.redpackets.records import remind_lead_hours as remind_lead_hours
from xiaodian.redpackets.records import shop_remind_lead_hours as shop_remind_lead_hours

# Decided in rules.py (M2); the API, the console and the schemas read them here.
from xiaodian.redpackets.rules import DAY as DAY
from xiaodian.redpackets.rules import display_status as display_status
from xiaodian.redpackets.rules import duration_label as duration_label
from xiaodian.redpackets.rules import extension_allowed_seconds as extension_allowed_seconds
from xiaodian.redpackets.rules import is_valid as is_valid

# ----- reading -----------------------------------------------------------------------------


def display_case(now: datetime, settings: Settings) -> ColumnElement[str]:
    """R8: the status shown (有效, 即将过期, 已过期, 已回收, 已用完) as a SQL expression."""
    soon = now + timedelta(hours=settings.redpackets.expiring_soon_hours)
    return case(
        (RedPacket.status == PacketStatus.RECLAIMED, literal(DisplayStatus.RECLAIMED.value)),
        (RedPacket.remaining_fen <= 0, literal(DisplayStatus.USED_UP.value)),
        (
            or_(RedPacket.status == PacketStatus.EXPIRED, RedPacket.expires_at <= now),
            literal(DisplayStatus.EXPIRED.value),
        ),
        (RedPacket.expires_at <= soon, literal(DisplayStatus.EXPIRING.value)),
        else_=literal(DisplayStatus.VALID.value),
    )


@dataclass
class PacketRow:
    packet: RedPacket
    douyin_id: str
    nickname: str
    status: str

    @property
    def status_label(self) -> str:
        return DISPLAY_LABELS[self.status]


def list_packets(
    session: Session,
    shop_id: int,
    now: datetime,
    settings: Settings,
    *,
    status: str | None = None,
    buyer_douyin_id: str | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[PacketRow]:
    """R8: the shop's packets, newest first, filtered by shown status."""
    shown = display_case(now, settings)
    query = (
        select(RedPacket, Buyer.douyin_id, Buyer.nickname, shown)
        .join(Buyer, Buyer.id == RedPacket.buyer_id)
        .where(RedPacket.shop_id == shop_id)
        .order_by(RedPacket.id.desc())
        .limit(limit)
    )
    if status:
        refusal = rules.status_refusal(status)
        if refusal is not None:
            raise refusal
        query = query.where(shown == status)
    if buyer_douyin_id:
        query = query.where(Buyer.douyin_id == buyer_douyin_id.strip())
    if before_id is not None:
        query = query.where(RedPacket.id < before_id)
    return [
        PacketRow(packet, douyin_id, nickname, str(label))
        for packet, douyin_id, nickname, label in session.execute(query)
    ]


@dataclass
class StatusTotal:
    status: str
    label: str
    count: int = 0
    amount_fen: int = 0
    remaining_fen: int = 0


@dataclass
class Totals:
    by_status: list[StatusTotal]
    issued_fen: int
    spent_fen: int
    remaining_fen: int
    reclaimed_fen: int
    returned_to_balance_fen: int
    count: int

    @property
    def usage_permille(self) -> int:
        """R8 使用率 = spent / issued, in ‰ (integer math)."""
        return self.spent_fen * 1000 // self.issued_fen if self.issued_fen else 0

    @property
    def usage_label(self) -> str:
        return f"{self.usage_permille // 10}.{self.usage_permille % 10}%"


def totals(session: Session, shop_id: int, now: datetime, settings: Settings) -> Totals:
    """R8: count and sums per shown status, and the shop's overall usage rate."""
    shown = display_case(now, settings).label("shown")
    rows = session.execute(
        select(
            shown,
            func.count(),
            func.coalesce(func.sum(RedPacket.amount_fen), 0),
            func.coalesce(func.sum(RedPacket.remaining_fen), 0),
            func.coalesce(func.sum(RedPacket.spent_fen), 0),
            func.coalesce(func.sum(RedPacket.reclaimed_fen), 0),
            func.coalesce(func.sum(RedPacket.returned_to_balance_fen), 0),
        )
        .where(RedPacket.shop_id == shop_id)
        .group_by(shown)
    ).all()
    by = {s.value: StatusTotal(s.value, DISPLAY_LABELS[s]) for s in DisplayStatus}
    issued = spent = remaining = reclaimed = returned = count = 0
    for label, n, amount, rem, sp, rec, ret in rows:
        item = by[str(label)]
        item.count, item.amount_fen, item.remaining_fen = int(n), int(amount), int(rem)
        count += int(n)
        issued += int(amount)
        remaining += int(rem)
        spent += int(sp)
        reclaimed += int(rec)
        returned += int(ret)
    return Totals(list(by.values()), issued, spent, remaining, reclaimed, returned, count)


@dataclass
class UsagePoint:
    day: str  # YYYY-MM-DD, local
    issued_fen: int  # cumulative at the end of the day
    spent_fen: int  # cumulative net spent at the end of the day

    @property
    def permille(self) -> int:
        return self.spent_fen * 1000 // self.issued_fen if self.issued_fen else 0


_ISSUED = ("issue",)
_SPENT = {"spend": 1, "return_packet": -1, "return_balance": -1}


def usage_series(
    session: Session, shop_id: int, now: datetime, settings: Settings, days: int | None = None
) -> list[UsagePoint]:
    """R8 使用率 over time: for each local day, cumulative net spent ÷ cumulative issued."""
    days = days or settings.redpackets.usage_chart_days
    tz = settings.timezone
    first_day = local_day_start(now, tz) - timedelta(days=days - 1)
    kinds = [*_ISSUED, *_SPENT]
    before = session.execute(
        select(RedPacketLog.kind, func.coalesce(func.sum(RedPacketLog.amount_fen), 0))
        .where(
            RedPacketLog.shop_id == shop_id,
            RedPacketLog.at < first_day,
            RedPacketLog.kind.in_(kinds),
        )
        .group_by(RedPacketLog.kind)
    ).all()
    issued = sum(int(t) for k, t in before if k in _ISSUED)
    spent = sum(int(t) * _SPENT[k] for k, t in before if k in _SPENT)
    per_day: dict[str, list[int]] = {}
    for kind, amount, at in session.execute(
        select(RedPacketLog.kind, RedPacketLog.amount_fen, RedPacketLog.at).where(
            RedPacketLog.shop_id == shop_id,
            RedPacketLog.at >= first_day,
            RedPacketLog.at <= now,
            RedPacketLog.kind.in_(kinds),
        )
    ):
        bucket = per_day.setdefault(to_local(at, tz).strftime("%Y-%m-%d"), [0, 0])
        if kind in _ISSUED:
            bucket[0] += int(amount)
        else:
            bucket[1] += int(amount) * _SPENT[kind]
    points = []
    for offset in range(days):
        day = to_local(first_day + timedelta(days=offset, hours=12), tz).strftime("%Y-%m-%d")
        add_issued, add_spent = per_day.get(day, [0, 0])
        issued += add_issued
        spent += add_spent
        points.append(UsagePoint(day, issued, spent))
    return points


def packet_logs(session: Session, packet: RedPacket) -> list[RedPacketLog]:
    return list(
        session.scalars(
            select(RedPacketLog)
            .where(RedPacketLog.shop_id == packet.shop_id, RedPacketLog.packet_id == packet.id)
            .order_by(RedPacketLog.id)
        )
    )


def packet_buyer(session: Session, packet: RedPacket) -> Buyer:
    return accounts.get_buyer(session, packet.buyer_id)


def buyer_packets(
    session: Session, buyer_id: int, now: datetime, *, shop_id: int | None = None
) -> list[RedPacket]:
    """A buyer's own packets (all shops, or one), spendable first."""
    query = (
        select(RedPacket)
        .where(RedPacket.buyer_id == buyer_id)
        .order_by(RedPacket.expires_at.desc(), RedPacket.id.desc())
        .limit(200)
    )
    if shop_id is not None:
        query = query.where(RedPacket.shop_id == shop_id)
    return list(session.scalars(query))


# ----- R7 per-shop reminder lead -----------------------------------------------------------


def set_remind_lead_hours(ctx: Ctx, shop_id: int, hours: int | None) -> int:
    """R7: set (or, with None, reset to the default) the shop's reminder lead time. Packets
    whose reminder is still pending and whose lead was not chosen at issuance (F7) are
    rescheduled to the new lead."""
    if hours is not None and not 1 <= hours <= MAX_LEAD_HOURS:
        raise ValidationFailed(
            "invalid_remind_lead",
            "提醒提前时间须为1-720小时",
            "Reminder lead must be 1–720 hours",
            field="remind_lead_hours",
            rule="R7",
        )
    session = ctx.session
    row = session.get(RedPacketSettings, shop_id)
    if row is None:
        row = RedPacketSettings(shop_id=shop_id, remind_lead_hours=hours, updated_at=ctx.now)
        session.add(row)
    else:
        row.remind_lead_hours, row.updated_at = hours, ctx.now
    session.flush()
    lead = remind_lead_hours(session, shop_id, ctx.settings)
    pending = session.scalars(
        select(RedPacket).where(
            RedPacket.shop_id == shop_id,
            RedPacket.remind_at.is_not(None),
            RedPacket.remind_lead_hours.is_(None),
            RedPacket.status == PacketStatus.ACTIVE,
        )
    )
    for packet in pending:
        packet.remind_at = packet.expires_at - timedelta(hours=lead)
    notify.emit(ctx, shop_id, "redpacket.settings_updated", {"remind_lead_hours": lead}, rule="R7")
    return lead


# ----- R3 spending at checkout -------------------------------------------------------------


@dataclass
class Checkout:
    order: Order
    spend: RedPacketSpend | None


def checkout(
    ctx: Ctx,
    buyer: Buyer,
    shop_id: int,
    *,
    items: list[tuple[int, int]],
    address: str,
    payment_route: str,
    redpacket_id: int | None = None,
    redpacket_amount_fen: int | None = None,
    receiver_name: str | None = None,
    receiver_phone: str | None = None,
) -> Checkout:
    """R3: place an order paying part (or all) of it with a red packet, in one transaction.

    The amount used is ``redpacket_amount_fen`` (default: as much as the packet and the goods
    allow). It is taken from the packet by one conditional UPDATE (valid, the buyer's own,
    this shop's, enough remaining), so parallel checkouts never spend more than remains."""
    if redpacket_id is None:
        if redpacket_amount_fen:
            raise ValidationFailed(
                "invalid_checkout",
                "未选择红包",
                "redpacket_amount_fen needs redpacket_id",
                field="redpacket_id",
                rule="R3",
            )
        order = orders.place_order(
            ctx,
            buyer,
            shop_id,
            items=items,
            address=address,
            payment_route=payment_route,
            receiver_name=receiver_name,
            receiver_phone=receiver_phone,
        )
        return Checkout(order, None)

    session = ctx.session
    packet = _buyer_packet(session, buyer.id, shop_id, redpacket_id)
    goods = 0
    for product_id, qty in items:
        goods += orders.get_product(session, shop_id, product_id).price_fen * max(qty, 0)
    if redpacket_amount_fen is None:
        amount = min(packet.remaining_fen, goods)
    else:
        amount = redpacket_amount_fen
    if isinstance(amount, bool) or amount < 1:
        if redpacket_amount_fen is None and packet.remaining_fen > 0 and goods == 0:
            raise ValidationFailed(
                "invalid_checkout", "订单金额为0，无需使用红包", "Nothing to pay", rule="R3"
            )
        raise rules.spend_refusal(packet, max(amount, 1), ctx.now)
    if amount > goods:
        raise ValidationFailed(
            "redpacket_exceeds_goods",
            f"红包抵扣 {yuan_label(amount)} 不能超过商品金额 {yuan_label(goods)}",
            f"Packet amount {yuan_label(amount)} exceeds goods {yuan_label(goods)}",
            field="redpacket_amount_fen",
            rule="R3",
        )
    taken = session.execute(
        update(RedPacket)
        .where(
            RedPacket.id == packet.id,
            RedPacket.shop_id == shop_id,
            RedPacket.buyer_id == buyer.id,
            RedPacket.status == PacketStatus.ACTIVE,
            RedPacket.expires_at > ctx.now,
            RedPacket.remaining_fen >= amount,
        )
        .values(
            remaining_fen=RedPacket.remaining_fen - amount,
            spent_fen=RedPacket.spent_fen + amount,
        )
        .returning(RedPacket.remaining_fen)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if taken is None:
        raise rules.spend_refusal(get_packet(session, shop_id, packet.id), amount, ctx.now)
    order = orders.place_order(
        ctx,
        buyer,
        shop_id,
        items=items,
        address=address,
        payment_route=payment_route,
        discount_fen=amount,
        receiver_name=receiver_name,
        receiver_phone=receiver_phone,
    )
    spend = RedPacketSpend(
        shop_id=shop_id,
        packet_id=packet.id,
        buyer_id=buyer.id,
        order_id=order.id,
        amount_fen=amount,
        returned_to_packet_fen=0,
        returned_to_balance_fen=0,
        created_at=ctx.now,
    )
    session.add(spend)
    session.flush()
    ledger.move(
        ctx,
        shop_id,
        source=Account.REDPACKET_FLOAT,
        target=Account.ORDER_ESCROW,
        amount_fen=amount,
        key=f"redpacket-spend:{spend.id}",
        kind="redpacket_spend",
        rule="R3",
        memo=f"订单 {order.order_no} 使用店铺红包抵扣 {yuan_label(amount)}",
        ref_type="order",
        ref_id=order.id,
    )
    packet = get_packet(session, shop_id, packet.id)
    log(ctx, packet, "spend", amount, "R3", f"订单 {order.order_no} 抵扣", order_id=order.id)
    notify.emit(
        ctx,
        shop_id,
        "redpacket.spent",
        packet_payload(packet, order_id=order.id, order_no=order.order_no, used_fen=amount),
        rule="R3",
    )
    return Checkout(order, spend)


def _buyer_packet(session: Session, buyer_id: int, shop_id: int, packet_id: int) -> RedPacket:
    packet = session.get(RedPacket, packet_id)
    if packet is None or packet.shop_id != shop_id or packet.buyer_id != buyer_id:
        raise NotFound("红包", "Red packet", packet_id)
    return packet


# ----- R3 giving back: refunds, closing; completion ----------------------------------------


def _order_id(payload: dict[str, Any]) -> int | None:
    """The order an orders event is about (events without one concern no packet)."""
    value = payload.get("order_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _spend_of(session: Session, shop_id: int, order_id: int) -> RedPacketSpend | None:
    return session.scalars(
        select(RedPacketSpend).where(
            RedPacketSpend.shop_id == shop_id, RedPacketSpend.order_id == order_id
        )
    ).first()


def on_order_refunded(ctx: Ctx, shop_id: int, payload: dict[str, Any]) -> int:
    """R3: a refund of an order that used a packet gives back the proportional used part:
    cumulatively ``floor(used × refunded / paid)`` (never more than used; all of it on a full
    refund). Returns the fen given back by this refund."""
    order_id = _order_id(payload)
    spend = _spend_of(ctx.session, shop_id, order_id) if order_id else None
    if spend is None:
        return 0
    order = orders.get_order(ctx.session, shop_id, spend.order_id)
    if order.paid_fen <= 0:
        return 0
    refunded = min(order.refunded_fen, order.paid_fen)
    target = spend.amount_fen * refunded // order.paid_fen
    delta = target - spend.returned_to_packet_fen - spend.returned_to_balance_fen
    if delta <= 0:
        return 0
    refund_id = payload.get("refund_id")
    _give_back(ctx, spend, delta, f"redpacket-refund:{refund_id}", "订单退款，退回红包抵扣部分")
    return delta


def on_order_closed(ctx: Ctx, shop_id: int, payload: dict[str, Any]) -> int:
    """R3 (decision): a closed order — unpaid, or closed with its payment refunded — gives
    back every part of the packet amount not given back yet."""
    order_id = _order_id(payload)
    spend = _spend_of(ctx.session, shop_id, order_id) if order_id else None
    if spend is None:
        return 0
    spend.closed_at = ctx.now
    rest = spend.amount_fen - spend.returned_to_packet_fen - spend.returned_to_balance_fen
    if rest > 0:
        _give_back(ctx, spend, rest, f"redpacket-close:{order_id}", "订单关闭，退回红包抵扣金额")
    return max(rest, 0)


def on_order_completed(ctx: Ctx, shop_id: int, payload: dict[str, Any]) -> None:
    """R3 (decision): on completion the used part is the merchant's revenue; it stays in
    ORDER_ESCROW (待结算货款) with the rest of the order, as orders does not settle escrow."""
    order_id = _order_id(payload)
    spend = _spend_of(ctx.session, shop_id, order_id) if order_id else None
    if spend is None or spend.completed_at is not None:
        return
    spend.completed_at = ctx.now
    packet = get_packet(ctx.session, shop_id, spend.packet_id)
    net = spend.amount_fen - spend.returned_to_packet_fen - spend.returned_to_balance_fen
    log(ctx, packet, "order_done", 0, "R3", "订单完成，抵扣金额计入订单货款", spend.order_id)
    notify.emit(
        ctx,
        shop_id,
        "redpacket.order_completed",
        packet_payload(packet, order_id=spend.order_id, used_fen=net),
        rule="R3",
    )


def _give_back(ctx: Ctx, spend: RedPacketSpend, amount: int, key: str, note: str) -> None:
    """R3: to the packet if it is still valid, else to the merchant balance."""
    session = ctx.session
    back_to_packet = session.execute(
        update(RedPacket)
        .where(
            RedPacket.id == spend.packet_id,
            RedPacket.shop_id == spend.shop_id,
            RedPacket.status == PacketStatus.ACTIVE,
            RedPacket.expires_at > ctx.now,
            RedPacket.spent_fen >= amount,
        )
        .values(
            remaining_fen=RedPacket.remaining_fen + amount,
            spent_fen=RedPacket.spent_fen - amount,
        )
        .returning(RedPacket.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if back_to_packet is not None:
        target, kind, where = Account.REDPACKET_FLOAT, "redpacket_return", "packet"
        spend.returned_to_packet_fen += amount
    else:
        session.execute(
            update(RedPacket)
            .where(
                RedPacket.id == spend.packet_id,
                RedPacket.shop_id == spend.shop_id,
                RedPacket.spent_fen >= amount,
            )
            .values(
                spent_fen=RedPacket.spent_fen - amount,
                returned_to_balance_fen=RedPacket.returned_to_balance_fen + amount,
            )
            .execution_options(synchronize_session=False)
        )
        target, kind, where = Account.BALANCE, "redpacket_refund_balance", "balance"
        spend.returned_to_balance_fen += amount
    ledger.move(
        ctx,
        spend.shop_id,
        source=Account.ORDER_ESCROW,
        target=target,
        amount_fen=amount,
        key=key,
        kind=kind,
        rule="R3",
        memo=f"{note}（{'退回红包' if where == 'packet' else '红包已失效，退回商家账户余额'}）",
        ref_type="order",
        ref_id=spend.order_id,
    )
    packet = get_packet(session, spend.shop_id, spend.packet_id)
    log_kind = "return_packet" if where == "packet" else "return_balance"
    log(ctx, packet, log_kind, amount, "R3", note, order_id=spend.order_id)
    notify.emit(
        ctx,
        spend.shop_id,
        "redpacket.returned",
        packet_payload(packet, order_id=spend.order_id, returned_fen=amount, returned_to=where),
        rule="R3",
    )

"""Shop red packets 店铺红包: issue, spend, give back, reclaim, extend, oversee (SPEC §1).

Decisions (each cited where it is enforced):

* R1 issuance is a *batch* (one buyer is a batch of one): one ledger transaction
  BALANCE → REDPACKET_FLOAT for the batch total, key ``redpacket-issue:<batch id>``. Rows that
  name an unknown buyer (or repeat a buyer already in the batch) are per-row errors and are
  not issued; the other rows are. Too little balance for the valid rows refuses the whole
  batch, stating the numbers. A client ``request_id`` makes a retried issuance answer with
  the first result.
* R2 validity: ``validity_seconds`` is chosen at issuance (default 3 days); the packet is
  valid iff ``now < expires_at`` (exclusive end: at ``issued_at + validity`` it is expired).
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
  gets an inbox message and an event is emitted.
* R7 a reminder is due ``lead`` hours before the end, once per validity period: sending
  clears ``remind_at``; an extension sets it again. The merchant chooses it at issuance (F7):
  on or off, and the lead time, preset from the shop's default (default 24 h). A packet
  issued without a chosen lead follows the shop's default.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.clock import local_day_start, to_local
from xiaodian.config import RedPacketRules, Settings
from xiaodian.context import Ctx
from xiaodian.errors import Conflict, InsufficientFunds, NotFound, ValidationFailed, XiaodianError
from xiaodian.errors import field_error as _field
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import percent_of, yuan_label
from xiaodian.notify import service as notify
from xiaodian.notify.service import NewEvent
from xiaodian.orders import service as orders
from xiaodian.orders.models import Order
from xiaodian.redpackets.models import (
    DISPLAY_LABELS,
    DisplayStatus,
    PacketStatus,
    RedPacket,
    RedPacketBatch,
    RedPacketLog,
    RedPacketSettings,
    RedPacketSpend,
)
from xiaodian.redpackets.sweeps import expire_packet_if_due

DAY = 86_400


# ----- reading -----------------------------------------------------------------------------


def get_packet(session: Session, shop_id: int, packet_id: int) -> RedPacket:
    packet = session.scalars(
        select(RedPacket)
        .where(RedPacket.id == packet_id, RedPacket.shop_id == shop_id)
        .execution_options(populate_existing=True)
    ).first()
    if packet is None:
        raise NotFound("红包", "Red packet", packet_id)
    return packet


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


def display_status(packet: RedPacket, now: datetime, settings: Settings) -> str:
    """R8, the same decision as ``display_case`` for one loaded packet."""
    if packet.status == PacketStatus.RECLAIMED:
        return DisplayStatus.RECLAIMED
    if packet.remaining_fen <= 0:
        return DisplayStatus.USED_UP
    if packet.status == PacketStatus.EXPIRED or packet.expires_at <= now:
        return DisplayStatus.EXPIRED
    if packet.expires_at <= now + timedelta(hours=settings.redpackets.expiring_soon_hours):
        return DisplayStatus.EXPIRING
    return DisplayStatus.VALID


def is_valid(packet: RedPacket, now: datetime) -> bool:
    """R2/R3: spendable iff active and ``now < expires_at`` (the end instant is excluded)."""
    return packet.status == PacketStatus.ACTIVE and now < packet.expires_at


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
        _check_status(status)
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


# ----- R1/R2 issuance ----------------------------------------------------------------------


@dataclass
class IssueRow:
    row: int
    douyin_id: str
    ok: bool
    redpacket_id: int | None = None
    code: str = ""
    message_zh: str = ""
    message_en: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "douyin_id": self.douyin_id,
            "ok": self.ok,
            "redpacket_id": self.redpacket_id,
            "code": self.code,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


@dataclass
class IssueResult:
    batch: RedPacketBatch
    rows: list[IssueRow]
    replayed: bool = False
    packets: list[RedPacket] = field(default_factory=list)


def parse_buyer_file(content: bytes) -> list[str]:
    """R1 batch upload: one Douyin ID per line (the first column of a CSV); a header line
    抖音号 / douyin_id is skipped; blank lines are ignored. UTF-8 (with or without BOM) or GBK."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gbk")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                "invalid_file",
                "文件编码无法识别，请使用 UTF-8 或 GBK 编码的 CSV",
                "Unreadable file: use a UTF-8 or GBK CSV",
                field="file",
                rule="R1",
            ) from exc
    ids: list[str] = []
    for index, record in enumerate(csv.reader(io.StringIO(text))):
        value = record[0].strip() if record else ""
        if index == 0 and value.lower() in ("抖音号", "douyin_id", "buyer_douyin_id", "抖音id"):
            continue
        if value:
            ids.append(value)
    return ids


def split_ids(text: str) -> list[str]:
    """Douyin IDs typed into a box: separated by new lines, commas or spaces."""
    for sep in (",", ",", ";", ";", "\t", " "):
        text = text.replace(sep, "\n")
    return [part.strip() for part in text.splitlines() if part.strip()]


def issue(
    ctx: Ctx,
    shop_id: int,
    *,
    buyer_douyin_ids: list[str],
    amount_fen: int,
    validity_seconds: int | None = None,
    request_id: str | None = None,
    note: str = "",
    remind: bool = True,
    remind_lead_hours: int | None = None,
) -> IssueResult:
    """R1/R2: issue one packet of ``amount_fen`` to each listed buyer, valid for
    ``validity_seconds`` from now (default 3 days). See the module docstring for the batch
    rules (per-row errors, whole-batch refusal on insufficient balance, request_id replay).

    R7 (F7): ``remind`` switches the expiry reminder on or off for these packets and
    ``remind_lead_hours`` sets its lead; None follows the shop's default lead."""
    rules = ctx.settings.redpackets
    session = ctx.session
    if validity_seconds is None:
        validity_seconds = rules.validity_days * DAY
    errors = []
    if isinstance(amount_fen, bool) or not 1 <= amount_fen <= rules.max_amount_fen:
        errors.append(
            _field(
                "amount_fen",
                f"红包金额须在 ¥0.01 到 {yuan_label(rules.max_amount_fen)} 之间",
                f"Amount must be between 0.01 and {yuan_label(rules.max_amount_fen)}",
            )
        )
    if not 1 <= validity_seconds <= rules.max_validity_days * DAY:
        errors.append(
            _field(
                "validity_seconds",
                f"有效期须在1秒到{rules.max_validity_days}天之间",
                f"Validity must be between 1 second and {rules.max_validity_days} days",
            )
        )
    if not buyer_douyin_ids:
        errors.append(_field("buyer_douyin_ids", "请填写买家抖音号", "List at least one buyer"))
    if len(buyer_douyin_ids) > rules.max_batch_rows:
        errors.append(
            _field(
                "buyer_douyin_ids",
                f"一次最多发放 {rules.max_batch_rows} 个买家",
                f"At most {rules.max_batch_rows} buyers per batch",
            )
        )
    if remind_lead_hours is not None and (
        isinstance(remind_lead_hours, bool) or not 1 <= remind_lead_hours <= MAX_LEAD_HOURS
    ):
        errors.append(
            _field(
                "remind_lead_hours",
                f"提醒提前时间须为1-{MAX_LEAD_HOURS}小时",
                f"Reminder lead must be 1–{MAX_LEAD_HOURS} hours",
            )
        )
    if request_id is not None and not 1 <= len(request_id) <= 80:
        errors.append(_field("request_id", "request_id 须为1-80个字符", "request_id: 1–80 chars"))
    if errors:
        raise ValidationFailed(
            "invalid_redpacket", "红包发放信息有误", "Invalid issuance", errors=errors, rule="R1"
        )

    if request_id:
        previous = _batch_by_request(session, shop_id, request_id)
        if previous is not None:
            return IssueResult(previous, _rows_of(previous), replayed=True)

    # Per-row checks: unknown or repeated buyers are not issued (R1, per-row results).
    wanted = [(i + 1, str(d).strip()) for i, d in enumerate(buyer_douyin_ids)]
    found = {
        b.douyin_id: b
        for b in session.scalars(
            select(Buyer).where(Buyer.douyin_id.in_({d for _, d in wanted if d}))
        )
    }
    rows: list[IssueRow] = []
    valid: list[tuple[IssueRow, Buyer]] = []
    seen: set[str] = set()
    for number, douyin_id in wanted:
        buyer = found.get(douyin_id)
        if buyer is None:
            rows.append(
                IssueRow(
                    number,
                    douyin_id,
                    False,
                    code="unknown_buyer",
                    message_zh=f"买家抖音号 {douyin_id or '(空)'} 不存在",
                    message_en=f"No buyer with Douyin ID {douyin_id!r}",
                )
            )
        elif douyin_id in seen:
            rows.append(
                IssueRow(
                    number,
                    douyin_id,
                    False,
                    code="duplicate_buyer",
                    message_zh=f"抖音号 {douyin_id} 在本批中重复，只发放一次",
                    message_en=f"{douyin_id} is repeated in this batch; issued once",
                )
            )
        else:
            seen.add(douyin_id)
            row = IssueRow(number, douyin_id, True)
            rows.append(row)
            valid.append((row, buyer))
    if not valid:
        raise ValidationFailed(
            "no_valid_buyers",
            "没有可发放的买家：" + ";".join(r.message_zh for r in rows[:20]),
            "No buyer in the batch can receive a packet",
            errors=[
                _field(f"buyer_douyin_ids[{r.row - 1}]", r.message_zh, r.message_en) for r in rows
            ],
            rule="R1",
        )

    total = amount_fen * len(valid)
    available = ledger.balance(session, shop_id, Account.BALANCE)
    if available < total:
        raise _insufficient(len(valid), amount_fen, total, available)

    batch = RedPacketBatch(
        shop_id=shop_id,
        request_id=request_id,
        amount_fen=amount_fen,
        validity_seconds=validity_seconds,
        issued_count=len(valid),
        rejected_count=len(rows) - len(valid),
        total_fen=total,
        note=note.strip()[:200],
        rows=[],
        actor=ctx.actor,
        created_at=ctx.now,
    )
    try:
        with session.begin_nested():
            session.add(batch)
            session.flush()
    except IntegrityError:
        # The same request_id committed concurrently: answer with its result.
        previous = _batch_by_request(session, shop_id, request_id or "")
        if previous is None:
            raise
        return IssueResult(previous, _rows_of(previous), replayed=True)

    try:
        ledger.move(
            ctx,
            shop_id,
            source=Account.BALANCE,
            target=Account.REDPACKET_FLOAT,
            amount_fen=total,
            key=f"redpacket-issue:{batch.id}",
            kind="redpacket_issue",
            rule="R1",
            memo=f"发放店铺红包 {len(valid)} 个 × {yuan_label(amount_fen)}",
            ref_type="redpacket_batch",
            ref_id=batch.id,
        )
    except InsufficientFunds as exc:
        available = ledger.balance(session, shop_id, Account.BALANCE)
        raise _insufficient(len(valid), amount_fen, total, available) from exc

    expires_at = ctx.now + timedelta(seconds=validity_seconds)
    lead = remind_lead_hours or shop_remind_lead_hours(session, shop_id, ctx.settings)
    remind_at = expires_at - timedelta(hours=lead) if remind else None
    packets = [
        RedPacket(
            shop_id=shop_id,
            batch_id=batch.id,
            buyer_id=buyer.id,
            amount_fen=amount_fen,
            remaining_fen=amount_fen,
            spent_fen=0,
            reclaimed_fen=0,
            returned_to_balance_fen=0,
            status=PacketStatus.ACTIVE,
            validity_seconds=validity_seconds,
            issued_at=ctx.now,
            expires_at=expires_at,
            remind_at=remind_at,
            remind_enabled=bool(remind),
            remind_lead_hours=remind_lead_hours,
            extension_count=0,
        )
        for _, buyer in valid
    ]
    session.add_all(packets)
    session.flush()
    for (row, _), packet in zip(valid, packets, strict=True):
        row.redpacket_id = packet.id
    batch.rows = [r.as_dict() for r in rows]
    _log_many(
        ctx,
        [
            _log_row(
                ctx, p, "issue", p.amount_fen, "R1", f"发放，有效期至 {_local(ctx, expires_at)}"
            )
            for p in packets
        ],
    )
    shop = accounts.get_shop(session, shop_id)
    notify.message_buyers(
        ctx,
        [
            {
                "buyer_id": p.buyer_id,
                "shop_id": shop_id,
                "kind": "text",
                "title": f"您收到「{shop.name}」的店铺红包 {yuan_label(amount_fen)}",
                "body": f"下单时可抵扣，有效期至 {_local(ctx, expires_at)}，过期作废。",
                "payload": {"redpacket_id": p.id, "amount_fen": amount_fen},
                "rule": "R1",
            }
            for p in packets
        ],
    )
    notify.emit_many(
        ctx,
        [
            NewEvent(shop_id, "redpacket.issued", _payload(p, batch_id=batch.id), "R1")
            for p in packets
        ],
    )
    return IssueResult(batch, rows, packets=packets)


def _insufficient(count: int, amount: int, total: int, available: int) -> InsufficientFunds:
    return InsufficientFunds(
        "insufficient_balance",
        f"商家账户余额不足：本次发放 {count} 个红包 × {yuan_label(amount)}，共需 "
        f"{yuan_label(total)}，当前余额 {yuan_label(available)}，整批未发放",
        f"Insufficient balance: {count} packets × {yuan_label(amount)} need "
        f"{yuan_label(total)}, available {yuan_label(available)}; nothing was issued",
        rule="R1",
    )


def _batch_by_request(session: Session, shop_id: int, request_id: str) -> RedPacketBatch | None:
    return session.scalars(
        select(RedPacketBatch).where(
            RedPacketBatch.shop_id == shop_id, RedPacketBatch.request_id == request_id
        )
    ).first()


def _rows_of(batch: RedPacketBatch) -> list[IssueRow]:
    return [IssueRow(**row) for row in batch.rows or []]


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
        _refuse_spend(packet, max(amount, 1), ctx.now)
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
        _refuse_spend(get_packet(session, shop_id, packet.id), amount, ctx.now)
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
    _log(ctx, packet, "spend", amount, "R3", f"订单 {order.order_no} 抵扣", order_id=order.id)
    notify.emit(
        ctx,
        shop_id,
        "redpacket.spent",
        _payload(packet, order_id=order.id, order_no=order.order_no, used_fen=amount),
        rule="R3",
    )
    return Checkout(order, spend)


def _buyer_packet(session: Session, buyer_id: int, shop_id: int, packet_id: int) -> RedPacket:
    packet = session.get(RedPacket, packet_id)
    if packet is None or packet.shop_id != shop_id or packet.buyer_id != buyer_id:
        raise NotFound("红包", "Red packet", packet_id)
    return packet


def _refuse_spend(packet: RedPacket, amount: int, now: datetime) -> None:
    if packet.status == PacketStatus.RECLAIMED:
        raise Conflict(
            "redpacket_reclaimed",
            "红包已被商家回收，不能使用",
            "The packet was reclaimed",
            rule="R5",
        )
    if not is_valid(packet, now):
        raise Conflict(
            "redpacket_expired",
            f"红包已于 {packet.expires_at.isoformat()} 过期作废，不能使用",
            f"The packet expired at {packet.expires_at.isoformat()}",
            rule="R4",
        )
    raise Conflict(
        "redpacket_insufficient",
        f"红包剩余 {yuan_label(packet.remaining_fen)}，不足抵扣 {yuan_label(amount)}",
        f"The packet has {yuan_label(packet.remaining_fen)} left, less than {yuan_label(amount)}",
        rule="R3",
    )


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
    _log(ctx, packet, "order_done", 0, "R3", "订单完成，抵扣金额计入订单货款", spend.order_id)
    notify.emit(
        ctx,
        shop_id,
        "redpacket.order_completed",
        _payload(packet, order_id=spend.order_id, used_fen=net),
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
    _log(ctx, packet, log_kind, amount, "R3", note, order_id=spend.order_id)
    notify.emit(
        ctx,
        spend.shop_id,
        "redpacket.returned",
        _payload(packet, order_id=spend.order_id, returned_fen=amount, returned_to=where),
        rule="R3",
    )


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
                f"红包 {packet.id} 尚未过期（有效期至 {_local(ctx, packet.expires_at)}），"
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
    _log(ctx, packet, "reclaim", amount, "R5", "回收，剩余金额退回商家账户余额")
    notify.emit(
        ctx, shop_id, "redpacket.reclaimed", _payload(packet, reclaimed_fen=amount), rule="R5"
    )
    return packet


# ----- R6 extension ------------------------------------------------------------------------


def extend(ctx: Ctx, shop_id: int, packet_id: int, extension_seconds: int) -> RedPacket:
    """R6 延长有效期 (确认修改): see the module docstring for the rules and the new end."""
    session = ctx.session
    rules = ctx.settings.redpackets
    _expire_if_due(ctx, shop_id, packet_id)
    packet = get_packet(session, shop_id, packet_id)
    if packet.status == PacketStatus.RECLAIMED:
        raise Conflict(
            "already_reclaimed",
            f"红包 {packet.id} 已回收，不能延长有效期",
            f"Red packet {packet.id} was reclaimed; it cannot be extended",
            rule="R6",
        )
    if isinstance(extension_seconds, bool) or extension_seconds < 1:
        raise ValidationFailed(
            "invalid_extension",
            "延长时长须大于0",
            "The extension must be positive",
            field="extension_seconds",
            rule="R6",
        )
    if extension_seconds > packet.validity_seconds:
        raise ValidationFailed(
            "extension_too_long",
            f"延长时长 {duration_label(extension_seconds)} 不能超过原有效期时长 "
            f"{duration_label(packet.validity_seconds)}",
            f"The extension ({extension_seconds} s) may not exceed the original validity "
            f"({packet.validity_seconds} s)",
            field="extension_seconds",
            rule="R6",
        )
    if _at_limit(packet, rules):  # before "not expiring yet" (S9)
        raise _limit_reached(packet, rules)
    _check_expired_or_expiring(packet, ctx.now, ctx.settings)
    new_end = max(packet.expires_at, ctx.now) + timedelta(seconds=extension_seconds)
    _check_validity_after(ctx, packet, new_end)
    percent = rules.extension_min_remaining_percent
    minimum = percent_of(packet.amount_fen, percent)
    if packet.remaining_fen < minimum:
        raise _remaining_too_low(packet.remaining_fen, packet.amount_fen, percent, minimum)
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
        raise _lost_extension(get_packet(session, shop_id, packet_id), rules, minimum)
    old_end = packet.expires_at
    packet = get_packet(session, shop_id, packet_id)
    note = f"有效期由 {_local(ctx, old_end)} 延长至 {_local(ctx, new_end)}"
    _log(ctx, packet, "extend", 0, "R6", note)
    shop = accounts.get_shop(session, shop_id)
    notify.message_buyer(
        ctx,
        buyer_id=packet.buyer_id,
        shop_id=shop_id,
        kind="text",
        title=f"「{shop.name}」的店铺红包有效期已延长",
        body=f"您的红包剩余 {yuan_label(packet.remaining_fen)}，有效期延长至 "
        f"{_local(ctx, new_end)}，请在有效期内使用。",
        payload={"redpacket_id": packet.id, "expires_at": new_end.isoformat()},
        rule="R6",
    )
    notify.emit(
        ctx,
        shop_id,
        "redpacket.extended",
        _payload(
            packet,
            previous_expires_at=old_end.isoformat(),
            extension_seconds=extension_seconds,
            buyer_notified=True,
        ),
        rule="R6",
    )
    return packet


def _lost_extension(fresh: RedPacket, rules: RedPacketRules, minimum: int) -> Conflict:
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
    if _at_limit(fresh, rules):
        return _limit_reached(fresh, rules)
    if fresh.remaining_fen < minimum:
        percent = rules.extension_min_remaining_percent
        return _remaining_too_low(fresh.remaining_fen, fresh.amount_fen, percent, minimum)
    return Conflict(
        "concurrent_change", "红包刚刚发生变动，请刷新后重试", "Changed meanwhile; retry"
    )


def _at_limit(packet: RedPacket, rules: RedPacketRules) -> bool:
    """R6: ``max_extensions`` unset (the default, F7) means no limit on the count."""
    return rules.max_extensions is not None and packet.extension_count >= rules.max_extensions


def _limit_reached(packet: RedPacket, rules: RedPacketRules) -> Conflict:
    return Conflict(
        "extension_limit",
        f"红包 {packet.id} 已延长过 {packet.extension_count} 次，每个红包最多延长 "
        f"{rules.max_extensions} 次",
        f"Red packet {packet.id} was already extended {packet.extension_count} time(s); "
        f"at most {rules.max_extensions}",
        rule="R6",
    )


def extension_allowed_seconds(packet: RedPacket, now: datetime) -> int:
    """R6 (F7): the longest extension now — the original length less the time still left."""
    left = max(0, int((packet.expires_at - now).total_seconds()))
    return max(0, packet.validity_seconds - left)


def _check_validity_after(ctx: Ctx, packet: RedPacket, new_end: datetime) -> None:
    """R6, the seed's second half (F7): "延长后的有效期不能超过3天" — the validity left after
    extending (new end − now) may not exceed the packet's original validity length. A packet
    with 20 h left of a 3-day validity can gain at most 2 days 4 hours."""
    limit = packet.validity_seconds
    after = int((new_end - ctx.now).total_seconds())
    if after <= limit:
        return
    allowed = extension_allowed_seconds(packet, ctx.now)
    most = f"本次最多可延长 {duration_label(allowed)}" if allowed else "已不能再延长"
    raise ValidationFailed(
        "validity_after_extension_too_long",
        f"延长后的有效期（至 {_local(ctx, new_end)}，还剩 {duration_label(after)}）不能超过"
        f"原有效期时长 {duration_label(limit)}；{most}",
        f"After the extension the packet would be valid for {after} s more (until "
        f"{new_end:%Y-%m-%d %H:%M} UTC), longer than its original validity ({limit} s); "
        f"at most {allowed} s can be added now",
        field="extension_seconds",
        rule="R6",
    )


def _remaining_too_low(remaining: int, amount: int, percent: int, minimum: int) -> Conflict:
    return Conflict(
        "remaining_too_low",
        f"剩余金额 {yuan_label(remaining)} 低于原金额 {yuan_label(amount)} 的 {percent}%"
        f"（{yuan_label(minimum)}），不能延长",
        f"Remaining {yuan_label(remaining)} is below {percent}% of the original "
        f"{yuan_label(amount)} ({yuan_label(minimum)}); the packet cannot be extended",
        rule="R6",
    )


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


def _check_expired_or_expiring(packet: RedPacket, now: datetime, settings: Settings) -> None:
    """R6: only an expired or about-to-expire packet (即将过期: ending within
    ``expiring_soon_hours``, the same window as the R8 status) may be extended."""
    soon = now + timedelta(hours=settings.redpackets.expiring_soon_hours)
    if packet.status == PacketStatus.ACTIVE and packet.expires_at > soon:
        hours = settings.redpackets.expiring_soon_hours
        local_end = to_local(packet.expires_at, settings.timezone)
        raise Conflict(
            "not_expiring_yet",
            f"红包 {packet.id} 有效期至 {local_end:%Y-%m-%d %H:%M},"
            f"只有已过期或 {hours} 小时内即将过期的红包可以延长有效期",
            f"Red packet {packet.id} is valid until {packet.expires_at:%Y-%m-%d %H:%M} UTC; "
            f"only an expired packet or one expiring within {hours} h can be extended",
            rule="R6",
        )


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


# ----- helpers -----------------------------------------------------------------------------


def _check_status(status: str) -> None:
    if status not in DISPLAY_LABELS:
        raise ValidationFailed(
            "invalid_status",
            f"状态须为 {'、'.join(DISPLAY_LABELS.values())} 之一",
            f"status must be one of {', '.join(DISPLAY_LABELS)}",
            field="status",
        )


def _payload(packet: RedPacket, **extra: Any) -> dict[str, Any]:
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


def _log_row(
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


def _log(
    ctx: Ctx,
    packet: RedPacket,
    kind: str,
    amount: int,
    rule: str,
    note: str,
    order_id: int | None = None,
) -> None:
    _log_many(ctx, [_log_row(ctx, packet, kind, amount, rule, note, order_id)])


def _log_many(ctx: Ctx, rows: list[dict[str, Any]]) -> None:
    if rows:
        ctx.session.execute(insert(RedPacketLog), rows)


def _local(ctx: Ctx, when: datetime) -> str:
    return to_local(when, ctx.settings.timezone).strftime("%Y-%m-%d %H:%M:%S")


def duration_label(seconds: int) -> str:
    days, rest = divmod(seconds, DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else ""]
    parts += [f"{minutes}分" if minutes else "", f"{secs}秒" if secs else ""]
    return "".join(parts) or "0秒"

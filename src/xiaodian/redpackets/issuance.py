"""Red-packet issuance 发放 (SPEC §1, R1/R2; issue 15 M3: its own SPEC section).

* R1 issuance is a *batch* (one buyer is a batch of one): one ledger transaction
  BALANCE → REDPACKET_FLOAT for the batch total, key ``redpacket-issue:<batch id>``. Rows that
  name an unknown buyer (or repeat a buyer already in the batch) are per-row errors and are
  not issued; the other rows are. Too little balance for the valid rows refuses the whole
  batch, stating the numbers. A client ``request_id`` makes a retried issuance answer with
  the first result.
* R2 validity: ``validity_seconds`` is chosen at issuance (default 3 days); the packet is
  valid iff ``now < expires_at`` (exclusive end: at ``issued_at + validity`` it is expired).
* R7: the merchant chooses the reminder at issuance (F7): on or off, and the lead time,
  preset from the shop's default (default 24 h).

``service.py`` re-exports ``issue`` and its helpers: callers import them from there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.context import Ctx
from xiaodian.errors import InsufficientFunds, ValidationFailed
from xiaodian.errors import field_error as _field
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.notify.service import NewEvent
from xiaodian.redpackets.models import (
    PacketStatus,
    RedPacket,
    RedPacketBatch,
)
from xiaodian.redpackets.records import (
    MAX_LEAD_HOURS,
    local_time,
    log_many,
    log_row,
    packet_payload,
    shop_remind_lead_hours,
)
from xiaodian.redpackets.rules import DAY

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
    knobs = ctx.settings.redpackets
    session = ctx.session
    if validity_seconds is None:
        validity_seconds = knobs.validity_days * DAY
    errors = []
    if isinstance(amount_fen, bool) or not 1 <= amount_fen <= knobs.max_amount_fen:
        errors.append(
            _field(
                "amount_fen",
                f"红包金额须在 ¥0.01 到 {yuan_label(knobs.max_amount_fen)} 之间",
                f"Amount must be between 0.01 and {yuan_label(knobs.max_amount_fen)}",
            )
        )
    if not 1 <= validity_seconds <= knobs.max_validity_days * DAY:
        errors.append(
            _field(
                "validity_seconds",
                f"有效期须在1秒到{knobs.max_validity_days}天之间",
                f"Validity must be between 1 second and {knobs.max_validity_days} days",
            )
        )
    if not buyer_douyin_ids:
        errors.append(_field("buyer_douyin_ids", "请填写买家抖音号", "List at least one buyer"))
    if len(buyer_douyin_ids) > knobs.max_batch_rows:
        errors.append(
            _field(
                "buyer_douyin_ids",
                f"一次最多发放 {knobs.max_batch_rows} 个买家",
                f"At most {knobs.max_batch_rows} buyers per batch",
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
    log_many(
        ctx,
        [
            log_row(
                ctx, p, "issue", p.amount_fen, "R1", f"发放，有效期至 {local_time(ctx, expires_at)}"
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
                "body": f"下单时可抵扣，有效期至 {local_time(ctx, expires_at)}，过期作废。",
                "payload": {"redpacket_id": p.id, "amount_fen": amount_fen},
                "rule": "R1",
            }
            for p in packets
        ],
    )
    notify.emit_many(
        ctx,
        [
            NewEvent(shop_id, "redpacket.issued", packet_payload(p, batch_id=batch.id), "R1")
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

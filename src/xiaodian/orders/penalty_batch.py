"""O8 penalty batch: the writes after the decisions, set-based (W1, issue 18).

``orders.sweeps.deduct_penalties`` has the caps of a penalty day decided
(``orders.rules.decide_penalties``, pure) and writes the statuses by key. What it does
beyond that is here, in a few statements whatever the number of shops and judgments:

* ``post_deductions``: ONE ledger transaction per shop, DEPOSIT → PLATFORM_PENALTY, for the
  sum of the shop's deducted judgments, keyed ``late-penalty:<shop>:<YYYY-MM-DD>`` — all shops
  by ``ledger.post_many`` (the keys already taken read in one query);
* ``announce``: a webhook event per decided judgment, its payload built by the database from
  the judgment and its order (``notify.emit_selected``, one ``INSERT … SELECT``), and one
  in-site notice per shop (one executemany).

Before (issue 18 W1, 20,000 judgments of 40 shops): 40 ``ledger.move`` of ≈ 10 statements
each, and 20,000 payloads built in Python and sent back to the database as JSON.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, tuple_

from xiaodian.clock import to_local
from xiaodian.context import Ctx
from xiaodian.db import is_postgres
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerTxn
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.orders.models import PenaltyStatus

EVENT_TYPES = ("order.penalty_deducted", "order.penalty_waived")


class Judgment(Protocol):
    """What the batch needs of a deducted judgment."""

    @property
    def id(self) -> int: ...

    @property
    def penalty_fen(self) -> int: ...


def day_key(shop_id: int, label: str) -> str:
    return f"late-penalty:{shop_id}:{label}"


def post_deductions(
    ctx: Ctx, label: str, deducted_by_shop: Mapping[int, Sequence[Judgment]]
) -> dict[int, int]:
    """Post each shop's deductions of the day ``label`` (``YYYY-MM-DD``) as one ledger
    transaction; returns the transaction id per shop. A judgment committed after its day's
    batch had run (a worker racing midnight) is deducted in a transaction of its own, keyed
    by its first judgment (``late-penalty:<shop>:<day>:<first id>``), instead of being
    refused as a reuse of the day's key."""
    shops = sorted(shop for shop, rows in deducted_by_shop.items() if rows)
    if not shops:
        return {}
    taken = set(
        ctx.session.scalars(
            select(LedgerTxn.shop_id).where(
                tuple_(LedgerTxn.shop_id, LedgerTxn.idempotency_key).in_(
                    [(shop, day_key(shop, label)) for shop in shops]
                )
            )
        )
    )
    movements = []
    for shop in shops:
        rows = deducted_by_shop[shop]
        first_id = min(p.id for p in rows)
        amount = sum(p.penalty_fen for p in rows)
        key = day_key(shop, label)
        movements.append(
            ledger.Movement(
                shop_id=shop,
                key=key if shop not in taken else f"{key}:{first_id}",
                kind="late_shipment_penalty",
                legs=(
                    ledger.Leg(Account.DEPOSIT, -amount),
                    ledger.Leg(Account.PLATFORM_PENALTY, amount),
                ),
                rule="O8",
                memo=f"发货超时扣除保证金：{len(rows)} 次判定（{label} 统一扣款）",
                ref_type="order_violation",
                ref_id=first_id,
            )
        )
    posted = ledger.post_many(ctx, movements)
    return {m.shop_id: p.txn.id for m, p in zip(movements, posted, strict=True)}


_PAYLOAD_FIELDS = (
    "'violation_id', v.id, 'order_id', v.order_id, 'order_no', coalesce(o.order_no, ''),"
    " 'seq', v.seq,"
    " 'amount_fen', CASE WHEN v.penalty_status = 'deducted' THEN v.penalty_fen ELSE 0 END,"
    " 'status', v.penalty_status, 'ledger_txn_id', v.ledger_txn_id, 'penalty_day', {day}"
)
_EVENTS = """
SELECT v.shop_id AS shop_id,
       CASE WHEN v.penalty_status = 'deducted' THEN 'order.penalty_deducted'
            ELSE 'order.penalty_waived' END AS type,
       {json_object}({fields}) AS payload,
       'O8' AS rule
FROM order_violations v LEFT JOIN orders o ON o.id = v.order_id
WHERE {among}
ORDER BY v.shop_id, v.id
"""


def _events_source(postgres: bool) -> str:
    if postgres:
        return _EVENTS.format(
            json_object="json_build_object",
            fields=_PAYLOAD_FIELDS.format(day="CAST(:penalty_day AS text)"),
            among="v.id = ANY(CAST(:ids AS bigint[]))",
        )
    return _EVENTS.format(
        json_object="json_object",
        fields=_PAYLOAD_FIELDS.format(day=":penalty_day"),
        among="v.id IN (SELECT value FROM json_each(:ids))",
    )


def _array_text(ids: Sequence[int]) -> str:
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def announce(ctx: Ctx, decided: Sequence[Any]) -> None:
    """A webhook event per decided judgment (``order.penalty_deducted`` / ``_waived``, with
    the judgment, its order number, the amount and the ledger transaction); one in-site
    notice per shop summing the day. ``decided``: the batch's decided judgments (``id``,
    ``shop_id``, ``penalty_status``, ``penalty_fen``, ``penalty_day``), their statuses and
    ledger transactions already written."""
    if not decided:
        return
    rules, now = ctx.settings.orders, ctx.now
    per_day: dict[datetime, list[int]] = defaultdict(list)
    per_shop: dict[int, dict[str, int]] = defaultdict(lambda: {"n": 0, "fen": 0, "waived": 0})
    for v in decided:
        per_day[v.penalty_day].append(v.id)
        summary = per_shop[v.shop_id]
        if v.penalty_status == PenaltyStatus.DEDUCTED:
            summary["n"] += 1
            summary["fen"] += v.penalty_fen
        else:
            summary["waived"] += 1
    postgres = is_postgres(ctx.session)
    source = _events_source(postgres)
    for day in sorted(per_day):
        ids = sorted(per_day[day])
        notify.emit_selected(
            ctx,
            source,
            # One text parameter either way: psycopg dumps a Python list element by element
            # (0.1 s per 5,000 ids under cProfile); PostgreSQL parses ``{1,2,…}`` itself.
            {
                "ids": _array_text(ids) if postgres else json.dumps(ids),
                "penalty_day": day.isoformat(),
            },
            EVENT_TYPES,
        )
    local_day = f"{to_local(now, ctx.settings.timezone):%Y-%m-%d}"
    cap = yuan_label(rules.shop_daily_cap_fen)
    notify.notice_many(
        ctx,
        [
            {
                "shop_id": shop_id,
                "category": "funds",
                "rule": "O8",
                "title": f"保证金扣款：发货超时 {s['n']} 笔，共 {yuan_label(s['fen'])}",
                "body": (
                    f"{local_day} 统一扣款：扣除保证金 {s['n']} 笔共 {yuan_label(s['fen'])};"
                    f"{s['waived']} 笔因单笔订单扣款2次或店铺单日 {cap} 上限不予扣除。"
                ),
                "link": "/console/orders/violations",
            }
            for shop_id, s in sorted(per_shop.items())
        ],
    )

"""Order decisions (issue 15 M2): deadlines, refusals and the O8 penalty caps, as functions of
their inputs. Nothing here reads or writes the database: ``service.py`` looks things up, asks
these functions and writes; ``sweeps.py`` runs the set-based SQL of the time-driven rules and
asks them for the instants and caps. Product decisions (U1 在售/下架/封禁) are in
``product_rules.py``.

* **O4 ship-by**: the order ships within the longest promise of its products (a product's own
  ``ship_within_hours``, else the shop default) from payment — ``ship_hours`` / ``ship_by``;
  a paid order and a lucky-bag prize order (L2) both start their clock here.
* **O6/O7 judgment instants**: a judgment's penalty falls on the next local calendar day
  (``next_local_day``); a re-judgment is due ``rejudge_after_hours`` after the last one.
* **O8 caps**: ``decide_penalties`` decides each pending judgment of a penalty day (at most 2
  deductions per order, at most 500 yuan per shop and day); an order judged the maximum times
  flags the shop for review (``needs_review``).
* **O3/A6 refusals**: whether an order may ship (``ship_refusal``) and whether a refund amount
  is acceptable (``refund_amount_refusal``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from xiaodian.clock import local_day_start
from xiaodian.errors import Conflict, ValidationFailed, XiaodianError
from xiaodian.money import yuan_label
from xiaodian.orders.models import STATUS_LABELS, AfterSale, OrderStatus, PenaltyStatus

# ----- O4 ship-by --------------------------------------------------------------------------


class _Promise(Protocol):
    @property
    def ship_within_hours(self) -> int | None: ...


def effective_ship_hours(product: _Promise, default_hours: int) -> int:
    """O4: the product's promise (pre-sale), else the default (48 h after payment)."""
    return product.ship_within_hours or default_hours


def ship_hours(products: Iterable[_Promise], default_hours: int) -> int:
    """O4: an order ships within the longest promise among its products."""
    return max(effective_ship_hours(product, default_hours) for product in products)


def ship_by(paid_at: datetime, hours: int) -> datetime:
    """O4: the ship-by instant of an order paid at ``paid_at`` (also its first judgment)."""
    return paid_at + timedelta(hours=hours)


def auto_close_at(created_at: datetime, auto_close_days: int) -> datetime:
    """O5: an order neither shipped nor refunded closes this long after it was placed."""
    return created_at + timedelta(days=auto_close_days)


# ----- O3 shipping, A6 refunds -------------------------------------------------------------


class _Shippable(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def after_sale(self) -> str: ...


def ship_refusal(order: _Shippable) -> XiaodianError | None:
    """O3: only an order awaiting shipment ships, and not once a refund was agreed."""
    if order.status != OrderStatus.AWAITING_SHIPMENT:
        return Conflict(
            "not_shippable",
            f"订单状态为{STATUS_LABELS[order.status]}，不能发货",
            f"Order is {order.status}; only awaiting_shipment can ship",
            rule="O3",
        )
    if order.after_sale in (AfterSale.REFUND_AGREED, AfterSale.REFUNDED):
        return Conflict(
            "refund_agreed",
            "订单已同意退款，不能发货",
            "A refund was agreed for this order; it cannot ship",
            rule="O3",
        )
    return None


def refund_amount_refusal(
    paid_at: datetime | None, refundable_fen: int, amount_fen: int, rule: str | None
) -> XiaodianError | None:
    """O5/A6: a refund is of a paid order, more than 0 and at most what is left to refund."""
    if paid_at is None or amount_fen <= 0 or amount_fen > refundable_fen:
        return ValidationFailed(
            "invalid_refund_amount",
            f"退款金额须在 ¥0.01 到 {yuan_label(refundable_fen)} 之间",
            f"Refund must be between 0.01 and {yuan_label(refundable_fen)}",
            field="amount_fen",
            rule=rule,
        )
    return None


# ----- O6/O7 judgment instants, O8 review --------------------------------------------------


def next_local_day(when: datetime, tz: str) -> datetime:
    """Start (UTC) of the calendar day in ``tz`` after the one containing ``when``: the O8
    penalty day of a judgment made at ``when``."""
    return local_day_start(local_day_start(when, tz) + timedelta(hours=36), tz)


def rejudge_at(judged_at: datetime, rejudge_after_hours: int) -> datetime:
    """O7: the next deadline of an order still unshipped, counted from its judgment."""
    return judged_at + timedelta(hours=rejudge_after_hours)


def needs_review(judgments: int, max_judgments: int) -> bool:
    """O8: an order judged the maximum times, still unresolved, flags its shop for review."""
    return judgments >= max_judgments


def review_reason(order_no: str, judgments: int) -> str:
    return f"订单 {order_no} 已被判定发货超时{judgments}次仍未发货或协商退款"


# ----- O8 penalty caps ---------------------------------------------------------------------


@dataclass(frozen=True)
class PendingPenalty:
    """A judgment whose deposit penalty is still to be decided (O8)."""

    id: int
    shop_id: int
    order_id: int
    seq: int
    judged_at: datetime
    penalty_fen: int


@dataclass(frozen=True)
class DecidedPenalty:
    id: int
    shop_id: int
    order_id: int
    seq: int
    penalty_fen: int
    penalty_status: str
    penalty_day: datetime
    ledger_txn_id: int | None = None
    order_no: str = ""


def decide_penalties(
    pending: Sequence[PendingPenalty],
    deducted_per_order: Mapping[int, int],
    deducted_fen_per_shop: Mapping[int, int],
    *,
    max_deductions_per_order: int,
    shop_daily_cap_fen: int,
) -> dict[int, str]:
    """O8 caps for one penalty day, decided without the database (W1). ``pending``: the
    day's pending judgments; ``deducted_per_order``: deductions each order already had;
    ``deducted_fen_per_shop``: what the day already deducted per shop. Returns the status of
    every pending judgment, by id:

    * one order at most 2 deductions — a judgment is waived when the order's deductions so
      far plus its rank among the order's pending judgments (oldest first, then seq) exceed
      the cap (decided first, like a judgment that could never be deducted);
    * a shop at most 500 yuan a day — the others are deducted while the shop's running total
      (what the day already deducted, plus each judgment oldest first, then by order, seq
      and id) stays within the cap; the rest are waived, nothing carried over."""
    decisions: dict[int, str] = {}
    rank: dict[int, int] = defaultdict(int)
    for p in sorted(pending, key=lambda p: (p.order_id, p.judged_at, p.seq, p.id)):
        rank[p.order_id] += 1
        if deducted_per_order.get(p.order_id, 0) + rank[p.order_id] > max_deductions_per_order:
            decisions[p.id] = PenaltyStatus.WAIVED_ORDER_CAP
    running: dict[int, int] = defaultdict(int)
    for p in sorted(pending, key=lambda p: (p.shop_id, p.judged_at, p.order_id, p.seq, p.id)):
        if p.id in decisions:
            continue
        running[p.shop_id] += p.penalty_fen
        within = deducted_fen_per_shop.get(p.shop_id, 0) + running[p.shop_id]
        over = within > shop_daily_cap_fen
        decisions[p.id] = PenaltyStatus.WAIVED_SHOP_CAP if over else PenaltyStatus.DEDUCTED
    return decisions

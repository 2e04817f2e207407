"""After-sales decisions (issue 15 M2): which request an order admits, the merchant's
deadline, when a failed refund is retried and what each 售后小助手 strategy decides, as
functions of their inputs. Nothing here reads or writes the database: ``service.py`` (and
``refunds.py``, ``strategies.py``) look things up, ask these functions and write;
``sweeps.py`` claims due requests set-based.

* **A1** an order admits a request of a kind (``kind_refusal``): it is paid and not closed;
  unshipped → 未发货仅退款 only, shipped → 已发货仅退款 or 退货退款.
* **A3** a pending 已发货仅退款 request is refunded by default ``merchant_sla_hours`` after it was
  applied for (``merchant_deadline``); the other kinds have no deadline.
* **A6** a failed refund is retried ``refund_retry_seconds`` later, up to
  ``refund_max_attempts`` attempts; then the merchant decides (``refund_retry_at``).
* **A2** strategies, in their order: 小金额 (``small_amount_verdict``), 快递拦截
  (``interception_verdict``), 拒签后退款 (``refusal_verdict``); ERP取消发货 reads the packages the
  ERP cancelled (``erp_cancel_verdict``). Each answers (fired, reason) for the history.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from xiaodian.aftersales.models import MOVING, RequestKind
from xiaodian.config import AfterSalesRules
from xiaodian.errors import Conflict
from xiaodian.money import yuan_label
from xiaodian.orders.models import OrderStatus

# ----- A1 which request an order admits ----------------------------------------------------


class _Order(Protocol):
    @property
    def paid_at(self) -> datetime | None: ...

    @property
    def status(self) -> str: ...


def kind_refusal(order: _Order, kind: str) -> Conflict | None:
    """A1: a request of ``kind`` on ``order`` is refused when the order is unpaid or closed,
    or when the kind does not match whether it shipped."""
    if order.paid_at is None or order.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.CLOSED):
        return Conflict(
            "order_not_refundable",
            "订单未支付或已关闭，不能申请售后",
            "The order is unpaid or closed; no after-sale",
            rule="A1",
        )
    shipped = order.status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED)
    if kind == RequestKind.UNSHIPPED_REFUND and shipped:
        return Conflict(
            "order_already_shipped",
            "订单已发货，请申请已发货仅退款或退货退款",
            "The order has shipped; apply for shipped_refund or return_refund",
            rule="A1",
        )
    if kind != RequestKind.UNSHIPPED_REFUND and not shipped:
        return Conflict(
            "order_not_shipped",
            "订单未发货，请申请未发货仅退款",
            "The order has not shipped; apply for unshipped_refund",
            rule="A1",
        )
    return None


# ----- A3 the merchant's deadline, A6 refund retries ---------------------------------------


def merchant_deadline(kind: str, now: datetime, merchant_sla_hours: int) -> datetime | None:
    """A3: a 已发货仅退款 request applied for (or returned to the merchant) at ``now`` is
    refunded by default at this instant unless the merchant acts; other kinds wait."""
    if kind != RequestKind.SHIPPED_REFUND:
        return None
    return now + timedelta(hours=merchant_sla_hours)


def refund_retry_at(attempts: int, now: datetime, rules: AfterSalesRules) -> datetime | None:
    """A6: when the refund that failed for the ``attempts``-th time is tried again; None once
    the automatic attempts are used up (the merchant is told and may agree again)."""
    if attempts < rules.refund_max_attempts:
        return now + timedelta(seconds=rules.refund_retry_seconds)
    return None


def refund_reference(request_id: int, amount_fen: int) -> str:
    """A6: one provider reference per request and amount — a retry after a provider timeout
    is the same refund to the provider (a modified amount is a new one)."""
    return f"aftersale-refund:{request_id}:{amount_fen}"


# ----- A2 strategies -----------------------------------------------------------------------


class _Package(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def tracking_no(self) -> str: ...

    @property
    def interception(self) -> str | None: ...


def covers_exactly(
    wanted: Mapping[int, int], covered: Sequence[int], content: Mapping[int, int]
) -> bool:
    """A2.3: the request covers exactly one package (``covered`` ids) and every item in it at
    full quantity (``content``: order item → qty of that package; ``wanted``: the request's)."""
    return len(covered) == 1 and dict(content) == dict(wanted)


def erp_cancel_verdict(
    packages: Sequence[_Package], cancelled: Collection[int]
) -> tuple[bool, str]:
    """A2.1 ERP取消发货自动退 (seed 003): only when the ERP cancelled the shipment of every
    package holding the request's items — then the goods never left."""
    if not packages:
        return False, "售后单未涉及任何包裹"
    left = [p.tracking_no for p in packages if p.id not in cancelled]
    if left:
        return False, f"包裹 {'、'.join(left)} 未被ERP取消发货"
    return True, f"ERP已取消发货（售后单涉及的 {len(packages)} 个包裹）"


def small_amount_verdict(amount_fen: int, threshold_fen: int) -> tuple[bool, str]:
    """A2.2 小金额自动同意退款: an amount equal to the threshold agrees, one fen above does not."""
    fired = amount_fen <= threshold_fen
    sign = "≤" if fired else ">"
    return fired, f"退款金额 {yuan_label(amount_fen)} {sign} 阈值 {yuan_label(threshold_fen)}"


def interception_verdict(
    *,
    buyer_verified: bool,
    packages: Sequence[_Package],
    exact: bool,
    balance_fen: int,
    fee_fen: int,
) -> tuple[bool, str]:
    """A2.3 快递拦截自动退: a platform-verified buyer, one package holding only the request's
    items, still moving and not intercepted yet, and a balance that covers the fee."""
    if not buyer_verified:
        return False, "买家未通过平台系统验证"
    if len(packages) != 1:
        return False, f"售后单涉及 {len(packages)} 个包裹"
    if not exact:
        return False, "包裹中并非全为退款商品"
    package = packages[0]
    if package.status not in MOVING or package.interception:
        return False, "包裹不可拦截（已签收/拒签/已拦截）"
    if balance_fen < fee_fen:
        return False, f"账户余额不足以支付拦截费用 {yuan_label(fee_fen)}"
    return True, "一个包裹且全为退款商品，发起拦截"


def refusal_verdict(packages: Sequence[_Package]) -> tuple[bool, str]:
    """A2.4 拒签后退款: every covered package is still on its way."""
    moving = bool(packages) and all(p.status in MOVING for p in packages)
    return moving, "包裹在途" if moving else "包裹已不在途（已签收/拒签/取消）"

"""Pure decisions of the buyer pages (issue 17, F8): no database, no clock.

* the CSRF value of a buyer page session, derived from its cookie token;
* where a sign-in may send the buyer back to (our buyer pages only);
* which after-sale kinds an order offers (A1, as the after-sales service will check them) and
  which buttons a request shows — the service still decides; a button only saves a refusal.
"""

from __future__ import annotations

import hashlib

from xiaodian.aftersales.models import RequestKind, RequestStatus
from xiaodian.orders.models import OrderStatus

PAGE_PREFIXES = ("/shop/", "/my/")
HOME = "/my/coupons"

# A5: the buyer may withdraw or modify while pending, and ask for a change after agreement.
CHANGEABLE = frozenset(
    {RequestStatus.PENDING, RequestStatus.AGREED_ON_REFUSAL, RequestStatus.AWAITING_RETURN}
)


def csrf_for(token: str) -> str:
    """The hidden form value of a buyer page session (sent back with every POST)."""
    return hashlib.sha256(b"xiaodian-buyer-csrf:" + token.encode()).hexdigest()


def safe_next(target: str | None) -> str:
    """Only our own buyer pages; anything else (another site, ``//host``) goes home."""
    if not target or not target.startswith(PAGE_PREFIXES) or target.startswith("//"):
        return HOME
    if any(c in target for c in "\\\r\n"):
        return HOME
    return target


def apply_kinds(order_status: str, paid: bool) -> list[str]:
    """A1: the kinds a buyer can apply for on this order."""
    if not paid or order_status in (OrderStatus.PENDING_PAYMENT, OrderStatus.CLOSED):
        return []
    if order_status == OrderStatus.AWAITING_SHIPMENT:
        return [RequestKind.UNSHIPPED_REFUND]
    return [RequestKind.SHIPPED_REFUND, RequestKind.RETURN_REFUND]


def can_change(status: str, change_pending: bool) -> bool:
    """A5: 撤销 / 修改 are offered (at once while pending, as a request after agreement)."""
    return status in CHANGEABLE and not change_pending


def can_ask_platform(status: str, asked: bool) -> bool:
    """F1: 申请平台介入 is offered on a rejected request not yet brought to the platform."""
    return status == RequestStatus.REJECTED and not asked

"""Logistics: the packages an order ships in, the carrier adapter and carrier events (A2).

* When orders ships an order (``order.shipped``), its first package holds every item; the
  merchant may split items into further packages (``split``), each with its own tracking no.
* ``Carrier`` is what after-sales calls (interception, cancel shipment). ``LocalCarrier`` ships
  with xiaodian: it records every call in ``aftersale_carrier_log`` and answers an
  interception ``interception_response_hours`` later (a sweep, on the simulated clock) —
  success unless the parcel has already left the carrier's hands or a test/demo told it to fail.
* Carrier events — in transit, out for delivery (派送中, F6), delivered, refused (拒签),
  returned, interception succeeded/failed — come in through ``carrier_event`` (the local
  carrier, the /sim controls, tests). Each one is logged and emitted as ``package.<event>``;
  the assistant's strategies react to them in ``subscribers.py``.
* A2.3: a successful interception costs the merchant the carrier's fee, moved from the
  merchant balance to platform fees once per package (idempotency key
  ``aftersale-interception-fee:<package id>``). A fee the balance cannot cover is marked
  待补缴 (``package.interception_fee_unpaid``) and collected by a sweep once the balance covers
  it (``package.interception_fee_collected``).
* Every package state change is a domain event (webhooks, X1), the first package included
  (``package.created``, rule A2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xiaodian.aftersales.models import (
    MOVING,
    PACKAGE_LABELS,
    CarrierCall,
    Package,
    PackageItem,
    PackageStatus,
)
from xiaodian.context import Ctx
from xiaodian.db import get_owned
from xiaodian.errors import Conflict, InsufficientFunds, ValidationFailed, field_error
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.carriers import find_carrier, normalize_tracking
from xiaodian.orders.models import OrderStatus

P = PackageStatus


# ----- the carrier adapter -----------------------------------------------------------------


@dataclass(frozen=True)
class CarrierReply:
    ok: bool
    reason: str = ""


class Carrier(Protocol):
    def request_interception(self, ctx: Ctx, package: Package) -> CarrierReply: ...

    def cancel_shipment(self, ctx: Ctx, package: Package) -> CarrierReply: ...


class LocalCarrier:
    """The carrier that ships with xiaodian: records every call; answers interceptions later."""

    def request_interception(self, ctx: Ctx, package: Package) -> CarrierReply:
        ok = package.status in MOVING
        reply = CarrierReply(ok, "" if ok else f"包裹状态为{PACKAGE_LABELS[package.status]}")
        if ok:
            hours = ctx.settings.aftersales.interception_response_hours
            package.interception_due_at = ctx.now + timedelta(hours=hours)
        log(ctx, package, "call", "request_interception", reply.ok, {"reason": reply.reason})
        return reply

    def cancel_shipment(self, ctx: Ctx, package: Package) -> CarrierReply:
        ok = package.status in MOVING
        reply = CarrierReply(ok, "" if ok else f"包裹状态为{PACKAGE_LABELS[package.status]}")
        log(ctx, package, "call", "cancel_shipment", reply.ok, {"reason": reply.reason})
        return reply

    def interception_outcome(self, package: Package) -> CarrierReply:
        if package.sim_interception_fails:
            return CarrierReply(False, "快递公司拦截失败（模拟）")
        if package.status not in MOVING:
            return CarrierReply(False, f"包裹已{PACKAGE_LABELS[package.status]}，无法拦截")
        return CarrierReply(True)


def carrier(ctx: Ctx) -> LocalCarrier:
    return LocalCarrier()


def log(
    ctx: Ctx, package: Package, direction: str, operation: str, ok: bool, details: dict[str, Any]
) -> None:
    ctx.session.add(
        CarrierCall(
            shop_id=package.shop_id,
            package_id=package.id,
            direction=direction,
            operation=operation,
            ok=ok,
            details=details,
            actor=ctx.actor,
            at=ctx.now,
        )
    )


# ----- packages ----------------------------------------------------------------------------


def packages_of(session: Session, shop_id: int, order_id: int) -> list[Package]:
    return list(
        session.scalars(
            select(Package)
            .where(Package.shop_id == shop_id, Package.order_id == order_id)
            .order_by(Package.seq)
        )
    )


def package_items(session: Session, shop_id: int, package_ids: list[int]) -> list[PackageItem]:
    if not package_ids:
        return []
    return list(
        session.scalars(
            select(PackageItem)
            .where(PackageItem.shop_id == shop_id, PackageItem.package_id.in_(package_ids))
            .order_by(PackageItem.id)
        )
    )


def erp_cancelled_ids(session: Session, shop_id: int, package_ids: list[int]) -> set[int]:
    """The packages whose shipment the carrier confirmed cancelled (A2.1) — by the carrier log,
    so a cancelled parcel that has since come back (已退回商家) still counts."""
    if not package_ids:
        return set()
    return set(
        session.scalars(
            select(CarrierCall.package_id).where(
                CarrierCall.shop_id == shop_id,
                CarrierCall.package_id.in_(package_ids),
                CarrierCall.operation == "cancel_shipment",
                CarrierCall.ok.is_(True),
            )
        )
    )


def get_package(session: Session, shop_id: int, package_id: int) -> Package:
    return get_owned(session, Package, shop_id, package_id, ("包裹", "Package"))


def carrier_log(session: Session, shop_id: int, package_id: int) -> list[CarrierCall]:
    return list(
        session.scalars(
            select(CarrierCall)
            .where(CarrierCall.shop_id == shop_id, CarrierCall.package_id == package_id)
            .order_by(CarrierCall.id)
        )
    )


def create_first_package(
    ctx: Ctx, shop_id: int, order_id: int, carrier_code: str, tracking_no: str
) -> Package | None:
    """``order.shipped``: the order's first package holds all its items (idempotent)."""
    if packages_of(ctx.session, shop_id, order_id):
        return None
    order = orders.get_order(ctx.session, shop_id, order_id)
    package = Package(
        shop_id=shop_id,
        order_id=order.id,
        seq=1,
        carrier=carrier_code,
        tracking_no=tracking_no,
        status=P.CREATED,
        interception="",
        interception_fail_reason="",
        sim_interception_fails=False,
        fee_fen=0,
        fee_status="",
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(package)
    ctx.session.flush()
    for item in orders.order_items(ctx.session, order):
        ctx.session.add(
            PackageItem(shop_id=shop_id, package_id=package.id, order_item_id=item.id, qty=item.qty)
        )
    ctx.session.flush()
    log(
        ctx,
        package,
        "event",
        "picked_up",
        True,
        {"carrier": carrier_code, "tracking_no": tracking_no},
    )
    notify.emit(ctx, shop_id, "package.created", _payload(package), rule="A2")
    return package


def split(
    ctx: Ctx,
    shop_id: int,
    order_id: int,
    *,
    carrier_code: str,
    tracking_no: str,
    items: list[tuple[int, int]],
) -> Package:
    """Move (order item, qty) pairs out of the order's not-yet-moving-on packages into a new
    package with its own carrier and tracking number (one order, several packages)."""
    order = orders.get_order(ctx.session, shop_id, order_id)
    found = find_carrier(carrier_code)
    tracking = normalize_tracking(tracking_no)
    errors = []
    if found is None:
        errors.append(
            field_error("carrier", f"不支持的快递公司：{carrier_code}", "Unknown carrier")
        )
    elif not found.pattern.match(tracking):
        errors.append(
            field_error(
                "tracking_no",
                f"{found.name}快递单号格式不正确（例如 {found.example}）",
                f"Invalid {found.code} tracking number",
            )
        )
    if not items or any(qty < 1 for _, qty in items):
        errors.append(field_error("items", "请选择要拆分的商品和数量", "Choose items and qty ≥ 1"))
    if errors:
        raise ValidationFailed("invalid_split", "拆分包裹信息有误", "Invalid split", errors=errors)
    assert found is not None
    if order.status not in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        raise Conflict("order_not_shipped", "订单未发货，不能拆分包裹", "The order has not shipped")
    existing = packages_of(ctx.session, shop_id, order_id)
    rows = package_items(ctx.session, shop_id, [p.id for p in existing if p.status in MOVING])
    new = Package(
        shop_id=shop_id,
        order_id=order_id,
        seq=max((p.seq for p in existing), default=0) + 1,
        carrier=found.code,
        tracking_no=tracking,
        status=P.CREATED,
        interception="",
        interception_fail_reason="",
        sim_interception_fails=False,
        fee_fen=0,
        fee_status="",
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(new)
    ctx.session.flush()
    for order_item_id, qty in items:
        left = qty
        for row in rows:
            if row.order_item_id == order_item_id and left > 0:
                take = min(row.qty, left)
                row.qty -= take
                left -= take
                if row.qty == 0:
                    ctx.session.delete(row)
        if left > 0:
            raise ValidationFailed(
                "invalid_split",
                f"商品 {order_item_id} 可拆分数量不足",
                f"Not enough of item {order_item_id} left to move",
                field="items",
            )
        ctx.session.add(
            PackageItem(shop_id=shop_id, package_id=new.id, order_item_id=order_item_id, qty=qty)
        )
    ctx.session.flush()
    emptied = [
        p
        for p in existing
        if p.status in MOVING and not package_items(ctx.session, shop_id, [p.id])
    ]
    if emptied:
        raise ValidationFailed(
            "invalid_split",
            "拆分后原包裹不能为空（请直接修改原包裹单号）",
            "A split must leave items in the original package",
            field="items",
        )
    log(
        ctx,
        new,
        "event",
        "picked_up",
        True,
        {"carrier": found.code, "tracking_no": tracking, "split": True},
    )
    notify.emit(ctx, shop_id, "package.created", _payload(new), rule="A2")
    return new


# ----- carrier events ----------------------------------------------------------------------

# event → (statuses it may follow, status after, event type)
EVENTS: dict[str, tuple[frozenset[str], str]] = {
    "in_transit": (frozenset({P.CREATED}), P.IN_TRANSIT),
    "out_for_delivery": (frozenset({P.CREATED, P.IN_TRANSIT}), P.OUT_FOR_DELIVERY),
    "delivered": (MOVING, P.DELIVERED),
    "refused": (MOVING, P.REFUSED),
    "returned": (frozenset({P.REFUSED, P.INTERCEPTED, P.CANCELLED}), P.RETURNED),
}
EVENT_LABELS = {
    "in_transit": "运输中",
    "out_for_delivery": "派送中",
    "delivered": "已签收",
    "refused": "买家拒签",
    "returned": "已退回商家",
    "intercept_succeeded": "拦截成功",
    "intercept_failed": "拦截失败",
}


def carrier_event(ctx: Ctx, shop_id: int, package_id: int, event: str, note: str = "") -> Package:
    """The carrier reports a tracking event; emitted as ``package.<event>``."""
    package = get_package(ctx.session, shop_id, package_id)
    if event in ("intercept_succeeded", "intercept_failed"):
        if package.interception != "requested":
            raise Conflict("no_interception", "该包裹没有进行中的拦截", "No interception requested")
        resolve_interception(ctx, package, event == "intercept_succeeded", note or "快递公司反馈")
        return package
    if event not in EVENTS:
        raise ValidationFailed(
            "unknown_carrier_event",
            f"未知物流事件 {event}",
            f"Unknown carrier event {event}; use one of {sorted([*EVENTS, *EVENT_LABELS])}",
            field="event",
        )
    allowed, to = EVENTS[event]
    if package.status not in allowed:
        raise Conflict(
            "bad_carrier_event",
            f"包裹状态为{PACKAGE_LABELS[package.status]}，不能变为{EVENT_LABELS[event]}",
            f"Package is {package.status}; cannot be {event}",
        )
    _set_status(ctx, package, to)
    log(ctx, package, "event", event, True, {"note": note})
    notify.emit(ctx, shop_id, f"package.{event}", _payload(package), rule="A2")
    return package


def request_interception(ctx: Ctx, package: Package, request_id: int | None) -> CarrierReply:
    """Ask the carrier to intercept (A2.3 or by hand); the answer comes later."""
    if package.interception in ("requested", "succeeded"):
        raise Conflict("interception_exists", "该包裹已发起拦截", "Interception already requested")
    reply = carrier(ctx).request_interception(ctx, package)
    if reply.ok:
        package.interception = "requested"
        package.interception_request_id = request_id
        package.interception_fail_reason = ""
        package.updated_at = ctx.now
        ctx.session.flush()
        notify.emit(
            ctx, package.shop_id, "package.interception_requested", _payload(package), rule="A2.3"
        )
    return reply


def record_offline_interception(
    ctx: Ctx, package: Package, request_id: int | None, note: str
) -> None:
    """A3.1 线下联系快递: the merchant intercepted the parcel by contacting the carrier itself
    and records it as done. The parcel is on its way back (拦截成功); no call goes to the
    carrier and no fee is charged here — the merchant settled it with the carrier offline."""
    if package.interception in ("requested", "succeeded", "offline"):
        raise Conflict("interception_exists", "该包裹已发起拦截", "Interception already requested")
    package.interception = "offline"
    package.interception_request_id = request_id
    package.interception_fail_reason = ""
    package.interception_due_at = None
    _set_status(ctx, package, P.INTERCEPTED)
    log(ctx, package, "event", "intercept_offline", True, {"note": note})
    notify.emit(ctx, package.shop_id, "package.intercepted_offline", _payload(package), rule="A3.1")


def resolve_interception(ctx: Ctx, package: Package, ok: bool, reason: str) -> None:
    """A2.3: the carrier answered. Success: the parcel returns to the merchant and the fee is
    charged to the merchant balance (once). Failure: recorded; the request stays pending."""
    package.interception_due_at = None
    package.updated_at = ctx.now
    if not ok:
        package.interception = "failed"
        package.interception_fail_reason = reason[:200]
        ctx.session.flush()
        log(ctx, package, "event", "intercept_failed", False, {"reason": reason})
        notify.emit(
            ctx,
            package.shop_id,
            "package.interception_failed",
            {**_payload(package), "reason": reason},
            rule="A2.3",
        )
        return
    package.interception = "succeeded"
    _set_status(ctx, package, P.INTERCEPTED)
    log(ctx, package, "event", "intercept_succeeded", True, {"reason": reason})
    charge_interception_fee(ctx, package)
    notify.emit(ctx, package.shop_id, "package.intercepted", _payload(package), rule="A2.3")


def charge_interception_fee(ctx: Ctx, package: Package, *, notify_unpaid: bool = True) -> None:
    """Charge the fee to the balance ledger, or mark it 待补缴 (unpaid) when the balance is
    short; ``collect_unpaid_fees`` retries those on later ticks."""
    fee = (
        package.fee_fen
        if package.fee_status == "unpaid"
        else ctx.settings.aftersales.interception_fee_fen
    )
    if fee <= 0 or package.fee_status == "charged":
        return
    try:
        posted = ledger.move(
            ctx,
            package.shop_id,
            source=Account.BALANCE,
            target=Account.PLATFORM_FEES,
            amount_fen=fee,
            key=f"aftersale-interception-fee:{package.id}",
            kind="interception_fee",
            rule="A2.3",
            memo=f"快递拦截费用（包裹 {package.tracking_no}）",
            ref_type="package",
            ref_id=package.id,
        )
    except InsufficientFunds:
        package.fee_fen, package.fee_status = fee, "unpaid"
        if not notify_unpaid:
            return
        ctx.session.flush()
        notify.emit(
            ctx, package.shop_id, "package.interception_fee_unpaid", _payload(package), rule="A2.3"
        )
        notify.notice(
            ctx,
            package.shop_id,
            category="aftersales",
            title="快递拦截费用扣款失败：账户余额不足",
            body=(
                f"包裹 {package.tracking_no} 拦截成功，拦截费用 {yuan_label(fee)} 待补缴；"
                "余额充足后将自动扣除。"
            ),
            link="/console/funds/balance",
            rule="A2.3",
        )
        return
    package.fee_fen, package.fee_status, package.fee_txn_id = fee, "charged", posted.txn.id


def collect_unpaid_fees(ctx: Ctx) -> dict[str, int]:
    """A2.3: interception fees that the balance could not cover (待补缴) are charged as soon
    as the shop's balance covers them; each through its idempotent ledger key, so a second
    worker or a second run never charges one twice."""
    fee_due = select(Package).where(Package.fee_status == "unpaid").order_by(Package.id)
    counts = {"collected": 0, "still_unpaid": 0}
    collected: list[notify.NewEvent] = []
    for package in ctx.session.scalars(fee_due.with_for_update(skip_locked=True)).all():
        charge_interception_fee(ctx, package, notify_unpaid=False)
        if package.fee_status != "charged":
            counts["still_unpaid"] += 1
            continue
        counts["collected"] += 1
        collected.append(
            notify.NewEvent(
                package.shop_id, "package.interception_fee_collected", _payload(package), "A2.3"
            )
        )
        notify.notice(
            ctx,
            package.shop_id,
            category="aftersales",
            title="快递拦截费用已补扣",
            body=(
                f"包裹 {package.tracking_no} 的拦截费用 {yuan_label(package.fee_fen)}"
                "已从账户余额扣除。"
            ),
            link="/console/funds/balance",
            rule="A2.3",
        )
    ctx.session.flush()
    notify.emit_many(ctx, collected)
    return counts


def cancel_shipment(ctx: Ctx, shop_id: int, order_id: int) -> list[Package]:
    """A2.1: the merchant's ERP cancels the order's shipment (every package still moving)."""
    order = orders.get_order(ctx.session, shop_id, order_id)
    moving = [p for p in packages_of(ctx.session, shop_id, order.id) if p.status in MOVING]
    if not moving:
        raise Conflict(
            "nothing_to_cancel",
            "订单没有可取消发货的包裹（已签收、拒签或已取消）",
            "No package of this order can be cancelled",
            rule="A2.1",
        )
    for package in moving:
        reply = carrier(ctx).cancel_shipment(ctx, package)
        if reply.ok:
            _set_status(ctx, package, P.CANCELLED)
    ctx.session.flush()
    notify.emit(
        ctx,
        shop_id,
        "package.shipment_cancelled",
        {"order_id": order.id, "package_ids": [p.id for p in moving]},
        rule="A2.1",
    )
    return moving


def set_interception_fault(ctx: Ctx, shop_id: int, package_id: int, fail: bool) -> Package:
    """Local carrier only (tests, demo): make this package's interception fail or succeed."""
    package = get_package(ctx.session, shop_id, package_id)
    package.sim_interception_fails = fail
    log(ctx, package, "call", "sim_interception_fault", True, {"fail": fail})
    return package


def resolve_due_interceptions(ctx: Ctx) -> dict[str, int]:
    """The local carrier answers the interceptions that are due (set-based claim first)."""
    claimed = ctx.session.execute(
        update(Package)
        .where(Package.interception_due_at <= ctx.now, Package.interception == "requested")
        .values(interception_due_at=None)
        .returning(Package.id)
        .execution_options(synchronize_session=False)
    ).all()
    counts = {"succeeded": 0, "failed": 0}
    local = LocalCarrier()
    for (package_id,) in claimed:
        package = ctx.session.get(Package, package_id)
        assert package is not None
        ctx.session.refresh(package)
        outcome = local.interception_outcome(package)
        resolve_interception(ctx, package, outcome.ok, outcome.reason or "快递公司反馈拦截成功")
        counts["succeeded" if outcome.ok else "failed"] += 1
    return counts


def next_interception_due(session: Session, now: object) -> Any:
    return session.scalar(
        select(func.min(Package.interception_due_at)).where(Package.interception == "requested")
    )


def _set_status(ctx: Ctx, package: Package, to: str) -> None:
    package.status = to
    package.updated_at = ctx.now
    ctx.session.flush()


def _payload(package: Package) -> dict[str, Any]:
    return {
        "package_id": package.id,
        "order_id": package.order_id,
        "seq": package.seq,
        "carrier": package.carrier,
        "tracking_no": package.tracking_no,
        "status": package.status,
        "interception": package.interception,
        "request_id": package.interception_request_id,
        "fee_fen": package.fee_fen,
        "fee_status": package.fee_status,
    }

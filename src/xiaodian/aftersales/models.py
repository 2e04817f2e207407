"""After-sales 售后 (SPEC §4, A1–A6): requests, their status history and evidence, the
after-sales assistant's strategies, and the packages an order ships in (logistics).

Deadlines the sweeps look for live on indexed columns that are cleared when the request is
resolved, so each sweep reads only due rows:

* ``AfterSaleRequest.due_at`` — A3: a pending 已发货仅退款 request is refunded by default when
  the merchant has not acted 48 h after the buyer applied (or last modified the request).
* ``Package.interception_due_at`` — A2.3: when the local carrier answers an interception.

States of a request (``RequestStatus``) — what the buyer and the merchant may do in each:

============================ ======================================================
pending 待商家处理            merchant: agree / reject / agree-on-refusal;
                             buyer: withdraw or modify freely (A5)
agreed_on_refusal 拒签后退款   the merchant (or strategy A2.4) agreed to refund once the buyer
                             refuses delivery; waits for logistics. Buyer: withdraw/modify
                             only as a *change request* the merchant approves (A5)
awaiting_return 待买家退货     退货退款 agreed; buyer sends the goods back (change request as
                             above)
buyer_returned 待商家收货      buyer shipped the return; merchant confirms receipt or rejects
agreed 已同意退款（退款中）      agreed; the refund is being paid (a failed refund stays here
                             and may be retried)
refunded 退款成功              terminal
rejected 已拒绝                terminal (buyer may apply again)
withdrawn 已撤销               terminal
============================ ======================================================
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.shard import TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk, tenant_unique


class RequestKind(StrEnum):
    UNSHIPPED_REFUND = "unshipped_refund"  # 未发货仅退款
    SHIPPED_REFUND = "shipped_refund"  # 已发货仅退款
    RETURN_REFUND = "return_refund"  # 退货退款


KIND_LABELS: dict[str, str] = {
    RequestKind.UNSHIPPED_REFUND: "未发货仅退款",
    RequestKind.SHIPPED_REFUND: "已发货仅退款",
    RequestKind.RETURN_REFUND: "退货退款",
}


class RequestStatus(StrEnum):
    PENDING = "pending"
    AGREED_ON_REFUSAL = "agreed_on_refusal"
    AWAITING_RETURN = "awaiting_return"
    BUYER_RETURNED = "buyer_returned"
    AGREED = "agreed"
    REFUNDED = "refunded"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"  # the order was closed and refunded in full without it (O5)


STATUS_LABELS: dict[str, str] = {
    RequestStatus.PENDING: "待商家处理",
    RequestStatus.AGREED_ON_REFUSAL: "已同意拒签后退款（待物流）",
    RequestStatus.AWAITING_RETURN: "待买家退货",
    RequestStatus.BUYER_RETURNED: "待商家收货",
    RequestStatus.AGREED: "已同意退款（退款中）",
    RequestStatus.REFUNDED: "退款成功",
    RequestStatus.REJECTED: "已拒绝",
    RequestStatus.WITHDRAWN: "已撤销",
    RequestStatus.CLOSED: "已关闭（订单已全额退款）",
}

OPEN_STATUSES: frozenset[str] = frozenset(
    {
        RequestStatus.PENDING,
        RequestStatus.AGREED_ON_REFUSAL,
        RequestStatus.AWAITING_RETURN,
        RequestStatus.BUYER_RETURNED,
        RequestStatus.AGREED,
    }
)


class AfterSaleRequest(Base):
    """One after-sale request 售后单 (A1)."""

    __tablename__ = "aftersale_requests"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("aftersale_requests", "order_id", "orders"),
        Index("ix_aftersale_requests_shop", "shop_id", "id"),
        Index("ix_aftersale_requests_shop_status", "shop_id", "kind", "status", "id"),
        Index("ix_aftersale_requests_shop_order", "shop_id", "order_id"),
        Index("ix_aftersale_requests_shop_applied", "shop_id", "applied_at"),
        Index("ix_aftersale_requests_due_at", "due_at"),
        Index("ix_aftersale_requests_refund_retry_at", "refund_retry_at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    order_id: Mapped[int] = mapped_column(BigId)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # [{"order_item_id": 1, "qty": 2}, ...]
    items: Mapped[list[dict[str, int]]] = mapped_column(JsonType)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_rule: Mapped[str | None] = mapped_column(String(8))
    decided_strategy: Mapped[str | None] = mapped_column(String(24))
    reject_reason: Mapped[str | None] = mapped_column(String(32))
    reject_note: Mapped[str] = mapped_column(String(500), default="")
    refund_id: Mapped[int | None] = mapped_column(BigInteger)
    refund_error: Mapped[str] = mapped_column(String(300), default="")
    # A6: an agreed refund that failed (provider no answer, refused by orders) is retried
    # by the sweep at this time; attempts so far (the merchant is asked after the maximum).
    refund_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    return_carrier: Mapped[str | None] = mapped_column(String(16))
    return_tracking_no: Mapped[str | None] = mapped_column(String(40))
    # A5: the buyer's pending withdraw/modify request after the merchant agreed.
    change_request: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class RequestHistory(Base):
    """Status history 售后记录: every action, with who did it and which rule/strategy."""

    __tablename__ = "aftersale_history"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("aftersale_history", "request_id", "aftersale_requests"),
        Index("ix_aftersale_history_request", "shop_id", "request_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    request_id: Mapped[int] = mapped_column(BigId)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    rule: Mapped[str | None] = mapped_column(String(8))
    strategy: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(48))
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Evidence(Base):
    """An uploaded evidence file 举证材料 (A1 buyer images, A4 merchant images/PDF).

    The bytes live under ``settings.aftersales.evidence_dir``; ``request_id`` is empty until a
    buyer's upload is attached to the request it supports."""

    __tablename__ = "aftersale_evidence"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("aftersale_evidence", "request_id", "aftersale_requests"),
        Index("ix_aftersale_evidence_shop_request", "shop_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    request_id: Mapped[int | None] = mapped_column(BigId)
    party: Mapped[str] = mapped_column(String(8))  # buyer | merchant
    uploaded_by: Mapped[str] = mapped_column(String(48))
    filename: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    used: Mapped[bool] = mapped_column(Boolean, default=False)  # cited by a rejection
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StrategyCode(StrEnum):
    ERP_CANCEL = "erp_cancel"  # A2.1 ERP取消发货自动退
    SMALL_AMOUNT = "small_amount"  # A2.2 小金额自动同意退款
    INTERCEPTION = "interception"  # A2.3 快递拦截自动退
    REFUSAL = "refusal"  # A2.4 拒签后退款


STRATEGY_LABELS: dict[str, str] = {
    StrategyCode.ERP_CANCEL: "已发货仅退款-ERP取消发货自动退",
    StrategyCode.SMALL_AMOUNT: "已发货仅退款-小金额自动同意退款",
    StrategyCode.INTERCEPTION: "已发货仅退款-快递拦截自动退",
    StrategyCode.REFUSAL: "已发货仅退款-拒签后退款",
}

STRATEGY_RULES: dict[str, str] = {
    StrategyCode.ERP_CANCEL: "A2.1",
    StrategyCode.SMALL_AMOUNT: "A2.2",
    StrategyCode.INTERCEPTION: "A2.3",
    StrategyCode.REFUSAL: "A2.4",
}


class Strategy(Base):
    """A strategy of the after-sales assistant 售后小助手 (A2), one row per shop and kind."""

    __tablename__ = "aftersale_strategies"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("shop_id", "code"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    code: Mapped[str] = mapped_column(String(24))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    threshold_fen: Mapped[int | None] = mapped_column(BigInteger)  # A2.2 only
    updated_by: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PackageStatus(StrEnum):
    CREATED = "created"  # 已揽收/待运输
    IN_TRANSIT = "in_transit"  # 运输中
    OUT_FOR_DELIVERY = "out_for_delivery"  # 派送中 (F6: the courier is bringing it)
    DELIVERED = "delivered"  # 已签收
    REFUSED = "refused"  # 拒签
    RETURNED = "returned"  # 已退回商家
    INTERCEPTED = "intercepted"  # 拦截成功（退回中）
    CANCELLED = "cancelled"  # ERP 取消发货


PACKAGE_LABELS: dict[str, str] = {
    PackageStatus.CREATED: "已揽收",
    PackageStatus.IN_TRANSIT: "运输中",
    PackageStatus.OUT_FOR_DELIVERY: "派送中",
    PackageStatus.DELIVERED: "已签收",
    PackageStatus.REFUSED: "买家拒签",
    PackageStatus.RETURNED: "已退回",
    PackageStatus.INTERCEPTED: "拦截成功",
    PackageStatus.CANCELLED: "已取消发货",
}

# A package still on its way to the buyer: it can be intercepted, refused, or cancelled.
MOVING: frozenset[str] = frozenset(
    {PackageStatus.CREATED, PackageStatus.IN_TRANSIT, PackageStatus.OUT_FOR_DELIVERY}
)

INTERCEPTION_LABELS: dict[str, str] = {
    "": "",
    "requested": "拦截中",
    "succeeded": "拦截成功",
    "failed": "拦截失败",
    "offline": "线下拦截成功",  # A3.1: the merchant contacted the carrier itself
}


class Package(Base):
    """A parcel 包裹 of an order: one order may ship in several packages."""

    __tablename__ = "aftersale_packages"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("aftersale_packages", "order_id", "orders"),
        *tenant_unique("order_id", "seq"),
        Index("ix_aftersale_packages_shop_order", "shop_id", "order_id"),
        Index("ix_aftersale_packages_interception_due", "interception_due_at"),
        Index("ix_aftersale_packages_fee_status", "fee_status"),  # finds the rare "unpaid",
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    order_id: Mapped[int] = mapped_column(BigId)
    seq: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str] = mapped_column(String(16))
    tracking_no: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    interception: Mapped[str] = mapped_column(String(12), default="")
    interception_request_id: Mapped[int | None] = mapped_column(BigInteger)
    interception_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    interception_fail_reason: Mapped[str] = mapped_column(String(200), default="")
    sim_interception_fails: Mapped[bool] = mapped_column(Boolean, default=False)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_status: Mapped[str] = mapped_column(String(8), default="")  # "" | charged | unpaid
    fee_txn_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PackageItem(Base):
    __tablename__ = "aftersale_package_items"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("aftersale_package_items", "package_id", "aftersale_packages"),
        *tenant_fk("aftersale_package_items", "order_item_id", "order_items"),
        *tenant_unique("package_id", "order_item_id"),
        Index("ix_aftersale_package_items_shop", "shop_id", "package_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    package_id: Mapped[int] = mapped_column(BigId)
    order_item_id: Mapped[int] = mapped_column(BigId)
    qty: Mapped[int] = mapped_column(Integer)


class CarrierCall(Base):
    """Every call to the carrier adapter and every event it reported, in order."""

    __tablename__ = "aftersale_carrier_log"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("aftersale_carrier_log", "package_id", "aftersale_packages"),
        Index("ix_aftersale_carrier_log_package", "shop_id", "package_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    package_id: Mapped[int] = mapped_column(BigId)
    direction: Mapped[str] = mapped_column(String(8))  # call (we → carrier) | event (carrier →)
    operation: Mapped[str] = mapped_column(String(24))
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    actor: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

"""Products, orders, shipping, late-shipment violations, refunds and payment-gateway calls
(SPEC §3, O1–O9).

Deadlines the sweeps look for live on the order as indexed columns that are cleared when the
order is resolved, so each sweep reads only the rows that are due:

* ``next_judge_at`` — O4/O6/O7: ship-by time first, then 24 h after each judgment; cleared on
  shipping, an agreed refund, closing, and after the last allowed judgment.
* ``auto_close_at`` — O5: placement + 150 days; cleared on shipping, refund, closing; moved
  ``auto_close_retry_seconds`` on when the refund call raised (the order is retried then).
* ``OrderViolation.penalty_day`` with ``penalty_status = 'pending'`` — O8: the calendar day
  (Asia/Shanghai) after the judgment, when the deposit deduction is decided.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.shard import REFERENCE, TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk, tenant_unique


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"  # 待支付
    AWAITING_SHIPMENT = "awaiting_shipment"  # 待发货
    SHIPPED = "shipped"  # 已发货
    COMPLETED = "completed"  # 已完成
    CLOSED = "closed"  # 已关闭


STATUS_LABELS: dict[str, str] = {
    OrderStatus.PENDING_PAYMENT: "待支付",
    OrderStatus.AWAITING_SHIPMENT: "待发货",
    OrderStatus.SHIPPED: "已发货",
    OrderStatus.COMPLETED: "已完成",
    OrderStatus.CLOSED: "已关闭",
}


class AfterSale(StrEnum):
    NONE = "none"  # 无售后
    IN_PROGRESS = "in_progress"  # 售后中
    REFUND_AGREED = "refund_agreed"  # 已同意退款 (A6: stops late-shipment judgment)
    REFUNDED = "refunded"  # 已退款
    PARTIALLY_REFUNDED = "partially_refunded"  # 部分退款


AFTER_SALE_LABELS: dict[str, str] = {
    AfterSale.NONE: "无售后",
    AfterSale.IN_PROGRESS: "售后中",
    AfterSale.REFUND_AGREED: "已同意退款",
    AfterSale.REFUNDED: "已退款",
    AfterSale.PARTIALLY_REFUNDED: "部分退款",
}


class PenaltyStatus(StrEnum):
    PENDING = "pending"  # 待扣款 (the day after the judgment)
    DEDUCTED = "deducted"  # 已扣除保证金
    WAIVED_ORDER_CAP = "waived_order_cap"  # 单笔订单已扣满2次
    WAIVED_SHOP_CAP = "waived_shop_cap"  # 店铺当日已扣满500元


PENALTY_LABELS: dict[str, str] = {
    PenaltyStatus.PENDING: "待扣款",
    PenaltyStatus.DEDUCTED: "已扣除保证金",
    PenaltyStatus.WAIVED_ORDER_CAP: "不扣款（单笔订单扣款已达上限）",
    PenaltyStatus.WAIVED_SHOP_CAP: "不扣款（店铺当日扣款已达上限）",
}

# Payment routes (支付方式); the fallback refund route is the platform balance (O5).
PAYMENT_ROUTES: dict[str, str] = {
    "wechat": "微信支付",
    "alipay": "支付宝",
    "douyin_pay": "抖音支付",
    "bank_card": "银行卡",
}
FALLBACK_ROUTE = "platform_balance"
ROUTE_LABELS: dict[str, str] = {**PAYMENT_ROUTES, FALLBACK_ROUTE: "平台余额"}


class Product(Base):
    """商品. ``ship_within_hours`` overrides the shop default promise (O4, e.g. pre-sale);
    ``banned_at`` is set by O8 (商品封禁) — a banned product cannot be bought;
    ``delisted_at`` is set when the merchant takes it off sale (U1 下架) — it cannot be bought
    either until listed again (上架). Status: ``orders.product_rules.product_status``."""

    __tablename__ = "products"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_products_shop", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    title: Mapped[str] = mapped_column(String(120))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(Integer)
    ship_within_hours: Mapped[int | None] = mapped_column(Integer)
    banned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ban_reason: Mapped[str] = mapped_column(String(200), default="")
    ban_order_id: Mapped[int | None] = mapped_column(BigInteger)
    delisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


PHONE_TAIL_DIGITS = 4
PHONE_TAIL_SQL = "substr(buyer_phone, length(buyer_phone) - 3)"


class Order(Base):
    __tablename__ = "orders"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_unique("order_no"),
        # O1 filters: shop_id first in every index. The list reads newest first (U6:
        # created_at DESC, id DESC), so each equality filter's index ends in (created_at, id)
        # and a first page is an ordered index scan (issue 16, migration orders_0004).
        Index("ix_orders_shop_id", "shop_id", "id"),
        Index("ix_orders_shop_status_created", "shop_id", "status", "created_at", "id"),
        # The export walks a filter's ids by id (its batches are id ranges): 导出待发货 keeps
        # an index in that order instead of a backward walk of the whole shop.
        Index("ix_orders_shop_status", "shop_id", "status", "id"),
        Index("ix_orders_shop_created", "shop_id", "created_at", "id"),  # U6: ties by id
        Index("ix_orders_shop_paid", "shop_id", "paid_at"),
        Index("ix_orders_shop_shipped", "shop_id", "shipped_at"),
        Index("ix_orders_shop_ship_by", "shop_id", "ship_by"),
        Index("ix_orders_shop_buyer_phone", "shop_id", "buyer_phone"),
        # 手机号后四位: the expression service.phone_tail() compares (rare tails stay fast).
        Index("ix_orders_shop_phone_tail", "shop_id", text(PHONE_TAIL_SQL)),
        # Name prefix (LIKE '王%'): PostgreSQL needs pattern ops under a non-C collation.
        Index(
            "ix_orders_shop_buyer_name",
            "shop_id",
            "buyer_name",
            postgresql_ops={"buyer_name": "varchar_pattern_ops"},
        ),
        Index("ix_orders_shop_after_sale", "shop_id", "after_sale", "created_at", "id"),
        Index("ix_orders_shop_violations", "shop_id", "violation_count", "created_at", "id"),
        # "有发货超时" is a small subset: a partial index keeps its newest-first page O(page).
        Index(
            "ix_orders_shop_violated",
            "shop_id",
            "created_at",
            "id",
            postgresql_where=text("violation_count > 0"),
            sqlite_where=text("violation_count > 0"),
        ),
        # Sweep deadlines (O6/O7, O5): the sweeps read only due rows.
        Index("ix_orders_next_judge_at", "next_judge_at"),
        Index("ix_orders_auto_close_at", "auto_close_at"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    order_no: Mapped[str] = mapped_column(String(19))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    buyer_name: Mapped[str] = mapped_column(String(60))
    buyer_phone: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300))
    payment_route: Mapped[str] = mapped_column(String(24))
    goods_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(24))
    after_sale: Mapped[str] = mapped_column(String(24), default=AfterSale.NONE)
    violation_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ship_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    carrier: Mapped[str | None] = mapped_column(String(16))
    tracking_no: Mapped[str | None] = mapped_column(String(40))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str] = mapped_column(String(32), default="")
    refund_agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The deadline the latest judgment fell due at (set from next_judge_at in the same UPDATE).
    last_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_judge_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auto_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderItem(Base):
    __tablename__ = "order_items"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("order_items", "order_id", "orders"),
        *tenant_fk("order_items", "product_id", "products"),
        Index("ix_order_items_shop_product", "shop_id", "product_id", "order_id"),
        Index("ix_order_items_shop_order", "shop_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigId)
    product_id: Mapped[int] = mapped_column(BigId)
    title: Mapped[str] = mapped_column(String(120))
    qty: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class OrderStatusChange(Base):
    """订单状态历史: every status (and after-sale) change, with the rule that made it."""

    __tablename__ = "order_status_history"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("order_status_history", "order_id", "orders"),
        Index("ix_order_status_history_order", "shop_id", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigId)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    rule: Mapped[str | None] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(48))
    note: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderViolation(Base):
    """One late-shipment judgment 发货超时判定 (O6/O7) and its deposit penalty (O8)."""

    __tablename__ = "order_violations"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("order_violations", "order_id", "orders"),
        *tenant_unique("order_id", "seq"),
        Index("ix_order_violations_shop", "shop_id", "id"),
        Index("ix_order_violations_shop_judged", "shop_id", "judged_at"),
        Index("ix_order_violations_penalty_due", "penalty_status", "penalty_day"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    order_id: Mapped[int] = mapped_column(BigId)
    seq: Mapped[int] = mapped_column(Integer)  # 1st, 2nd, 3rd judgment of this order
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the deadline it fell due at
    judged_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the tick instant
    penalty_day: Mapped[datetime] = mapped_column(UTCDateTime)  # start of next local day
    penalty_fen: Mapped[int] = mapped_column(BigInteger)
    penalty_status: Mapped[str] = mapped_column(String(24), default=PenaltyStatus.PENDING)
    penalty_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ledger_txn_id: Mapped[int | None] = mapped_column(BigInteger)


class ShopReviewFlag(Base):
    """O8: an order judged the maximum times and still unresolved puts the shop under
    platform review (停业/清退 risk). Recorded here; an operator decides — never automatic."""

    __tablename__ = "shop_review_flags"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("shop_review_flags", "order_id", "orders"),
        *tenant_unique("order_id"),
        Index("ix_shop_review_flags_shop", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    order_id: Mapped[int] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | decided
    decision: Mapped[str] = mapped_column(String(32), default="")  # no_action|suspend|clear_out
    decided_by: Mapped[str] = mapped_column(String(48), default="")
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderRefund(Base):
    """A refund of (part of) an order, by the original route or the fallback (O5, A6)."""

    __tablename__ = "order_refunds"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("order_refunds", "order_id", "orders"),
        Index("ix_order_refunds_order", "shop_id", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    order_id: Mapped[int] = mapped_column(BigId)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str | None] = mapped_column(String(8))
    original_route: Mapped[str] = mapped_column(String(24))
    route: Mapped[str] = mapped_column(String(24))  # the route that refunded
    fell_back: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_reason: Mapped[str] = mapped_column(String(200), default="")
    ledger_txn_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentCall(Base):
    """Every call made to the payment gateway adapter (charge / refund) and its result."""

    __tablename__ = "payment_calls"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_payment_calls_shop", "shop_id", "id"),
        # The local gateway answers a repeated reference like a provider does (O5 retries).
        Index("ix_payment_calls_reference", "shop_id", "reference"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    operation: Mapped[str] = mapped_column(String(8))  # charge | refund
    route: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(200), default="")
    provider_ref: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaymentFault(Base):
    """Local gateway only: routes told to fail (tests, demo). Platform-wide, not a tenant's."""

    __tablename__ = "payment_faults"
    __shard__ = REFERENCE

    route: Mapped[str] = mapped_column(String(24), primary_key=True)
    operation: Mapped[str] = mapped_column(String(8), primary_key=True)  # charge | refund
    reason: Mapped[str] = mapped_column(String(200))
    # False: the provider answers "refused" (the fallback route is used). True: the adapter
    # raises (timeout, provider down) — the outcome is unknown and the call must be retried.
    raises: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

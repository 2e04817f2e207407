"""Shops, their accounts and grants, stores, verifier staff, API apps, and buyers (X2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, UTCDateTime
from xiaodian.shard import REFERENCE, TENANT, TENANT_IDENTITY, tenant_fk, tenant_identity, tenant_pk

# Permission codes a main account (主账号) may grant to a sub-account (子账号).
PERMISSIONS: dict[str, str] = {
    "orders.view": "查看订单",
    "orders.ship": "订单发货",
    "orders.export": "导出订单",
    "aftersales.handle": "处理售后",
    "aftersales.assistant": "售后小助手（策略）",
    "redpackets.manage": "店铺红包",
    "coupons.manage": "卡券管理",
    "coupons.verify": "卡券核销",
    "luckybags.manage": "直播/福袋",
    "service.chat": "飞鸽客服",
    "funds.view": "查看资金",
    "funds.topup": "充值",
    "settings.manage": "店铺设置（门店、核销人员）",
    # S2: open-API apps and webhooks receive the shop's data and act for it: their own grant.
    "apps.manage": "开放平台应用与Webhook",
}


class Shop(Base):
    __tablename__ = "shops"
    __shard__ = REFERENCE

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(60))
    # 企业名称: coupons' merchant name must be consistent with it (C2 rule 2).
    registered_name: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    # 人店一体: the one Douyin account this shop is bound to (L5), if any.
    douyin_account: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    """A merchant account: the shop's main account or one of its sub-accounts."""

    __tablename__ = "users"
    __shard__ = REFERENCE

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str] = mapped_column(String(60), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Grant(Base):
    __tablename__ = "grants"
    __shard__ = REFERENCE
    __table_args__ = (UniqueConstraint("user_id", "permission"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    permission: Mapped[str] = mapped_column(String(48))
    granted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Store(Base):
    """门店: a physical store of the shop (coupon campaigns and staff are scoped to stores)."""

    __tablename__ = "stores"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (tenant_pk(),)

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    address: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Staff(Base):
    """核销人员: verifier staff, added by Douyin ID with a store scope (C5)."""

    __tablename__ = "staff"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (tenant_pk(),)

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    douyin_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(60), default="")
    all_stores: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffStore(Base):
    __tablename__ = "staff_stores"
    __shard__ = TENANT
    __mapper_args__ = tenant_identity("staff_id", "store_id")
    __table_args__ = (
        tenant_pk("staff_id", "store_id"),
        *tenant_fk("staff_stores", "staff_id", "staff"),
        *tenant_fk("staff_stores", "store_id", "stores"),
    )

    staff_id: Mapped[int] = mapped_column(BigId)
    store_id: Mapped[int] = mapped_column(BigId)
    shop_id: Mapped[int] = mapped_column(BigInteger, index=True)


class ApiApp(Base):
    """An ERP/ISV application acting for one shop: app_key + secret (HMAC-SHA256)."""

    __tablename__ = "api_apps"
    __shard__ = REFERENCE

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    app_key: Mapped[str] = mapped_column(String(40), unique=True)
    # Kept readable: verifying an HMAC needs the shared secret itself.
    secret: Mapped[str] = mapped_column(String(80))
    # S2: comma-separated scope codes (accounts.scopes.APP_SCOPES), chosen at creation.
    scopes: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiNonce(Base):
    """Nonces seen inside the signature window: a replayed signed request is refused."""

    __tablename__ = "api_nonces"
    __shard__ = REFERENCE
    __table_args__ = (Index("ix_api_nonces_expires", "expires_at"),)

    app_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Buyer(Base):
    """A platform consumer (消费者). Buyers are the platform's, not a shop's."""

    __tablename__ = "buyers"
    __shard__ = REFERENCE

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    douyin_id: Mapped[str] = mapped_column(String(64), unique=True)
    nickname: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str] = mapped_column(String(20), default="")
    verified: Mapped[bool] = mapped_column(Boolean, default=False)  # platform-verified (A2.3)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)  # risk-control list (L3)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SystemState(Base):
    """Small key/value facts about this installation (e.g. the generated cookie secret)."""

    __tablename__ = "system_state"
    __shard__ = REFERENCE

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))


class LoginFailure(Base):
    """S4: one failed (or still running) console login, by submitted username and client
    address. Counted over a window for the lockout; rows older than the window are deleted."""

    __tablename__ = "login_failures"
    __shard__ = REFERENCE
    __table_args__ = (
        Index("ix_login_failures_username", "username", "failed_at"),
        Index("ix_login_failures_ip", "ip", "failed_at"),
        Index("ix_login_failures_failed_at", "failed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # wall clock


class ConsoleSession(Base):
    """S5: a console login. The browser holds a random token; only its SHA-256 is kept, so
    reading the database does not let anyone log in. Deleting the row logs the browser out."""

    __tablename__ = "console_sessions"
    __shard__ = REFERENCE
    __table_args__ = (
        Index("ix_console_sessions_user", "user_id"),
        Index("ix_console_sessions_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    shop_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # wall clock
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")

"""Append-only, double-entry ledgers (X3).

Every shop has a small chart of accounts (its balance 商家账户余额, its deposit 保证金, and the
counter-accounts money comes from or goes to). A movement is one ``LedgerTxn`` whose entries
sum to zero; an account's balance is the sum of its entries. ``LedgerAccount.balance_fen`` is
that sum kept current in the same transaction — it is the row that is locked (so two
movements on one account serialize and a balance can never be overdrawn) and it is checked
against the entries by ``service.audit``.
All rows carry ``shop_id``: a transaction never spans shops, so the schema distributes by shop.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, UTCDateTime
from xiaodian.shard import TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk


class Account(StrEnum):
    BALANCE = "balance"  # 商家账户余额: spendable merchant funds
    DEPOSIT = "deposit"  # 保证金: may go below zero (待补缴) when penalties exceed it
    EXTERNAL = "external"  # the world outside: bank cards, payment providers (contra account)
    PLATFORM_PENALTY = "platform_penalty"  # 平台罚没: deposit deductions (O8)
    PLATFORM_FEES = "platform_fees"  # fees the merchant pays (e.g. interception, A2.3)
    REDPACKET_FLOAT = "redpacket_float"  # 红包: issued, not yet spent or reclaimed (R1–R5)
    ORDER_ESCROW = "order_escrow"  # 待结算: buyer payments held until settlement or refund
    BUYER_PLATFORM_BALANCE = "buyer_platform_balance"  # 平台余额: refunds by the fallback (O5)


ACCOUNT_LABELS: dict[str, str] = {
    Account.BALANCE: "商家账户余额",
    Account.DEPOSIT: "保证金",
    Account.EXTERNAL: "外部资金",
    Account.PLATFORM_PENALTY: "平台罚没",
    Account.PLATFORM_FEES: "平台服务费",
    Account.REDPACKET_FLOAT: "已发放红包",
    Account.ORDER_ESCROW: "待结算货款",
    Account.BUYER_PLATFORM_BALANCE: "买家平台余额（退款）",
}

# Accounts that may never be overdrawn; every other account may go below zero.
NON_NEGATIVE: frozenset[str] = frozenset(
    {Account.BALANCE, Account.REDPACKET_FLOAT, Account.ORDER_ESCROW}
)


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __shard__ = TENANT

    shop_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)


class LedgerTxn(Base):
    __tablename__ = "ledger_txns"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        UniqueConstraint("shop_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(48))
    rule: Mapped[str | None] = mapped_column(String(8))
    memo: Mapped[str] = mapped_column(String(500), default="")
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    request_hash: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("ledger_entries", "txn_id", "ledger_txns"),
        Index("ix_ledger_entries_account", "shop_id", "account_code", "id"),
        # U6: a statement newest first, running balance in (created_at, id) order
        Index("ix_ledger_entries_account_created", "shop_id", "account_code", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(BigInteger)
    txn_id: Mapped[int] = mapped_column(BigId, index=True)
    account_code: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    balance_after_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

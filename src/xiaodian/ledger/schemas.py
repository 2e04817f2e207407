"""API shapes for the ledgers (X3). Money is int fen."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from xiaodian.strict import RequestModel, StrictInt


class BalancesOut(BaseModel):
    shop_id: int
    balance_fen: int = Field(description="商家账户余额")
    deposit_fen: int = Field(description="保证金 (below zero: 待补缴)")
    accounts: dict[str, int] = Field(description="every account of the shop's chart, in fen")


class TopupIn(RequestModel):
    amount_fen: StrictInt = Field(gt=0, le=10**12, description="amount in fen (1 yuan = 100 fen)")
    idempotency_key: str = Field(min_length=1, max_length=200)


class EntryOut(BaseModel):
    id: int
    txn_id: int
    account: str
    amount_fen: int
    balance_after_fen: int
    kind: str
    rule: str | None
    memo: str
    ref_type: str | None
    ref_id: int | None
    created_at: datetime


class TxnOut(BaseModel):
    txn_id: int
    replayed: bool = Field(description="true when the idempotency key was seen before")
    kind: str
    created_at: datetime
    balance_after_fen: int


class EntriesPage(BaseModel):
    items: list[EntryOut]
    next_before_id: int | None


AccountName = Literal["balance", "deposit"]

"""API shapes for shops, stores, staff and buyers (X2)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from xiaodian.strict import RequestModel, StrictInt


class ShopOut(BaseModel):
    id: int
    name: str
    registered_name: str
    douyin_account: str | None = Field(description="人店一体 binding, if any")
    created_at: datetime


class StoreIn(RequestModel):
    name: str = Field(min_length=1, max_length=60)
    address: str = Field("", max_length=200)


class StoreOut(BaseModel):
    id: int
    name: str
    address: str
    created_at: datetime


class StaffIn(RequestModel):
    douyin_id: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=60)
    store_ids: list[StrictInt] | None = Field(None, description="null = all stores")


class StaffOut(BaseModel):
    id: int
    douyin_id: str
    name: str
    store_ids: list[int] | None = Field(description="null = all stores")
    created_at: datetime
    revoked_at: datetime | None


class BuyerRegisterIn(RequestModel):
    douyin_id: str = Field(min_length=1, max_length=64)
    nickname: str = Field(min_length=1, max_length=60)
    phone: str = Field("", max_length=20)


class BuyerOut(BaseModel):
    id: int
    douyin_id: str
    nickname: str
    verified: bool


class BuyerRegisterOut(BuyerOut):
    token: str = Field(description="bearer token for /buyer/v1 — shown once")

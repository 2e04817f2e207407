"""API shapes for live streams, lucky bags and wins (L1–L3, L5)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from xiaodian.strict import RequestModel, StrictInt


class BindingIn(RequestModel):
    account: str = Field(max_length=64, description="the Douyin account (抖音号) to bind")


class BindingOut(BaseModel):
    douyin_account: str | None = Field(description="人店一体: the bound Douyin account")


class LiveIn(RequestModel):
    title: str = Field(max_length=60)
    start: AwareDatetime
    end: AwareDatetime


class LiveOut(BaseModel):
    id: int
    title: str
    scheduled_start: datetime
    scheduled_end: datetime
    started_at: datetime | None
    ended_at: datetime | None
    state: str = Field(description="scheduled | live | ended | missed (derived from now)")
    state_label: str


class LivesPage(BaseModel):
    items: list[LiveOut]
    next_before_id: int | None


class LiveStatusOut(BaseModel):
    douyin_account: str | None
    live_now: LiveOut | None
    next_scheduled: LiveOut | None


class LuckyBagIn(RequestModel):
    live_id: StrictInt
    product_id: StrictInt
    winners: StrictInt = Field(ge=1, le=1000)
    draw_at: AwareDatetime
    title: str = Field("", max_length=60)


class LuckyBagOut(BaseModel):
    id: int
    live_id: int
    product_id: int
    title: str
    winners: int
    draw_at: datetime
    drawn: bool
    drawn_at: datetime | None
    participants: int


class LuckyBagsPage(BaseModel):
    items: list[LuckyBagOut]
    next_before_id: int | None


class WinOut(BaseModel):
    id: int
    lucky_bag_id: int
    buyer_id: int
    product_id: int
    won_at: datetime
    redeem_until: datetime
    status: str = Field(description="unredeemed | redeemed | failed | expired")
    status_label: str = Field(description="未兑奖 | 已兑奖 | 兑奖失败 | 已过期")
    redeemed_at: datetime | None
    order_id: int | None
    failed_at: datetime | None
    fail_code: str
    fail_reason: str


class WinsPage(BaseModel):
    items: list[WinOut]
    next_before_id: int | None


class JoinIn(RequestModel):
    device_id: str = Field("", max_length=64)


class JoinOut(BaseModel):
    lucky_bag_id: int
    joined_at: datetime


class BuyerWinOut(WinOut):
    shop_id: int
    redeem_url: str


class RedeemIn(RequestModel):
    address: str = Field(max_length=300)
    receiver_name: str = Field(max_length=60)
    receiver_phone: str = Field(max_length=20)
    device_id: str = Field("", max_length=64)


class RedeemOut(BaseModel):
    win: BuyerWinOut
    order_no: str | None
    created: bool

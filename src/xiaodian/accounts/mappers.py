"""ORM rows → API shapes for shops, stores, staff and buyers (X2; issue 15 M5: every
context's response mapping lives in its ``mappers.py``)."""

from __future__ import annotations

from xiaodian.accounts import service
from xiaodian.accounts.models import Buyer, Shop, Staff, Store
from xiaodian.accounts.schemas import BuyerOut, BuyerRegisterOut, ShopOut, StaffOut, StoreOut
from xiaodian.context import Ctx


def shop_out(shop: Shop) -> ShopOut:
    return ShopOut.model_validate(shop, from_attributes=True)


def store_out(store: Store) -> StoreOut:
    return StoreOut.model_validate(store, from_attributes=True)


def staff_out(ctx: Ctx, staff: Staff) -> StaffOut:
    return StaffOut(
        id=staff.id,
        douyin_id=staff.douyin_id,
        name=staff.name,
        store_ids=service.staff_store_ids(ctx.session, staff),
        created_at=staff.created_at,
        revoked_at=staff.revoked_at,
    )


def buyer_out(buyer: Buyer) -> BuyerOut:
    return BuyerOut(
        id=buyer.id, douyin_id=buyer.douyin_id, nickname=buyer.nickname, verified=buyer.verified
    )


def buyer_register_out(buyer: Buyer, token: str) -> BuyerRegisterOut:
    return BuyerRegisterOut(
        id=buyer.id,
        douyin_id=buyer.douyin_id,
        nickname=buyer.nickname,
        verified=buyer.verified,
        token=token,
    )

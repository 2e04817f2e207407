"""Open API: the shop, its stores and verifier staff; buyer registration (X2, C5)."""

from __future__ import annotations

from fastapi import APIRouter

from xiaodian.accounts import service
from xiaodian.accounts.mappers import buyer_out, buyer_register_out, shop_out, staff_out, store_out
from xiaodian.accounts.schemas import (
    BuyerOut,
    BuyerRegisterIn,
    BuyerRegisterOut,
    ShopOut,
    StaffIn,
    StaffOut,
    StoreIn,
    StoreOut,
)
from xiaodian.api.deps import BuyerDep, CtxDep, ShopApp

router = APIRouter()


@router.get("/api/v1/shop", response_model=ShopOut, tags=["shop 店铺"])
def get_shop(ctx: CtxDep, principal: ShopApp) -> ShopOut:
    shop = service.get_shop(ctx.session, principal.shop_id)
    return shop_out(shop)


@router.get("/api/v1/stores", response_model=list[StoreOut], tags=["shop 店铺"])
def list_stores(ctx: CtxDep, principal: ShopApp) -> list[StoreOut]:
    return [store_out(s) for s in service.list_stores(ctx.session, principal.shop_id)]


@router.post("/api/v1/stores", response_model=StoreOut, status_code=201, tags=["shop 店铺"])
def create_store(body: StoreIn, ctx: CtxDep, principal: ShopApp) -> StoreOut:
    principal.require("settings.manage")
    store = service.create_store(ctx, principal.shop_id, name=body.name, address=body.address)
    return store_out(store)


@router.get("/api/v1/stores/{store_id}", response_model=StoreOut, tags=["shop 店铺"])
def get_store(store_id: int, ctx: CtxDep, principal: ShopApp) -> StoreOut:
    store = service.get_store(ctx.session, principal.shop_id, store_id)
    return store_out(store)


@router.get("/api/v1/staff", response_model=list[StaffOut], tags=["shop 店铺"])
def list_staff(ctx: CtxDep, principal: ShopApp) -> list[StaffOut]:
    return [staff_out(ctx, s) for s in service.list_staff(ctx.session, principal.shop_id)]


@router.post("/api/v1/staff", response_model=StaffOut, status_code=201, tags=["shop 店铺"])
def add_staff(body: StaffIn, ctx: CtxDep, principal: ShopApp) -> StaffOut:
    """C5: add a verifier (核销人员) by Douyin ID, scoped to stores (null = all)."""
    principal.require("settings.manage")
    staff = service.add_staff(
        ctx, principal.shop_id, douyin_id=body.douyin_id, name=body.name, store_ids=body.store_ids
    )
    return staff_out(ctx, staff)


@router.get("/api/v1/staff/{staff_id}", response_model=StaffOut, tags=["shop 店铺"])
def get_staff(staff_id: int, ctx: CtxDep, principal: ShopApp) -> StaffOut:
    return staff_out(ctx, service.get_staff(ctx.session, principal.shop_id, staff_id))


@router.post("/api/v1/staff/{staff_id}/revoke", response_model=StaffOut, tags=["shop 店铺"])
def revoke_staff(staff_id: int, ctx: CtxDep, principal: ShopApp) -> StaffOut:
    """C5: revoking takes effect immediately."""
    principal.require("settings.manage")
    return staff_out(ctx, service.revoke_staff(ctx, principal.shop_id, staff_id))


@router.post(
    "/buyer/v1/register", response_model=BuyerRegisterOut, status_code=201, tags=["buyer 买家"]
)
def register_buyer(body: BuyerRegisterIn, ctx: CtxDep) -> BuyerRegisterOut:
    """A buyer signs up (sandbox): returns the bearer token for the buyer API."""
    buyer, token = service.create_buyer(
        ctx, douyin_id=body.douyin_id, nickname=body.nickname, phone=body.phone
    )
    return buyer_register_out(buyer, token)


@router.get("/buyer/v1/me", response_model=BuyerOut, tags=["buyer 买家"])
def buyer_me(buyer: BuyerDep) -> BuyerOut:
    return buyer_out(buyer)

"""Open API for live streams, lucky bags and wins; buyer API to join and redeem (L1–L3, L5)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.api.deps import BuyerDep, CtxDep, MarketingApp, PageDep
from xiaodian.context import Ctx
from xiaodian.errors import Conflict, NotFound
from xiaodian.luckybags import service
from xiaodian.luckybags.mappers import (
    bag_out,
    binding_out,
    buyer_win_out,
    join_out,
    live_out,
    live_status_out,
    redeem_out,
    win_out,
)
from xiaodian.luckybags.models import LuckyBagWin
from xiaodian.luckybags.schemas import (
    BindingIn,
    BindingOut,
    BuyerWinOut,
    JoinIn,
    JoinOut,
    LiveIn,
    LiveOut,
    LivesPage,
    LiveStatusOut,
    LuckyBagIn,
    LuckyBagOut,
    LuckyBagsPage,
    RedeemIn,
    RedeemOut,
    WinOut,
    WinsPage,
)

router = APIRouter()
LIVE: list[str | Enum] = ["live 直播"]
BAGS: list[str | Enum] = ["luckybags 福袋"]
BUYER: list[str | Enum] = ["buyer 买家"]
MANAGE = "luckybags.manage"


# ----- 人店一体 binding (L5) -----------------------------------------------------------------


@router.get("/api/v1/douyin_binding", response_model=BindingOut, tags=LIVE)
def get_binding(ctx: CtxDep, principal: MarketingApp) -> BindingOut:
    shop = accounts.get_shop(ctx.session, principal.shop_id)
    return binding_out(shop)


@router.put("/api/v1/douyin_binding", response_model=BindingOut, tags=LIVE)
def bind(body: BindingIn, ctx: CtxDep, principal: MarketingApp) -> BindingOut:
    """L5: bind the shop to one Douyin account (人店一体); unique across shops."""
    principal.require(MANAGE)
    shop = service.bind_douyin(ctx, principal.shop_id, body.account)
    return binding_out(shop)


@router.delete("/api/v1/douyin_binding", response_model=BindingOut, tags=LIVE)
def unbind(ctx: CtxDep, principal: MarketingApp) -> BindingOut:
    principal.require(MANAGE)
    shop = service.unbind_douyin(ctx, principal.shop_id)
    return binding_out(shop)


# ----- live streams --------------------------------------------------------------------------


@router.post("/api/v1/live_streams", response_model=LiveOut, status_code=201, tags=LIVE)
def schedule_live(body: LiveIn, ctx: CtxDep, principal: MarketingApp) -> LiveOut:
    principal.require(MANAGE)
    live = service.schedule_live(
        ctx, principal.shop_id, title=body.title, start=body.start, end=body.end
    )
    return live_out(live, ctx)


@router.get("/api/v1/live_streams", response_model=LivesPage, tags=LIVE)
def list_lives(ctx: CtxDep, principal: MarketingApp, page: PageDep) -> LivesPage:
    rows = service.list_lives(
        ctx.session, principal.shop_id, before_id=page.before_id, limit=page.limit
    )
    return LivesPage(items=[live_out(r, ctx) for r in rows], next_before_id=_next(rows, page.limit))


@router.get("/api/v1/live_status", response_model=LiveStatusOut, tags=LIVE)
def live_status(ctx: CtxDep, principal: MarketingApp) -> LiveStatusOut:
    """L5: live now / next scheduled, derived at this instant."""
    shop = accounts.get_shop(ctx.session, principal.shop_id)
    now_live = service.live_now(ctx.session, shop.id, ctx.now)
    upcoming = service.next_scheduled(ctx.session, shop.id, ctx.now)
    return live_status_out(ctx, shop, now_live, upcoming)


@router.get("/api/v1/live_streams/{live_id}", response_model=LiveOut, tags=LIVE)
def get_live(live_id: int, ctx: CtxDep, principal: MarketingApp) -> LiveOut:
    return live_out(service.get_live(ctx.session, principal.shop_id, live_id), ctx)


@router.post("/api/v1/live_streams/{live_id}/start", response_model=LiveOut, tags=LIVE)
def start_live(live_id: int, ctx: CtxDep, principal: MarketingApp) -> LiveOut:
    principal.require(MANAGE)
    return live_out(service.start_live(ctx, principal.shop_id, live_id), ctx)


@router.post("/api/v1/live_streams/{live_id}/end", response_model=LiveOut, tags=LIVE)
def end_live(live_id: int, ctx: CtxDep, principal: MarketingApp) -> LiveOut:
    principal.require(MANAGE)
    return live_out(service.end_live(ctx, principal.shop_id, live_id), ctx)


# ----- lucky bags ----------------------------------------------------------------------------


@router.post("/api/v1/lucky_bags", response_model=LuckyBagOut, status_code=201, tags=BAGS)
def create_lucky_bag(body: LuckyBagIn, ctx: CtxDep, principal: MarketingApp) -> LuckyBagOut:
    """L1: a lucky bag in a live stream; drawn automatically at ``draw_at``."""
    principal.require(MANAGE)
    bag = service.create_lucky_bag(
        ctx,
        principal.shop_id,
        live_id=body.live_id,
        product_id=body.product_id,
        winners=body.winners,
        draw_at=body.draw_at,
        title=body.title,
    )
    return bag_out(bag, ctx)


@router.get("/api/v1/lucky_bags", response_model=LuckyBagsPage, tags=BAGS)
def list_lucky_bags(
    ctx: CtxDep,
    principal: MarketingApp,
    page: PageDep,
    live_id: Annotated[int | None, Query(ge=1)] = None,
) -> LuckyBagsPage:
    rows = service.list_lucky_bags(
        ctx.session, principal.shop_id, live_id=live_id, before_id=page.before_id, limit=page.limit
    )
    return LuckyBagsPage(
        items=[bag_out(r, ctx) for r in rows], next_before_id=_next(rows, page.limit)
    )


@router.get("/api/v1/lucky_bags/{lucky_bag_id}", response_model=LuckyBagOut, tags=BAGS)
def get_lucky_bag(lucky_bag_id: int, ctx: CtxDep, principal: MarketingApp) -> LuckyBagOut:
    return bag_out(service.get_lucky_bag(ctx.session, principal.shop_id, lucky_bag_id), ctx)


@router.get("/api/v1/lucky_bag_wins", response_model=WinsPage, tags=BAGS)
def list_wins(
    ctx: CtxDep,
    principal: MarketingApp,
    page: PageDep,
    buyer_id: Annotated[int | None, Query(ge=1)] = None,
    lucky_bag_id: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[
        str | None, Query(description="unredeemed | redeemed | failed | expired")
    ] = None,
) -> WinsPage:
    """L3: 中奖记录, filterable by buyer, lucky bag and (derived) status."""
    rows = service.list_wins(
        ctx.session,
        principal.shop_id,
        ctx.now,
        buyer_id=buyer_id,
        lucky_bag_id=lucky_bag_id,
        status=status,
        before_id=page.before_id,
        limit=page.limit,
    )
    return WinsPage(items=[win_out(w, ctx) for w in rows], next_before_id=_next(rows, page.limit))


@router.get("/api/v1/lucky_bag_wins/{win_id}", response_model=WinOut, tags=BAGS)
def get_win(win_id: int, ctx: CtxDep, principal: MarketingApp) -> WinOut:
    return win_out(service.get_win(ctx.session, principal.shop_id, win_id), ctx)


# ----- buyer side ----------------------------------------------------------------------------


@router.post("/buyer/v1/lucky_bags/{lucky_bag_id}/join", response_model=JoinOut, tags=BUYER)
def join(lucky_bag_id: int, body: JoinIn, ctx: CtxDep, buyer: BuyerDep) -> JoinOut:
    """L1: join a lucky bag while its live stream is live, before the draw."""
    entry = service.join(ctx, buyer, lucky_bag_id, device_id=body.device_id)
    return join_out(entry)


@router.get("/buyer/v1/lucky_bag_wins", response_model=list[BuyerWinOut], tags=BUYER)
def my_wins(ctx: CtxDep, buyer: BuyerDep) -> list[BuyerWinOut]:
    return [buyer_win_out(w, ctx) for w in service.buyer_wins(ctx.session, buyer.id)]


@router.get("/buyer/v1/lucky_bag_wins/{token}", response_model=BuyerWinOut, tags=BUYER)
def my_win(token: str, ctx: CtxDep, buyer: BuyerDep) -> BuyerWinOut:
    win = service.win_by_token(ctx.session, token)
    if win.buyer_id != buyer.id:
        raise NotFound("兑奖链接", "Redemption link")
    return buyer_win_out(win, ctx)


@router.post(
    "/buyer/v1/lucky_bag_wins/{token}/redeem",
    response_model=RedeemOut,
    tags=BUYER,
    responses={409: {"description": "兑奖失败 (risk control), expired, or already failed"}},
)
def redeem(token: str, body: RedeemIn, ctx: CtxDep, buyer: BuyerDep) -> Any:
    """L2/L3: confirm the address, pass risk control, get a 0-yuan prize order.

    A risk refusal answers 409 ``risk_rejected`` and is recorded (兑奖失败)."""
    result = service.redeem(
        ctx,
        token,
        address=body.address,
        receiver_name=body.receiver_name,
        receiver_phone=body.receiver_phone,
        device_id=body.device_id,
        buyer_id=buyer.id,
    )
    if result.status == service.WinStatus.FAILED:
        return risk_rejected(result.win, ctx)
    return redeem_out(result, ctx)


def risk_rejected(win: LuckyBagWin, ctx: Ctx) -> Response:
    """Answer a recorded risk refusal without raising (raising would roll the record back)."""
    problem = Conflict(
        "risk_rejected",
        f"兑奖失败：{win.fail_reason}。{service.SUPPORT_HINT}",
        "Redemption refused by risk control; please contact platform support",
        rule="L3",
    ).to_problem()
    problem["win"] = buyer_win_out(win, ctx).model_dump(mode="json")
    return JSONResponse(problem, status_code=409, media_type="application/problem+json")


def _next(rows: list[Any], limit: int) -> int | None:
    return rows[-1].id if len(rows) == limit and rows else None

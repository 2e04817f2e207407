"""Live streams, lucky bags and wins → API shapes (L1–L3, L5; issue 15 M5: every context's
response mapping lives in its ``mappers.py``)."""

from __future__ import annotations

from typing import Any

from xiaodian.accounts.models import Shop
from xiaodian.context import Ctx
from xiaodian.luckybags import service
from xiaodian.luckybags.models import LiveStream, LuckyBag, LuckyBagEntry, LuckyBagWin
from xiaodian.luckybags.schemas import (
    BindingOut,
    BuyerWinOut,
    JoinOut,
    LiveOut,
    LiveStatusOut,
    LuckyBagOut,
    RedeemOut,
    WinOut,
)


def binding_out(shop: Shop) -> BindingOut:
    return BindingOut(douyin_account=shop.douyin_account)


def live_out(live: LiveStream, ctx: Ctx) -> LiveOut:
    state = service.live_state(live, ctx.now)
    return LiveOut(
        id=live.id,
        title=live.title,
        scheduled_start=live.scheduled_start,
        scheduled_end=live.scheduled_end,
        started_at=live.started_at,
        ended_at=live.ended_at,
        state=state.value,
        state_label=service.LIVE_STATE_LABELS[state],
    )


def bag_out(bag: LuckyBag, ctx: Ctx) -> LuckyBagOut:
    return LuckyBagOut(
        id=bag.id,
        live_id=bag.live_id,
        product_id=bag.product_id,
        title=bag.title,
        winners=bag.winners,
        draw_at=bag.draw_at,
        drawn=bag.drawn_at is not None,
        drawn_at=bag.drawn_at,
        participants=service.participant_count(ctx.session, bag.shop_id, bag.id),
    )


def _win_fields(win: LuckyBagWin, ctx: Ctx) -> dict[str, Any]:
    status = service.win_status(win, ctx.now)
    return {
        "id": win.id,
        "lucky_bag_id": win.lucky_bag_id,
        "buyer_id": win.buyer_id,
        "product_id": win.product_id,
        "won_at": win.won_at,
        "redeem_until": win.redeem_until,
        "status": status.value,
        "status_label": service.WIN_STATUS_LABELS[status],
        "redeemed_at": win.redeemed_at,
        "order_id": win.order_id,
        "failed_at": win.failed_at,
        "fail_code": win.fail_code,
        "fail_reason": win.fail_reason,
    }


def win_out(win: LuckyBagWin, ctx: Ctx) -> WinOut:
    return WinOut(**_win_fields(win, ctx))


def buyer_win_out(win: LuckyBagWin, ctx: Ctx) -> BuyerWinOut:
    return BuyerWinOut(
        **_win_fields(win, ctx), shop_id=win.shop_id, redeem_url=service.redeem_path(win.token)
    )


def live_status_out(
    ctx: Ctx, shop: Shop, now_live: LiveStream | None, upcoming: LiveStream | None
) -> LiveStatusOut:
    return LiveStatusOut(
        douyin_account=shop.douyin_account,
        live_now=live_out(now_live, ctx) if now_live else None,
        next_scheduled=live_out(upcoming, ctx) if upcoming else None,
    )


def join_out(entry: LuckyBagEntry) -> JoinOut:
    return JoinOut(lucky_bag_id=entry.lucky_bag_id, joined_at=entry.joined_at)


def redeem_out(result: service.Redemption, ctx: Ctx) -> RedeemOut:
    return RedeemOut(
        win=buyer_win_out(result.win, ctx),
        order_no=result.order.order_no if result.order else None,
        created=result.created,
    )

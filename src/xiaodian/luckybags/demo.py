"""Demo data for live streams, lucky bags and 飞鸽 (L1–L5): two past live streams with drawn
lucky bags whose wins are, today, in every status (未兑奖 / 已兑奖 / 兑奖失败 / 已过期), a live
stream scheduled for tomorrow (直播预告), and conversations entered through 抖音, 抖音极速版
and 今日头条. Every step runs through the services at its own past instant. Running it again
for the same shop changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.context import Ctx
from xiaodian.db import transaction
from xiaodian.luckybags import service, sweeps
from xiaodian.luckybags.models import LiveStream
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime
from xiaodian.service import service as cs

FANS = ("爱吃草莓", "小鹿乱撞", "风控测试号", "夜猫子", "西湖边的猫", "早起的鸟")


@contextmanager
def _at(rt: Runtime, when: datetime, actor: str = "demo") -> Iterator[Ctx]:
    with transaction(rt.factory) as session:
        yield Ctx(session=session, now=when, settings=rt.settings, actor=actor)


def seed(rt: Runtime, shop_id: int, progress: Any = None) -> None:
    with rt.unit("demo") as ctx:
        if ctx.session.scalar(select(LiveStream.id).where(LiveStream.shop_id == shop_id)):
            return
    task = progress.add_task("直播/福袋 luckybags", total=4) if progress is not None else None

    def tick() -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    now = rt.clock.now().replace(microsecond=0)
    with _at(rt, now - timedelta(days=12)) as ctx:
        prize = orders.create_product(
            ctx, shop_id, title="福袋专享·定制帆布包", price_fen=3_900, stock=200
        ).id
        fans = []
        for i, nickname in enumerate(FANS):
            buyer, _ = accounts.create_buyer(
                ctx,
                douyin_id=f"dy_fan_{shop_id}_{i}",
                nickname=nickname,
                phone=f"1370000{shop_id % 1000:03d}{i}",
            )
            buyer.blocked = nickname == "风控测试号"
            fans.append(buyer.id)
    tick()

    # Ten days ago: a live whose wins are, by now, 已过期, 已兑奖 (shipped) and 兑奖失败.
    old = _live_with_bag(rt, shop_id, prize, now - timedelta(days=10), fans[:4], winners=4)
    with _at(rt, old + timedelta(hours=3), "buyer") as ctx:
        done = _redeem(ctx, shop_id, fans[1], "浙江省杭州市上城区解放路 18 号")
        assert done.order is not None
        orders.ship_order(ctx, shop_id, done.order.id, carrier="SF", tracking_no="SF1300000000001")
        _redeem(ctx, shop_id, fans[2], "江苏省苏州市工业园区星湖街 328 号")
    tick()

    # Yesterday: a live whose wins are 未兑奖 (window open) and 已兑奖 (awaiting shipment).
    recent = _live_with_bag(rt, shop_id, prize, now - timedelta(days=1), fans[3:], winners=3)
    with _at(rt, recent + timedelta(hours=2), "buyer") as ctx:
        _redeem(ctx, shop_id, fans[4], "上海市徐汇区漕溪北路 88 号")
    tick()

    with _at(rt, now) as ctx:
        tomorrow = now + timedelta(days=1)
        service.schedule_live(
            ctx,
            shop_id,
            title="明晚八点·新品首发福袋场",
            start=tomorrow,
            end=tomorrow + timedelta(hours=3),
        )
        channels = (
            (fans[0], "douyin", "福袋奖品还能领吗？"),
            (fans[2], "douyin_lite", "为什么我兑奖失败了？"),
            (fans[4], "douyin", "我的奖品发货了吗？"),
            (fans[5], "douyin", "中奖了怎么领？"),
            (fans[3], "toutiao", "你们什么时候直播？"),
        )
        for buyer_id, channel, text in channels:
            fan = accounts.get_buyer(ctx.session, buyer_id)
            cs.start_conversation(ctx, fan, shop_id, channel=channel, text=text)
    tick()


def _live_with_bag(
    rt: Runtime, shop_id: int, prize: int, start: datetime, fans: list[int], *, winners: int
) -> datetime:
    """A two-hour live with one lucky bag drawn 30 minutes in; returns the draw instant."""
    draw_at = start + timedelta(minutes=30)
    with _at(rt, start) as ctx:
        live = service.schedule_live(
            ctx, shop_id, title="宠粉福利专场", start=start, end=start + timedelta(hours=2)
        )
        service.start_live(ctx, shop_id, live.id)
        bag = service.create_lucky_bag(
            ctx,
            shop_id,
            live_id=live.id,
            product_id=prize,
            winners=winners,
            draw_at=draw_at,
            title="关注主播抽帆布包",
        )
        live_id = live.id
    with _at(rt, start + timedelta(minutes=10), "buyer") as ctx:
        for i, buyer_id in enumerate(fans):
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            service.join(ctx, buyer, bag.id, device_id=f"demo-device-{buyer_id}-{i}")
    with _at(rt, draw_at, "system") as ctx:
        sweeps.draw_due(ctx)
    with _at(rt, start + timedelta(hours=2)) as ctx:
        service.end_live(ctx, shop_id, live_id)
    return draw_at


def _redeem(ctx: Ctx, shop_id: int, buyer_id: int, address: str) -> service.Redemption:
    [win] = service.list_wins(ctx.session, shop_id, ctx.now, buyer_id=buyer_id, limit=1)
    buyer = ctx.session.get(Buyer, buyer_id)
    assert buyer is not None
    return service.redeem(
        ctx,
        win.token,
        address=address,
        receiver_name=buyer.nickname,
        receiver_phone=buyer.phone,
        device_id=f"demo-phone-{buyer_id}",
    )

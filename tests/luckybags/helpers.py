"""Building lucky-bag scenes through the real services and the real draw sweep."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.luckybags import service as lb
from xiaodian.luckybags import sweeps as rules
from xiaodian.luckybags.models import LuckyBagWin
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime
from xiaodian.service import service as cs

_serial = itertools.count(1)
ADDRESS = "浙江省杭州市西湖区文三路 100 号 3 幢 201 室"


@dataclass
class Scene:
    rt: Runtime

    @property
    def clock(self) -> Any:
        return self.rt.clock

    def buyer(self, nickname: str = "小红", *, blocked: bool = False) -> tuple[int, str]:
        n = next(_serial)
        with self.rt.unit() as ctx:
            buyer, token = accounts.create_buyer(
                ctx, douyin_id=f"dy_fan_{n}", nickname=nickname, phone="13912345678"
            )
            buyer.blocked = blocked
            return buyer.id, token

    def block(self, buyer_id: int, blocked: bool = True) -> None:
        with self.rt.unit() as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            buyer.blocked = blocked

    def product(
        self, shop_id: int, *, stock: int = 100, ship_within_hours: int | None = None
    ) -> int:
        with self.rt.unit() as ctx:
            return orders.create_product(
                ctx,
                shop_id,
                title="福袋奖品·保温杯",
                price_fen=5_900,
                stock=stock,
                ship_within_hours=ship_within_hours,
            ).id

    def live(self, shop_id: int, *, start_in: int = 0, hours: int = 2, go_live: bool = True) -> int:
        now = self.clock.now()
        with self.rt.unit() as ctx:
            live = lb.schedule_live(
                ctx,
                shop_id,
                title="直播间宠粉福利",
                start=now + timedelta(seconds=start_in),
                end=now + timedelta(seconds=start_in) + timedelta(hours=hours),
            )
            if go_live:
                lb.start_live(ctx, shop_id, live.id)
            return live.id

    def end(self, shop_id: int, live_id: int) -> None:
        with self.rt.unit() as ctx:
            lb.end_live(ctx, shop_id, live_id)

    def bag(
        self, shop_id: int, live_id: int, product_id: int, *, winners: int = 1, draw_in: int = 600
    ) -> int:
        with self.rt.unit() as ctx:
            return lb.create_lucky_bag(
                ctx,
                shop_id,
                live_id=live_id,
                product_id=product_id,
                winners=winners,
                draw_at=self.clock.now() + timedelta(seconds=draw_in),
            ).id

    def join(self, bag_id: int, buyer_id: int, device: str = "") -> None:
        with self.rt.unit(f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            lb.join(ctx, buyer, bag_id, device_id=device)

    def advance(self, seconds: int) -> None:
        """Move the clock, running the lucky-bag sweeps on the way (the draw)."""
        scheduler.advance(self.rt, seconds, sweeps=rules.SWEEPS)

    def win(self, shop_id: int, buyer_id: int, bag_id: int | None = None) -> LuckyBagWin:
        with self.rt.unit() as ctx:
            query = select(LuckyBagWin).where(
                LuckyBagWin.shop_id == shop_id, LuckyBagWin.buyer_id == buyer_id
            )
            if bag_id is not None:
                query = query.where(LuckyBagWin.lucky_bag_id == bag_id)
            win = ctx.session.scalars(query.order_by(LuckyBagWin.id.desc())).first()
            assert win is not None
            return win

    def won(self, shop_id: int, buyer_id: int, product_id: int | None = None) -> LuckyBagWin:
        """A live with one lucky bag, the buyer its only participant, drawn: one win."""
        product_id = product_id or self.product(shop_id)
        live_id = self.live(shop_id)
        bag_id = self.bag(shop_id, live_id, product_id)
        self.join(bag_id, buyer_id)
        self.advance(600)
        self.end(shop_id, live_id)
        return self.win(shop_id, buyer_id, bag_id)

    def won_many(self, pairs: list[tuple[int, int]]) -> list[LuckyBagWin]:
        """One win per (shop, buyer) pair — one live per shop, one lucky bag per pair with
        the buyer its only participant — all drawn by a single pass of the draw sweep (the
        same path as ``won``, without moving the clock once per pair)."""
        lives: dict[int, int] = {}
        bags = []
        for shop_id, buyer_id in pairs:
            if shop_id not in lives:
                lives[shop_id] = self.live(shop_id)
            bag_id = self.bag(shop_id, lives[shop_id], self.product(shop_id))
            self.join(bag_id, buyer_id)
            bags.append((shop_id, buyer_id, bag_id))
        self.advance(600)
        for shop_id, live_id in lives.items():
            self.end(shop_id, live_id)
        return [self.win(shop_id, buyer_id, bag_id) for shop_id, buyer_id, bag_id in bags]

    def redeem(self, token: str, *, address: str = ADDRESS, device: str = "") -> lb.Redemption:
        with self.rt.unit() as ctx:
            return lb.redeem(
                ctx,
                token,
                address=address,
                receiver_name="小红",
                receiver_phone="13912345678",
                device_id=device,
            )

    def conversation(self, shop_id: int, buyer_id: int, channel: str) -> int:
        with self.rt.unit(f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            return cs.start_conversation(
                ctx, buyer, shop_id, channel=channel, text="你好，我的福袋奖品呢？"
            ).id

"""The lucky-bag demo seed: wins in every status, a scheduled live, conversations (L1–L5)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from xiaodian.luckybags import demo
from xiaodian.luckybags import service as lb
from xiaodian.luckybags.models import LiveStream
from xiaodian.runtime import Runtime
from xiaodian.service import service as cs
from xiaodian.service.models import Conversation


def test_L1_L3_demo_seed_has_every_status_and_is_idempotent(rt: Runtime, shop: Any) -> None:
    demo.seed(rt, shop.shop_id)
    demo.seed(rt, shop.shop_id)
    with rt.unit() as ctx:
        counts = lb.count_wins_by_status(ctx.session, shop.shop_id, ctx.now)
        assert all(counts[s] >= 1 for s in ("unredeemed", "redeemed", "failed", "expired"))
        assert lb.next_scheduled(ctx.session, shop.shop_id, ctx.now) is not None
        assert ctx.session.scalar(select(func.count()).select_from(LiveStream)) == 3
        channels = set(ctx.session.scalars(select(Conversation.channel)))
        assert {"douyin", "douyin_lite", "toutiao"} <= channels
        redeemed = lb.list_wins(ctx.session, shop.shop_id, ctx.now, status="redeemed")
        assert any(lb.win_order(ctx.session, w).tracking_no for w in redeemed)
        conversation = ctx.session.scalars(
            select(Conversation).where(Conversation.channel == "douyin")
        ).first()
        assert cs.panel(ctx.session, shop.shop_id, conversation.id, ctx.now).lucky_bag_button

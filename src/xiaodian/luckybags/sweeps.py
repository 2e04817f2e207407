"""Time-driven lucky-bag rule (L1): the draw at draw time.

The draw is reproducible: the winners are chosen by ``rules.pick_winners`` with the generator
``rules.draw_rng`` seeds from ``settings.luckybags.draw_seed`` and the lucky bag's id, so a
replayed simulation draws the same winners whatever order the buyers joined in.

Redemption expiry (L3 已过期) needs no sweep: it is derived from ``redeem_until`` and now.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from xiaodian.context import Ctx, Sweep
from xiaodian.db import rowcount
from xiaodian.luckybags.models import LuckyBag, LuckyBagEntry, LuckyBagWin
from xiaodian.luckybags.rules import draw_rng, pick_winners, redeem_until
from xiaodian.luckybags.service import redeem_path
from xiaodian.notify import service as notify
from xiaodian.notify.service import NewEvent

BATCH = 200


def draw_due(ctx: Ctx) -> dict[str, int]:
    """L1: every lucky bag whose draw time has come is drawn once: its winners get a win
    record (中奖记录) with a redemption window (L2), an event and a message with the link."""
    rules = ctx.settings.luckybags
    session, now = ctx.session, ctx.now
    due = list(
        session.scalars(
            select(LuckyBag)
            .where(LuckyBag.drawn_at.is_(None), LuckyBag.draw_at <= now)
            .order_by(LuckyBag.draw_at, LuckyBag.id)
            .limit(BATCH)
        )
    )
    drawn = wins = 0
    for bag in due:
        participants = list(
            session.scalars(
                select(LuckyBagEntry.buyer_id).where(
                    LuckyBagEntry.shop_id == bag.shop_id, LuckyBagEntry.lucky_bag_id == bag.id
                )
            )
        )
        # Claim the draw: a second worker (or a re-run) finds drawn_at set and skips it.
        claimed = session.execute(
            update(LuckyBag)
            .where(LuckyBag.id == bag.id, LuckyBag.drawn_at.is_(None))
            .values(drawn_at=now, participants_at_draw=len(participants))
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            continue
        drawn += 1
        chosen = pick_winners(draw_rng(rules.draw_seed, bag.id), participants, bag.winners)
        until = redeem_until(now, rules.redeem_window_days)
        rows = [
            {
                "shop_id": bag.shop_id,
                "lucky_bag_id": bag.id,
                "buyer_id": buyer_id,
                "product_id": bag.product_id,
                "token": secrets.token_urlsafe(24),
                "won_at": now,
                "redeem_until": until,
                "address": "",
                "address_key": "",
                "redeem_device": "",
                "fail_code": "",
                "fail_reason": "",
            }
            for buyer_id in chosen
        ]
        if rows:
            session.execute(insert(LuckyBagWin), rows)
        created = list(
            session.scalars(
                select(LuckyBagWin)
                .where(LuckyBagWin.shop_id == bag.shop_id, LuckyBagWin.lucky_bag_id == bag.id)
                .order_by(LuckyBagWin.id)
            )
        )
        wins += len(created)
        events = [
            NewEvent(
                bag.shop_id,
                "luckybag.drawn",
                {
                    "lucky_bag_id": bag.id,
                    "participants": len(participants),
                    "winners": [w.buyer_id for w in created],
                },
                "L1",
            )
        ]
        events += [
            NewEvent(
                bag.shop_id,
                "luckybag.won",
                {
                    "win_id": w.id,
                    "lucky_bag_id": bag.id,
                    "buyer_id": w.buyer_id,
                    "product_id": w.product_id,
                    "won_at": w.won_at.isoformat(),
                    "redeem_until": w.redeem_until.isoformat(),
                },
                "L1",
            )
            for w in created
        ]
        notify.emit_many(ctx, events)
        notify.message_buyers(
            ctx,
            [
                {
                    "buyer_id": w.buyer_id,
                    "shop_id": bag.shop_id,
                    "kind": "link",
                    "title": f"恭喜中奖：{bag.title}"[:120],
                    "body": f"请在 {rules.redeem_window_days} 天内打开兑奖链接、填写收货地址。",
                    "payload": {
                        "url": redeem_path(w.token),
                        "win_id": w.id,
                        "redeem_until": w.redeem_until.isoformat(),
                    },
                    "rule": "L1",
                }
                for w in created
            ],
        )
    return {"drawn": drawn, "wins": wins}


def next_draw_due(session: Session, now: datetime) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.min(LuckyBag.draw_at)).where(LuckyBag.drawn_at.is_(None))
    )
    return value


SWEEPS = [Sweep("luckybags.draw", "L1", draw_due, next_draw_due)]

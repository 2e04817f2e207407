"""Lucky-bag decisions (issue 15 M2): derived states, the draw and the redemption window, as
functions of their inputs. Nothing here reads or writes the database: ``service.py`` and
``sweeps.py`` look things up, ask these functions and write.

* **Live state** (L1/L5) and **win status** (L3) are derived from the stored facts and
  ``now``, never stored (``live_state``, ``win_status``; the SQL twin of the latter is
  ``service.win_status_expr``).
* **The draw** (L1) is reproducible: ``pick_winners`` samples the participants (ordered by
  buyer id) with the random generator it is given; ``draw_rng`` seeds one from
  ``settings.luckybags.draw_seed`` and the lucky bag's id, so a replayed simulation draws the
  same winners whatever order the buyers joined in.
* **The redemption window** (L2/L3): a win may be redeemed until ``redeem_until``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class _Live(Protocol):
    @property
    def started_at(self) -> datetime | None: ...

    @property
    def ended_at(self) -> datetime | None: ...

    @property
    def scheduled_end(self) -> datetime: ...


class _Win(Protocol):
    @property
    def order_id(self) -> int | None: ...

    @property
    def failed_at(self) -> datetime | None: ...

    @property
    def redeem_until(self) -> datetime: ...


# ----- L1/L5 live streams ------------------------------------------------------------------


class LiveState(StrEnum):
    SCHEDULED = "scheduled"  # 待开播
    LIVE = "live"  # 直播中
    ENDED = "ended"  # 已结束
    MISSED = "missed"  # 未开播（已过预定结束时间）


LIVE_STATE_LABELS: dict[str, str] = {
    LiveState.SCHEDULED: "待开播",
    LiveState.LIVE: "直播中",
    LiveState.ENDED: "已结束",
    LiveState.MISSED: "未开播",
}


def live_state(live: _Live, now: datetime) -> LiveState:
    """Derived from the facts and ``now`` — never stored."""
    if live.ended_at is not None and live.ended_at <= now:
        return LiveState.ENDED
    if live.started_at is not None and live.started_at <= now:
        return LiveState.LIVE
    if live.scheduled_end <= now:
        return LiveState.MISSED
    return LiveState.SCHEDULED


# ----- L3 wins -----------------------------------------------------------------------------


class WinStatus(StrEnum):
    UNREDEEMED = "unredeemed"  # 未兑奖 (window open)
    REDEEMED = "redeemed"  # 已兑奖 (has a prize order)
    FAILED = "failed"  # 兑奖失败 (risk control refused)
    EXPIRED = "expired"  # 已过期 (unredeemed, past the window)


WIN_STATUS_LABELS: dict[str, str] = {
    WinStatus.UNREDEEMED: "未兑奖",
    WinStatus.REDEEMED: "已兑奖",
    WinStatus.FAILED: "兑奖失败",
    WinStatus.EXPIRED: "已过期",
}


def win_status(win: _Win, now: datetime) -> WinStatus:
    """L3: exactly one status, derived from the stored facts and ``now``."""
    if win.order_id is not None:
        return WinStatus.REDEEMED
    if win.failed_at is not None:
        return WinStatus.FAILED
    if now >= win.redeem_until:
        return WinStatus.EXPIRED
    return WinStatus.UNREDEEMED


def redeem_until(won_at: datetime, redeem_window_days: int) -> datetime:
    """L2: a win may be redeemed within ``redeem_window_days`` of the draw."""
    return won_at + timedelta(days=redeem_window_days)


# ----- L1 the draw -------------------------------------------------------------------------


def draw_rng(seed: str, lucky_bag_id: int) -> random.Random:
    """L1: the generator a lucky bag's draw uses — seeded from the configured seed and the
    bag's id, so the same bag draws the same winners on every replay."""
    digest = hashlib.sha256(f"{seed}:luckybag:{lucky_bag_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def pick_winners(rng: random.Random, buyer_ids: Iterable[int], winners: int) -> list[int]:
    """L1: ``winners`` participants chosen by ``rng`` (all of them when fewer joined), in
    buyer-id order. The pool is sorted first, so the join order does not matter."""
    pool = sorted(set(buyer_ids))
    return sorted(rng.sample(pool, min(winners, len(pool))))

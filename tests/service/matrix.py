"""The L4/L5 button/action matrix of the 飞鸽 context panel, shared by the API test
(tests/service/test_panel_matrix.py) and the browser test
(tests/service/test_service_matrix_browser.py) so both assert the same table.

channel (抖音 / 抖音极速版 / 头条 / 网页) × the shop's lucky bags and this buyer's win (the shop
never ran one; it ran one this buyer did not win; the buyer's win is 未兑奖, 已兑奖 or 兑奖失败
with the redemption window open or closed) × shop bound 人店一体 (yes / no) × live now / a live
scheduled / neither.

``build_world`` makes every row through the real services and the real draw sweep, once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from tests.conftest import ShopFixture
from tests.luckybags.helpers import Scene
from xiaodian.runtime import Runtime
from xiaodian.service.models import CHANNELS as CHANNEL_LABELS

CHANNELS = ("douyin", "douyin_lite", "toutiao", "web")
LUCKY_BAG_CHANNELS = ("douyin", "douyin_lite")
LIVE_STATES = ("live", "scheduled", "none")
WINDOW_PASSED_SECONDS = 8 * 86400  # past the default 7-day redemption window (L2)

HINT_FAILED = "兑奖失败：买家在平台风控名单中。请联系平台客服"  # F6: the reason in the hint
HINT_EXPIRED = "已超过兑奖时间"  # F6: seed 001's wording
HINT_NOTHING_SCHEDULED = "暂无待开播的直播"
NO_WINS_MESSAGE = "该消费者在本店铺暂无中奖记录"


@dataclass(frozen=True)
class WinState:
    """no_bags: the shop never ran a lucky bag; no_win: it did, another buyer won;
    otherwise this buyer's one win, settled as ``state``, with the window open or closed."""

    state: str
    window_open: bool = True

    @property
    def id(self) -> str:
        if self.state in ("no_bags", "no_win"):
            return self.state
        return f"{self.state}-{'open' if self.window_open else 'closed'}"

    @property
    def has_bags(self) -> bool:
        return self.state != "no_bags"

    @property
    def buyer_won(self) -> bool:
        return self.state not in ("no_bags", "no_win")


WIN_STATES = (
    WinState("no_bags"),
    WinState("no_win"),
    WinState("unredeemed", True),
    WinState("unredeemed", False),
    WinState("redeemed", True),
    WinState("redeemed", False),
    WinState("failed", True),
    WinState("failed", False),
)


@dataclass(frozen=True)
class Row:
    channel: str
    win: WinState
    bound: bool
    live: str  # live | scheduled | none

    @property
    def id(self) -> str:
        return f"{self.channel}-{self.win.id}-{'bound' if self.bound else 'unbound'}-{self.live}"


MATRIX = [
    Row(channel, win, bound, live)
    for channel, win, bound, live in itertools.product(
        CHANNELS, WIN_STATES, (True, False), LIVE_STATES
    )
]


# ----- the expected table ------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedWin:
    status: str
    label: str
    action: str
    action_label: str
    enabled: bool
    hint: str


@dataclass(frozen=True)
class ExpectedLive:
    kind: str
    label: str
    enabled: bool
    hint: str


@dataclass(frozen=True)
class Expected:
    button: bool
    wins: tuple[ExpectedWin, ...]
    live_entry: ExpectedLive | None

    @property
    def no_wins_message(self) -> str | None:
        """The panel says so when the button shows but this buyer has no wins here."""
        return NO_WINS_MESSAGE if self.button and not self.wins else None


def expected_win(win: WinState) -> ExpectedWin:
    """The L3/L4 table: status, label, the action and its state, the "?" hint."""
    if win.state == "redeemed":
        return ExpectedWin("redeemed", "已兑奖", "send_order_card", "发送订单", True, "")
    if win.state == "failed":
        return ExpectedWin(
            "failed", "兑奖失败", "send_redeem_link", "发送兑奖链接", False, HINT_FAILED
        )
    if win.window_open:
        return ExpectedWin("unredeemed", "未兑奖", "send_redeem_link", "发送兑奖链接", True, "")
    # Past the window: reads 未兑奖 (seed 001), the action disabled with the hint (F6).
    return ExpectedWin("expired", "未兑奖", "send_redeem_link", "发送兑奖链接", False, HINT_EXPIRED)


def expected_live(row: Row) -> ExpectedLive | None:
    """L5: nothing for an unbound shop; 直播链接 when live; else 直播预告 (disabled when
    nothing is scheduled)."""
    if not row.bound:
        return None
    if row.live == "live":
        return ExpectedLive("live_link", "直播链接", True, "")
    if row.live == "scheduled":
        return ExpectedLive("live_preview", "直播预告", True, "")
    return ExpectedLive("live_preview", "直播预告", False, HINT_NOTHING_SCHEDULED)


def expected(row: Row) -> Expected:
    button = row.channel in LUCKY_BAG_CHANNELS and row.win.has_bags
    wins = (expected_win(row.win),) if button and row.win.buyer_won else ()
    return Expected(button=button, wins=wins, live_entry=expected_live(row))


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS[channel]


# ----- building the rows -------------------------------------------------------------------


@dataclass
class RowWorld:
    row: Row
    shop: ShopFixture
    buyer_id: int
    token: str
    conversation: int
    win_id: int | None  # this buyer's win
    other_win_id: int | None  # another buyer's win in the same shop


ShopKey = tuple[bool, bool, str]  # (has lucky bags, bound, live state)


def shop_key(row: Row) -> ShopKey:
    return (row.win.has_bags, row.bound, row.live)


def build_world(rt: Runtime, make_shop: Any, rows: list[Row]) -> list[RowWorld]:
    """Make every row's world through the real services, in an order that lets one clock
    serve them all: closed-window wins first, the clock past their window, then the open
    ones, then each shop's live (now / scheduled / none) and the conversations.

    One shop per (has lucky bags, bound, live state); in it one buyer per win state (the
    win is the buyer's, not the shop's), each with one conversation per channel; every shop
    with lucky bags also has a win of another buyer (the no_win buyer's shop did run bags).
    Returned in shop order, so a browser can log in once per shop."""
    scene = Scene(rt)
    shops: dict[ShopKey, ShopFixture] = {}
    buyers: dict[tuple[ShopKey, WinState], tuple[int, str]] = {}
    for row in rows:
        key = shop_key(row)
        if key not in shops:
            has_bags, bound, live = key
            n = len(shops)
            shops[key] = make_shop(
                f"{'福袋' if has_bags else '无福袋'}·{'绑定' if bound else '未绑定'}·{live}",
                douyin_account=f"dy_matrix_{n}" if bound else None,
            )
        if (key, row.win) not in buyers:
            buyers[(key, row.win)] = scene.buyer(f"买家·{row.win.id}")

    wins: dict[tuple[ShopKey, WinState], int] = {}
    closed = [kw for kw in buyers if kw[1].buyer_won and not kw[1].window_open]
    if closed:
        wins.update(_draw_and_settle(scene, shops, buyers, closed))
        rt.clock.advance(WINDOW_PASSED_SECONDS)
    opened = [kw for kw in buyers if kw[1].buyer_won and kw[1].window_open]
    wins.update(_draw_and_settle(scene, shops, buyers, opened))
    others = _others_win(scene, [(key, fixture) for key, fixture in shops.items() if key[0]])

    for (_, _, live), fixture in shops.items():
        if live == "live":
            scene.live(fixture.shop_id)
        elif live == "scheduled":
            scene.live(fixture.shop_id, start_in=3600, go_live=False)

    built = []
    for row in sorted(rows, key=lambda r: repr(shop_key(r))):
        key = shop_key(row)
        buyer_id, token = buyers[(key, row.win)]
        built.append(
            RowWorld(
                row=row,
                shop=shops[key],
                buyer_id=buyer_id,
                token=token,
                conversation=scene.conversation(shops[key].shop_id, buyer_id, row.channel),
                win_id=wins.get((key, row.win)),
                other_win_id=others.get(key),
            )
        )
    return built


def _draw_and_settle(
    scene: Scene,
    shops: dict[ShopKey, ShopFixture],
    buyers: dict[tuple[ShopKey, WinState], tuple[int, str]],
    which: list[tuple[ShopKey, WinState]],
) -> dict[tuple[ShopKey, WinState], int]:
    """One draw for all: each buyer wins; then redeem or fail the win as its state says."""
    pairs = [(shops[key].shop_id, buyers[(key, win)][0]) for key, win in which]
    drawn = scene.won_many(pairs)
    for (key, win), got in zip(which, drawn, strict=True):
        buyer_id = buyers[(key, win)][0]
        if win.state == "redeemed":
            scene.redeem(got.token)
        elif win.state == "failed":
            scene.block(buyer_id)
            assert scene.redeem(got.token).status.value == "failed"
            scene.block(buyer_id, False)
    return {kw: got.id for kw, got in zip(which, drawn, strict=True)}


def _others_win(scene: Scene, shops: list[tuple[ShopKey, ShopFixture]]) -> dict[ShopKey, int]:
    """A win of another buyer in every shop that runs lucky bags."""
    pairs = [(fixture.shop_id, scene.buyer("别的买家")[0]) for _, fixture in shops]
    drawn = scene.won_many(pairs)
    return {key: got.id for (key, _), got in zip(shops, drawn, strict=True)}

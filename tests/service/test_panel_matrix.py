"""L4/L5: the 飞鸽 context panel over the full matrix, asserted on the open API.

channel (抖音 / 抖音极速版 / 头条) × shop has lucky bags (no / yes: the buyer's win is
未兑奖, 已兑奖 or 兑奖失败, with the window open or closed) × shop bound 人店一体 (yes / no)
× live now (yes / no). For every row the panel must show exactly the expected button,
statuses, action states and hints, and the server must accept exactly the enabled actions
(each accepted action lands in the buyer's inbox) and refuse the others with a reason.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from tests.luckybags.helpers import Scene
from xiaodian.runtime import Runtime

CHANNELS = ("douyin", "douyin_lite", "toutiao")
# (state after the draw, redemption window open?) — None: the shop never ran a lucky bag.
WIN_STATES: tuple[tuple[str, bool] | None, ...] = (
    None,
    ("unredeemed", True),
    ("unredeemed", False),
    ("redeemed", True),
    ("redeemed", False),
    ("failed", True),
    ("failed", False),
)


@dataclass(frozen=True)
class Row:
    channel: str
    win: tuple[str, bool] | None
    bound: bool
    live: bool

    @property
    def id(self) -> str:
        win = (
            "no-bags"
            if self.win is None
            else f"{self.win[0]}-{'open' if self.win[1] else 'closed'}"
        )
        return (
            f"{self.channel}-{win}-{'bound' if self.bound else 'unbound'}-"
            f"{'live' if self.live else 'notlive'}"
        )


MATRIX = [
    Row(channel, win, bound, live)
    for channel, win, bound, live in itertools.product(
        CHANNELS, WIN_STATES, (True, False), (True, False)
    )
]


def expected_win(state: str, window_open: bool) -> tuple[str, str, str, bool, str]:
    """(status, label, action, enabled, hint) — the L3/L4 table."""
    if state == "redeemed":
        return "redeemed", "已兑奖", "send_order_card", True, ""
    if state == "failed":
        return "failed", "兑奖失败", "send_redeem_link", False, "风控拦截,请联系平台客服"
    if window_open:
        return "unredeemed", "未兑奖", "send_redeem_link", True, ""
    return "expired", "已过期", "send_redeem_link", False, "已超过兑奖期限"


def build(rt: Runtime, make_shop: Any, row: Row) -> dict[str, Any]:
    """Make the row's world through the real services and sweeps."""
    scene = Scene(rt)
    shop = make_shop(douyin_account=f"dy_{row.id.replace('-', '_')}"[:60] if row.bound else None)
    buyer, token = scene.buyer("小红")
    win_id = None
    if row.win is not None:
        state, window_open = row.win
        win = scene.won(shop.shop_id, buyer)
        win_id = win.id
        if state == "redeemed":
            scene.redeem(win.token)
        elif state == "failed":
            scene.block(buyer)
            assert scene.redeem(win.token).status.value == "failed"
            scene.block(buyer, False)
        if not window_open:
            rt.clock.advance(8 * 86400)
    # A later live: started now (live) or left scheduled (直播预告).
    scene.live(shop.shop_id, start_in=0 if row.live else 3600, go_live=row.live)
    conversation = scene.conversation(shop.shop_id, buyer, row.channel)
    return {"shop": shop, "token": token, "win_id": win_id, "conversation": conversation}


def _inbox(client: Any, token: str) -> list[dict[str, Any]]:
    page = client.get("/buyer/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    items: list[dict[str, Any]] = page.json()["items"]
    return items


@pytest.mark.parametrize("row", MATRIX, ids=[r.id for r in MATRIX])
def test_L4_L5_panel_and_actions_over_the_full_matrix(
    rt: Runtime, client: Any, make_shop: Any, row: Row
) -> None:
    world = build(rt, make_shop, row)
    api, conv = world["shop"].api, world["conversation"]
    base = f"/api/v1/service/conversations/{conv}"
    panel = api.get(base)
    assert panel.status_code == 200, panel.text
    body = panel.json()

    # L4: the 中奖福袋 button.
    qualifies = row.channel in ("douyin", "douyin_lite") and row.win is not None
    assert body["lucky_bag_button"] is qualifies
    if qualifies:
        assert row.win is not None
        status, label, action, enabled, hint = expected_win(*row.win)
        [win] = body["wins"]
        assert (win["status"], win["status_label"]) == (status, label)
        assert win["action"] == {
            "name": action,
            "label": "发送订单" if action == "send_order_card" else "发送兑奖链接",
            "enabled": enabled,
            "hint": hint,
        }
    else:
        assert body["wins"] == []

    # L4 on the server: exactly the enabled action is accepted; it reaches the buyer's inbox.
    win_id = world["win_id"] or 999_999
    for name in ("send_redeem_link", "send_order_card"):
        before = len(_inbox(client, world["token"]))
        answer = api.post(f"{base}/{name}", {"win_id": win_id})
        allowed = qualifies and action == name and enabled
        if allowed:
            assert answer.status_code == 200, answer.text
            newest = _inbox(client, world["token"])[0]
            if name == "send_redeem_link":
                assert newest["kind"] == "link"
                assert newest["payload"]["url"].startswith("/buyer/luckybags/wins/")
            else:
                assert newest["kind"] == "card"
                assert newest["payload"]["status_label"] == "待发货"
                assert newest["payload"]["tracking_no"] is None
        else:
            assert answer.status_code == 409, (name, answer.text)
            problem = answer.json()
            assert problem["rule"] == "L4"
            if not qualifies:
                assert problem["code"] == "lucky_bags_unavailable"
            elif status == "failed":
                assert problem["message_zh"] == "风控拦截,请联系平台客服"
            elif status == "expired":
                assert problem["message_zh"] == "已超过兑奖期限"
            assert len(_inbox(client, world["token"])) == before

    # L5: 直播链接 when live now, 直播预告 otherwise — only for bound shops.
    entry = body["live_entry"]
    if not row.bound:
        assert entry is None
    elif row.live:
        assert (entry["kind"], entry["label"], entry["enabled"]) == ("live_link", "直播链接", True)
    else:
        assert (entry["kind"], entry["label"], entry["enabled"]) == (
            "live_preview",
            "直播预告",
            True,
        )
    for kind in ("live_link", "live_preview"):
        answer = api.post(f"{base}/send_{kind}")
        offered = row.bound and (kind == "live_link") == row.live
        if offered:
            assert answer.status_code == 200, answer.text
            newest = _inbox(client, world["token"])[0]
            assert newest["kind"] == "link" and newest["payload"]["entry"] == kind
        else:
            assert answer.status_code == 409
            assert answer.json()["code"] == (
                "shop_not_bound" if not row.bound else "live_entry_unavailable"
            )


def test_L4_matrix_covers_every_combination() -> None:
    assert len(MATRIX) == 3 * 7 * 2 * 2
    assert len({r.id for r in MATRIX}) == len(MATRIX)

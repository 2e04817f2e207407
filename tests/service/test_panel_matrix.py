"""L4/L5: the 飞鸽 context panel over the full matrix, asserted on the open API.

The matrix and its expected table live in tests/service/matrix.py (the browser test walks
the same rows): channel × the shop's lucky bags and this buyer's win × bound 人店一体 ×
live now / scheduled / neither. For every row the panel must show exactly the expected
button, statuses, action states and hints, and the server must accept exactly the enabled
actions (each accepted action lands in the buyer's inbox) and refuse the others with a reason.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.service.matrix import (
    CHANNELS,
    LIVE_STATES,
    MATRIX,
    WIN_STATES,
    Expected,
    RowWorld,
    build_world,
    channel_label,
    expected,
)
from xiaodian.runtime import Runtime


def _inbox(client: Any, token: str) -> list[dict[str, Any]]:
    page = client.get("/buyer/v1/inbox", headers={"Authorization": f"Bearer {token}"})
    items: list[dict[str, Any]] = page.json()["items"]
    return items


SLICES = list(itertools.product((True, False), LIVE_STATES))


@pytest.mark.parametrize(
    ("bound", "live"), SLICES, ids=[f"{'bound' if b else 'unbound'}-{lv}" for b, lv in SLICES]
)
def test_L4_L5_panel_and_actions_over_the_full_matrix(
    rt: Runtime, client: Any, make_shop: Any, bound: bool, live: str
) -> None:
    """Every row of this (bound, live) slice — channel × lucky bags × win state — built once."""
    rows = [r for r in MATRIX if (r.bound, r.live) == (bound, live)]
    assert len(rows) == len(CHANNELS) * len(WIN_STATES)
    for world in build_world(rt, make_shop, rows):
        want = expected(world.row)
        _check_panel(world, want)
        _check_win_actions(client, world, want)
        _check_live_actions(client, world)


def _check_panel(world: RowWorld, want: Expected) -> None:
    row = world.row
    panel = world.shop.api.get(f"/api/v1/service/conversations/{world.conversation}")
    assert panel.status_code == 200, (row.id, panel.text)
    body = panel.json()
    assert body["conversation"]["channel_label"] == channel_label(row.channel), row.id
    assert body["lucky_bag_button"] is want.button, row.id
    got_wins = [(w["status"], w["status_label"], w["action"]) for w in body["wins"]]
    assert got_wins == [
        (
            w.status,
            w.label,
            {"name": w.action, "label": w.action_label, "enabled": w.enabled, "hint": w.hint},
        )
        for w in want.wins
    ], row.id
    entry = body["live_entry"]
    live = want.live_entry
    got_entry = None if entry is None else (entry["kind"], entry["label"], entry["enabled"])
    assert got_entry == (None if live is None else (live.kind, live.label, live.enabled)), row.id
    if live is not None:
        assert entry["hint"] == live.hint, row.id


def _check_win_actions(client: Any, world: RowWorld, want: Expected) -> None:
    """L4 on the server: exactly the enabled action is accepted; it reaches the inbox."""
    row = world.row
    base = f"/api/v1/service/conversations/{world.conversation}"
    win_id = world.win_id or world.other_win_id or 999_999
    for name in ("send_redeem_link", "send_order_card"):
        before = len(_inbox(client, world.token))
        answer = world.shop.api.post(f"{base}/{name}", {"win_id": win_id})
        mine = want.wins[0] if want.wins else None
        if mine is not None and mine.action == name and mine.enabled:
            assert answer.status_code == 200, (row.id, answer.text)
            newest = _inbox(client, world.token)[0]
            if name == "send_redeem_link":
                assert newest["kind"] == "link", row.id
                assert newest["payload"]["url"].startswith("/buyer/luckybags/wins/"), row.id
            else:
                assert newest["kind"] == "card", row.id
                assert newest["payload"]["status_label"] == "待发货", row.id
                assert newest["payload"]["tracking_no"] is None, row.id
            continue
        problem = answer.json()
        if not want.button:
            assert (answer.status_code, problem["code"]) == (409, "lucky_bags_unavailable"), row.id
        elif mine is None:
            # The shop ran lucky bags, but the win asked for is another buyer's.
            assert answer.status_code == 404, (row.id, answer.text)
        else:
            assert answer.status_code == 409, (row.id, name, answer.text)
            if mine.status in ("failed", "expired"):
                assert problem["message_zh"] == mine.hint, row.id
        if answer.status_code == 409:
            assert problem["rule"] == "L4", row.id
        assert len(_inbox(client, world.token)) == before, row.id


def _check_live_actions(client: Any, world: RowWorld) -> None:
    """L5 on the server: 直播链接 only when live, 直播预告 only when one is scheduled."""
    row = world.row
    base = f"/api/v1/service/conversations/{world.conversation}"
    for kind in ("live_link", "live_preview"):
        answer = world.shop.api.post(f"{base}/send_{kind}")
        offered = row.bound and row.live == ("live" if kind == "live_link" else "scheduled")
        if offered:
            assert answer.status_code == 200, (row.id, answer.text)
            newest = _inbox(client, world.token)[0]
            assert newest["kind"] == "link" and newest["payload"]["entry"] == kind, row.id
            continue
        assert answer.status_code == 409, (row.id, answer.text)
        problem = answer.json()
        assert problem["rule"] == "L5", row.id
        assert problem["code"] == ("live_entry_unavailable" if row.bound else "shop_not_bound")
        if row.bound and row.live == "none" and kind == "live_preview":
            assert problem["message_zh"] == "暂无待开播的直播", row.id


def test_L4_L5_matrix_covers_every_combination() -> None:
    assert len(MATRIX) == len(CHANNELS) * len(WIN_STATES) * 2 * len(LIVE_STATES) == 192
    assert len({r.id for r in MATRIX}) == len(MATRIX)
    assert {"web", "toutiao"} <= {r.channel for r in MATRIX}
    assert {"no_bags", "no_win"} <= {r.win.id for r in MATRIX}

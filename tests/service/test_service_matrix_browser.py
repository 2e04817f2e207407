"""L4/L5 in real Chromium: every row of the 飞鸽 button/action matrix (tests/service/matrix.py,
the same table the API test asserts), read off the rendered console page of each row's
conversation — the 中奖福袋 button shown or not, each win's status label and action state
(enabled, or disabled with its "?" hint), the empty-list message, and 直播链接 / 直播预告 /
neither. All shops and conversations are built once; one browser page walks every row."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import pytest

from tests.browser import login
from tests.service.matrix import MATRIX, Expected, RowWorld, build_world, channel_label, expected
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser

# What the agent sees, read in one round trip; "shown" means laid out on screen.
READ_PANEL = """() => {
  const q = (s, root = document) => root.querySelector(s);
  const shown = (el) => !!el && el.getClientRects().length > 0;
  const button = q('[data-testid=lucky-bag-button]');
  const wins = [...document.querySelectorAll('[data-testid=lucky-bag-panel] .win')].map((w) => {
    const action = q('form button', w);
    const hint = q('[data-testid=win-hint]', w);
    return {
      shown: shown(w),
      status: w.dataset.status,
      label: q('[data-testid=win-status]', w).innerText.trim(),
      action: action.dataset.testid,
      action_label: action.innerText.trim(),
      enabled: !action.disabled,
      hint: hint ? hint.getAttribute('title') : '',
      hint_mark: hint ? hint.innerText.trim() : '',
    };
  });
  const empty = q('[data-testid=no-wins]');
  const entries = [...document.querySelectorAll('[data-testid=live-entry] button')];
  const liveHint = q('[data-testid=live-hint]');
  return {
    channel: q('[data-testid=channel]').innerText.trim(),
    button: shown(button) ? button.innerText.trim() : null,
    wins,
    empty: shown(empty) ? empty.innerText.trim() : null,
    entries: entries.map((b) => ({
      kind: b.dataset.testid, label: b.innerText.trim(), enabled: !b.disabled, shown: shown(b),
    })),
    live_hint: liveHint ? [liveHint.getAttribute('title'), liveHint.innerText.trim()] : null,
  };
}"""


def test_L4_L5_every_matrix_row_on_the_rendered_console(
    browser_page: Any, live_server: str, rt: Runtime, make_shop: Any
) -> None:
    worlds = build_world(rt, make_shop, MATRIX)
    page = browser_page
    checked = 0
    for _, shop_rows in groupby(worlds, key=lambda w: w.shop.shop_id):
        rows = list(shop_rows)
        page.context.clear_cookies()
        login(page, live_server, rows[0].shop.username, rows[0].shop.password)
        for world in rows:
            _check_row(page, live_server, world, expected(world.row))
            checked += 1
    assert checked == len(MATRIX) == 192


def _check_row(page: Any, base: str, world: RowWorld, want: Expected) -> None:
    row = world.row
    answer = page.goto(f"{base}/console/service/{world.conversation}")
    assert answer.status == 200, row.id
    if want.button:
        page.click("[data-testid=lucky-bag-button]")  # opens the list, as the agent does
    got = page.evaluate(READ_PANEL)
    assert got["channel"] == channel_label(row.channel), row.id
    assert got["button"] == ("中奖福袋" if want.button else None), row.id
    assert got["wins"] == [
        {
            "shown": True,
            "status": w.status,
            "label": w.label,
            "action": w.action,
            "action_label": w.action_label,
            "enabled": w.enabled,
            "hint": w.hint,
            "hint_mark": "?" if w.hint else "",
        }
        for w in want.wins
    ], row.id
    assert got["empty"] == want.no_wins_message, row.id
    live = want.live_entry
    assert got["entries"] == (
        []
        if live is None
        else [{"kind": live.kind, "label": live.label, "enabled": live.enabled, "shown": True}]
    ), row.id
    live_hint = [live.hint, "?"] if live is not None and live.hint else None
    assert got["live_hint"] == live_hint, row.id

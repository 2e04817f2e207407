"""The pure S4 rules: the minimum password rule and the lockout backoff, and the nav's
``can_open`` that keeps links to refused pages out of the console (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xiaodian.accounts.rules import locked_until, lockout_seconds, password_problems
from xiaodian.accounts.service import Principal
from xiaodian.web.nav import can_open


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("secret-pass-1", True),
        ("中文密码也可以用的", True),
        ("a" * 8, False),
        ("        ", False),
        ("\u3000" * 8, False),  # ideographic spaces are whitespace too
        ("\n\t\n\t\n\t\n\t", False),
        ("ab" * 4, True),
        ("1234567", False),
        ("x" * 129 + "y", False),
    ],
)
def test_S4_password_rule(password: str, ok: bool) -> None:
    assert (password_problems(password, 8) == []) is ok


def test_S4_password_rule_minimum_length_is_a_parameter() -> None:
    assert password_problems("abcdefgh", 8) == []
    assert password_problems("abcdefgh", 12)[0]["message_zh"] == "密码至少12位"


def test_S4_lockout_starts_at_the_threshold_doubles_and_is_capped() -> None:
    assert [lockout_seconds(n, 5, 60, 3600) for n in range(4, 12)] == [
        0,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]
    assert lockout_seconds(10_000, 5, 60, 3600) == 3600
    last = datetime(2026, 12, 7, tzinfo=UTC)
    assert locked_until(4, last, 5, 60, 3600) is None
    assert locked_until(6, last, 5, 60, 3600) == last + timedelta(seconds=120)


def test_S5_console_links_follow_grants_can_open() -> None:
    clerk = Principal(shop_id=1, user_id=2, permissions=frozenset({"orders.view"}))
    main = Principal(shop_id=1, user_id=1, is_main=True)
    assert can_open(clerk, "/console/orders/12")
    assert not can_open(clerk, "/console/orders/ship_batch")
    assert not can_open(clerk, "/console/funds/balance?before_id=3")
    assert not can_open(clerk, "/console/settings/users")
    assert can_open(clerk, "/console/settings/password")
    assert can_open(clerk, "/console/notices?show=unread")
    assert all(can_open(main, p) for p in ("/console/funds/deposit", "/console/settings/users"))
    assert not can_open(None, "/console/")

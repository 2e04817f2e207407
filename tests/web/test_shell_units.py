"""The shell's pure parts: the menu's enabled/greyed/hidden entries and the display filters."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI

from xiaodian.accounts.service import Principal
from xiaodian.web.nav import NavLink, build_nav
from xiaodian.web.render import environment, mask_phone


class _User:
    def __init__(self, is_main: bool, permissions: set[str]) -> None:
        self.principal = Principal(
            shop_id=1, user_id=2, is_main=is_main, permissions=frozenset(permissions)
        )
        self.is_main = is_main

    def can(self, permission: str) -> bool:
        return self.principal.can(permission)


def _menu(served: set[str], user: _User, path: str = "/console/") -> dict[str, NavLink]:
    app = FastAPI()
    app.state.console_get_paths = frozenset(served)
    request: Any = SimpleNamespace(app=app, url=SimpleNamespace(path=path))
    return {link.label: link for group in build_nav(request, user) for link in group.links}


def test_menu_links_only_pages_that_exist_and_greys_the_rest() -> None:
    menu = _menu({"/console/", "/console/orders", "/console/orders/{order_id}"}, _User(True, set()))
    assert menu["订单管理"].enabled
    assert not menu["违规处理"].enabled  # a path parameter route is not that page
    assert not menu["福袋"].enabled
    assert menu["子账号与权限"].label == "子账号与权限"  # main account sees every entry


def test_X2_menu_hides_entries_the_sub_account_may_not_use() -> None:
    menu = _menu({"/console/", "/console/funds/balance"}, _User(False, {"orders.view"}))
    assert "订单管理" in menu and "违规处理" in menu
    assert "账户余额" not in menu and "保证金" not in menu
    assert "子账号与权限" not in menu  # main account only
    assert "站内通知" in menu and "首页" in menu


def test_menu_marks_the_section_of_a_sub_page_active() -> None:
    served = {"/console/", "/console/orders", "/console/orders/violations"}
    menu = _menu(served, _User(True, set()), path="/console/orders/violations/12")
    assert menu["违规处理"].active
    assert not menu["订单管理"].active
    assert not menu["首页"].active


def test_filters_format_money_time_and_phone() -> None:
    template = environment.from_string("{{ fen|yuan }} {{ when|dt }} {{ phone|mask_phone }}")
    shown = template.render(
        fen=123450,
        when=datetime(2026, 11, 2, 2, 0, 5, tzinfo=UTC),
        phone="13812348000",
        request=None,
    )
    assert shown == "1,234.50 2026-11-02 10:00:05 138****8000"
    assert mask_phone("") == ""
    assert environment.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"

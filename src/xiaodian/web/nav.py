"""The console's left menu: the platform's sections, in its words.

An entry is a link only when the app really serves a GET page at that exact path; otherwise
it is shown greyed as "建设中" — no placeholder pages. Entries the user may not use are hidden,
and ``can_open`` lets a page's template hide a link to another page the user may not open
(issue 11: console links follow grants).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import fastapi.routing
from fastapi import FastAPI, Request

MAIN_ONLY = "@main"  # pseudo-permission: only the main account (主账号) sees the entry


@dataclass(frozen=True)
class NavEntry:
    label: str
    path: str
    permission: str | None = None
    # Shown only while the app serves it (the 演示手机 of a demo), never greyed as 建设中.
    only_when_served: bool = False


@dataclass(frozen=True)
class NavSection:
    title: str
    entries: tuple[NavEntry, ...]


@dataclass(frozen=True)
class NavLink:
    label: str
    path: str
    enabled: bool
    active: bool


@dataclass(frozen=True)
class NavGroup:
    title: str
    links: tuple[NavLink, ...]


SECTIONS: tuple[NavSection, ...] = (
    NavSection("首页", (NavEntry("首页", "/console/"),)),
    NavSection("商品", (NavEntry("商品管理", "/console/products", "orders.view"),)),
    NavSection(
        "订单",
        (
            NavEntry("订单管理", "/console/orders", "orders.view"),
            NavEntry("违规处理", "/console/orders/violations", "orders.view"),
            NavEntry("导出记录", "/console/orders/exports", "orders.export"),
            NavEntry("店铺评级", "/console/orders/rating", "orders.view"),
        ),
    ),
    NavSection(
        "售后",
        (
            NavEntry("售后工作台", "/console/aftersales", "aftersales.handle"),
            NavEntry("售后小助手", "/console/aftersales/assistant", "aftersales.assistant"),
        ),
    ),
    NavSection(
        "营销",
        (
            NavEntry("店铺红包", "/console/redpackets", "redpackets.manage"),
            NavEntry("卡券中心", "/console/coupons", "coupons.manage"),
            NavEntry("卡券审核", "/console/coupons/review", "coupons.manage"),
            NavEntry("卡券投放", "/console/coupons/campaigns", "coupons.manage"),
            NavEntry("卡券核销", "/console/coupons/verify", "coupons.verify"),
            NavEntry("核销人员", "/console/coupons/staff", "settings.manage"),  # F4
        ),
    ),
    NavSection(
        "直播/福袋",
        (
            NavEntry("直播", "/console/live", "luckybags.manage"),
            NavEntry("福袋", "/console/luckybags", "luckybags.manage"),
        ),
    ),
    NavSection("飞鸽客服", (NavEntry("飞鸽客服", "/console/service", "service.chat"),)),
    NavSection(
        "资金",
        (
            NavEntry("账户余额", "/console/funds/balance", "funds.view"),
            NavEntry("保证金", "/console/funds/deposit", "funds.view"),
        ),
    ),
    NavSection(
        "消息",
        (
            NavEntry("站内通知", "/console/notices"),
            NavEntry("演示手机", "/console/demo-phone", only_when_served=True),
            NavEntry("规则说明", "/console/rules"),  # U5: the legend the rule badges link to
        ),
    ),
    NavSection(
        "设置",
        (
            NavEntry("子账号与权限", "/console/settings/users", MAIN_ONLY),
            NavEntry("开放平台应用", "/console/settings/apps", "apps.manage"),
            NavEntry("抖店授权码", "/console/settings/doudian-codes", "apps.manage"),
            NavEntry("Webhook", "/console/settings/webhooks", "apps.manage"),
            NavEntry("门店与核销人员", "/console/settings/stores", "settings.manage"),
            NavEntry("修改密码", "/console/settings/password"),
        ),
    ),
)

# Pages outside the menu whose permission differs from the menu entry they sit under.
OTHER_PAGES: tuple[NavEntry, ...] = (
    NavEntry("批量发货", "/console/orders/ship_batch", "orders.ship"),
)


class _User(Protocol):
    """What the menu needs to know of the user."""

    @property
    def is_main(self) -> bool: ...

    def can(self, permission: str) -> bool: ...


def get_paths(app: FastAPI) -> frozenset[str]:
    """Paths the app serves with GET (computed once; routers are all included at start)."""
    cached = getattr(app.state, "console_get_paths", None)
    if isinstance(cached, frozenset):
        return cached
    paths = frozenset(path for path, methods in _served_routes(app) if "GET" in methods)
    app.state.console_get_paths = paths
    return paths


def _served_routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str]]]:
    """(path, methods) of every route, looking inside included routers.

    Recent FastAPI keeps included routers as lazy branches; ``iter_route_contexts`` flattens
    them. Older versions list the flattened routes directly in ``app.routes``."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: Iterable[Any] = flatten(app.routes) if flatten is not None else app.routes
    for route in routes:
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        if isinstance(path, str) and methods:
            yield path, frozenset(methods)


def allowed(entry: NavEntry, user: _User) -> bool:
    if entry.permission is None:
        return True
    if entry.permission == MAIN_ONLY:
        return user.is_main
    return user.can(entry.permission)


def page_entry(path: str) -> NavEntry | None:
    """The menu entry (or other known page) a console path belongs to: the longest entry path
    that prefixes it, query ignored. ``None`` for a path outside every entry."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    entries = [entry for section in SECTIONS for entry in section.entries] + list(OTHER_PAGES)
    matches = [entry for entry in entries if _within(path, entry.path)]
    return max(matches, key=lambda entry: len(entry.path), default=None)


def can_open(user: _User | None, path: str) -> bool:
    """Whether ``user`` may open the console page at ``path`` (links to it are shown only
    then). Paths outside the console are not ours to judge: True."""
    if not path.startswith("/console"):
        return True
    if user is None:
        return False
    entry = page_entry(path)
    return entry is None or allowed(entry, user)


def build_nav(request: Request, user: _User) -> list[NavGroup]:
    served = get_paths(request.app)
    active = _active_path(request.url.path, served)
    groups = []
    for section in SECTIONS:
        links = tuple(
            NavLink(entry.label, entry.path, entry.path in served, entry.path == active)
            for entry in section.entries
            if allowed(entry, user) and (entry.path in served or not entry.only_when_served)
        )
        if links:
            groups.append(NavGroup(section.title, links))
    return groups


def enabled_links(request: Request, user: _User) -> list[NavLink]:
    """Every page the user can open now (the dashboard's shortcuts)."""
    return [link for group in build_nav(request, user) for link in group.links if link.enabled]


def _active_path(current: str, served: frozenset[str]) -> str | None:
    """The menu entry a page belongs to: the longest entry path that prefixes it."""
    candidates = [
        entry.path
        for section in SECTIONS
        for entry in section.entries
        if entry.path in served and _within(current, entry.path)
    ]
    return max(candidates, key=len, default=None)


def _within(current: str, entry_path: str) -> bool:
    if entry_path == "/console/":
        return current in ("/console/", "/console")
    return current == entry_path or current.startswith(entry_path + "/")

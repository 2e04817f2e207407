"""Open-API app scopes (issue 11 S2): what an app may do, chosen when it is created.

Pure decisions, no database. A route declares its scope through the principal it takes
(``OrdersApp``, ``FundsApp``… in ``xiaodian.api.deps``); a permission checked inside a route
(``principal.require("funds.topup")``) maps to the scope an app needs for it. A sub-account
(with the ``apps.manage`` grant) may only give an app scopes it could use itself, so an app
never holds more than the person who created it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from xiaodian.errors import PermissionDenied, ValidationFailed

if TYPE_CHECKING:
    from xiaodian.accounts.models import ApiApp
    from xiaodian.accounts.service import Principal

# Scope code → console label (the order is the console's).
APP_SCOPES: dict[str, str] = {
    "shop": "店铺、门店与核销人员",
    "orders": "商品与订单（含发货、导出）",
    "aftersales": "售后",
    "funds": "资金（余额、保证金、充值）",
    "marketing": "营销（店铺红包、直播与福袋）",
    "coupons": "卡券与活动",
    "verification": "门店核销（v2）",
    "service": "飞鸽客服",
    "notices": "站内通知",
    "webhooks": "Webhook 与事件",
    "simulation": "模拟控制（模拟时钟，仅测试环境）",
}

# What a new app gets when its creator chooses nothing.
DEFAULT_APP_SCOPES: tuple[str, ...] = ("shop", "orders", "aftersales")

# What apps created before scopes existed were given by the migration (they could call every
# route then; simulation was unauthenticated and is now an explicit choice).
LEGACY_APP_SCOPES: tuple[str, ...] = tuple(s for s in APP_SCOPES if s != "simulation")

# Permission (as in accounts.models.PERMISSIONS) → the scope an app needs for it.
PERMISSION_SCOPES: dict[str, str] = {
    "orders.view": "orders",
    "orders.ship": "orders",
    "orders.export": "orders",
    "aftersales.handle": "aftersales",
    "aftersales.assistant": "aftersales",
    "redpackets.manage": "marketing",
    "luckybags.manage": "marketing",
    "coupons.manage": "coupons",
    "coupons.verify": "verification",
    "service.chat": "service",
    "funds.view": "funds",
    "funds.topup": "funds",
    "settings.manage": "shop",
    "apps.manage": "webhooks",
}

# Scope → the permissions a sub-account must hold to give it to an app. A scope missing here
# (simulation) is the main account's alone; an empty tuple means any creator may give it.
SCOPE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "shop": ("settings.manage",),
    "orders": ("orders.view", "orders.ship", "orders.export"),
    "aftersales": ("aftersales.handle", "aftersales.assistant"),
    "funds": ("funds.view", "funds.topup"),
    "marketing": ("redpackets.manage", "luckybags.manage"),
    "coupons": ("coupons.manage",),
    "verification": ("coupons.verify",),
    "service": ("service.chat",),
    "notices": (),
    "webhooks": ("apps.manage",),
}


class ScopeMissing(PermissionDenied):
    """403 ``scope_missing``: the app was not given the scope this route needs."""

    def __init__(self, scope: str) -> None:
        label = APP_SCOPES.get(scope, scope)
        super().__init__(
            "scope_missing",
            f"应用没有“{label}”（{scope}）权限范围，请创建带此范围的应用。",
            f"This app lacks the '{scope}' scope; create an app with that scope.",
            field="scope",
            rule="S2",
        )
        self.scope = scope


def scope_for(permission: str) -> str:
    """The scope an app needs for ``permission``; an unmapped permission needs one no app has
    (fail closed)."""
    return PERMISSION_SCOPES.get(permission, f"unmapped:{permission}")


def parse_scopes(stored: str) -> frozenset[str]:
    """The stored comma-separated column → the set (unknown codes are dropped)."""
    return frozenset(part for part in stored.split(",") if part in APP_SCOPES)


def app_has_scope(app: ApiApp, scope: str) -> bool:
    """S2: whether an app was given ``scope`` — the one check the platform dialects (/doudian,
    /douyin) share with the native routes' scoped principals."""
    return scope in parse_scopes(app.scopes)


def format_scopes(scopes: Iterable[str]) -> str:
    """The set → the stored column, in catalog order."""
    chosen = set(scopes)
    return ",".join(s for s in APP_SCOPES if s in chosen)


def choose_scopes(
    requested: Iterable[str] | None, *, is_main: bool, permissions: frozenset[str]
) -> tuple[str, ...]:
    """The scopes a new app gets: ``requested`` (``None`` → the default set), checked against
    the catalog and against what the creator may give (S2: no escalation through an app)."""
    wanted = list(DEFAULT_APP_SCOPES if requested is None else requested)
    unknown = sorted({s for s in wanted if s not in APP_SCOPES})
    if unknown:
        raise ValidationFailed(
            "unknown_scope",
            f"未知的权限范围：{'、'.join(unknown)}",
            f"Unknown scope(s): {', '.join(unknown)}",
            field="scopes",
        )
    if not wanted:
        raise ValidationFailed(
            "scopes_required",
            "请至少选择一个权限范围",
            "Choose at least one scope",
            field="scopes",
        )
    if not is_main:
        beyond = [s for s in APP_SCOPES if s in wanted and not _may_give(s, permissions)]
        if beyond:
            labels = "、".join(APP_SCOPES[s] for s in beyond)
            raise PermissionDenied(
                "scope_not_grantable",
                f"不能授予应用自己没有的权限：{labels}。请联系主账号。",
                f"You cannot give an app scopes you do not hold yourself: {', '.join(beyond)}",
                field="scopes",
            )
    chosen = set(wanted)
    return tuple(s for s in APP_SCOPES if s in chosen)


def may_give(creator: Principal, scope: str) -> bool:
    """Whether a merchant user may give ``scope`` to a new app (the console greys out the
    others)."""
    return creator.is_main or _may_give(scope, creator.permissions)


def _may_give(scope: str, permissions: frozenset[str]) -> bool:
    needed = SCOPE_PERMISSIONS.get(scope)
    if needed is None:
        return False
    return all(p in permissions for p in needed)

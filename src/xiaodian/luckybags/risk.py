"""Risk control run at redemption (L3): a pluggable policy with a default implementation.

A policy answers one question — may this redemption go through? — with a verdict that
carries its reason (code + Chinese + English). A refusal is recorded on the win as
兑奖失败 and the buyer is told to contact platform support (请联系平台客服).

The default policy (``DefaultRiskPolicy``) refuses:

* a buyer on the platform's blocked list (``Buyer.blocked``);
* an address that already received more than ``risk_max_wins_per_address`` prizes of this
  shop within ``risk_window_days`` (the new one would make it "more than N");
* a device likewise (``risk_max_wins_per_device``).

Counts are per shop (tenant tables are always read with their shop_id); a platform-wide
policy can be plugged in by passing another ``RiskPolicy`` to ``service.redeem``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, func, select

from xiaodian.accounts.models import Buyer
from xiaodian.context import Ctx
from xiaodian.luckybags.models import LuckyBagWin

_NOT_ADDRESS = re.compile(r"[\s,,。.、;;:：\-—_#()()]+")


def address_key(address: str) -> str:
    """The same address however it is typed: whitespace/punctuation removed, lower case."""
    normalized = _NOT_ADDRESS.sub("", address).lower()
    return hashlib.sha256(normalized.encode()).hexdigest()


@dataclass(frozen=True)
class RedemptionAttempt:
    win: LuckyBagWin
    buyer: Buyer
    address_key: str
    device_id: str


@dataclass(frozen=True)
class RiskVerdict:
    ok: bool
    code: str = ""
    reason_zh: str = ""
    reason_en: str = ""


PASS = RiskVerdict(ok=True)


class RiskPolicy(Protocol):
    def check(self, ctx: Ctx, attempt: RedemptionAttempt) -> RiskVerdict: ...


class DefaultRiskPolicy:
    """L3 default rules: blocked buyers; same address / same device winning too often."""

    def check(self, ctx: Ctx, attempt: RedemptionAttempt) -> RiskVerdict:
        rules = ctx.settings.luckybags
        if attempt.buyer.blocked:
            return RiskVerdict(
                False,
                "blocked_buyer",
                "买家在平台风控名单中",
                "The buyer is on the platform's blocked list",
            )
        since = ctx.now - timedelta(days=rules.risk_window_days)
        shop_id = attempt.win.shop_id
        by_address = self._count(
            ctx, shop_id, LuckyBagWin.address_key == attempt.address_key, since
        )
        if by_address >= rules.risk_max_wins_per_address:
            return RiskVerdict(
                False,
                "address_too_frequent",
                f"同一收货地址{rules.risk_window_days}天内中奖兑换超过"
                f"{rules.risk_max_wins_per_address}次",
                f"The same address won more than {rules.risk_max_wins_per_address} times "
                f"in {rules.risk_window_days} days",
            )
        if attempt.device_id:
            by_device = self._count(
                ctx, shop_id, LuckyBagWin.redeem_device == attempt.device_id, since
            )
            if by_device >= rules.risk_max_wins_per_device:
                return RiskVerdict(
                    False,
                    "device_too_frequent",
                    f"同一设备{rules.risk_window_days}天内中奖兑换超过"
                    f"{rules.risk_max_wins_per_device}次",
                    f"The same device won more than {rules.risk_max_wins_per_device} times "
                    f"in {rules.risk_window_days} days",
                )
        return PASS

    @staticmethod
    def _count(ctx: Ctx, shop_id: int, condition: ColumnElement[bool], since: datetime) -> int:
        return int(
            ctx.session.scalar(
                select(func.count()).where(
                    LuckyBagWin.shop_id == shop_id,
                    condition,
                    LuckyBagWin.order_id.is_not(None),
                    LuckyBagWin.redeemed_at >= since,
                )
            )
            or 0
        )


DEFAULT_POLICY: RiskPolicy = DefaultRiskPolicy()

"""The buyer pages' own state (issue 17, F8): buyer sign-in sessions, and the reads the pages
compose from the other contexts' services.

Sign-in: with the buyer's bearer token (issued by ``POST /buyer/v1/register``, checked by
``accounts.buyer_by_token``) or — only in a demo (``storefront.demo_sign_in`` or a simulated
clock) — by picking a demo buyer. Either way the cookie gets a fresh random token whose SHA-256
is a ``storefront_buyer_sessions`` row (the bearer token itself never goes into a cookie).
Claiming, applying, withdrawing, modifying and 申请平台介入 are the coupons' and after-sales'
own service functions, called by ``web.py``; nothing here decides them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts import sessions as account_sessions
from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import service as aftersales
from xiaodian.config import Settings
from xiaodian.errors import PermissionDenied, ValidationFailed
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime
from xiaodian.storefront.models import BuyerSession


@dataclass(frozen=True)
class CurrentBuyer:
    buyer_id: int
    nickname: str
    douyin_id: str

    @property
    def actor(self) -> str:
        return f"buyer:{self.buyer_id}"


def demo_sign_in_enabled(settings: Settings) -> bool:
    """F8: picking a buyer without a token is a demo's convenience only."""
    return settings.storefront.demo_sign_in or settings.clock_mode == "simulated"


def demo_buyers(session: Session, settings: Settings) -> list[Buyer]:
    if not demo_sign_in_enabled(settings):
        return []
    limit = settings.storefront.demo_buyers_shown
    return list(session.scalars(select(Buyer).order_by(Buyer.id).limit(limit)))


def sign_in(rt: Runtime, *, token: str = "", buyer_id: int | None = None) -> str:
    """A buyer page session for the buyer of ``token`` (or, in a demo, ``buyer_id``); returns
    the cookie's token. A wrong token gets ``bad_buyer_token`` (accounts)."""
    now = rt.wall.now()
    with rt.unit(actor="anonymous") as ctx:
        if token.strip():
            buyer = accounts.buyer_by_token(ctx.session, token.strip()[:200])
        elif buyer_id is not None:
            if not demo_sign_in_enabled(rt.settings):
                raise PermissionDenied(
                    "demo_sign_in_disabled",
                    "演示登录未开启，请使用买家凭证登录",
                    "Demo sign-in is off; sign in with a buyer token",
                )
            buyer = accounts.get_buyer(ctx.session, buyer_id)
        else:
            raise ValidationFailed(
                "buyer_token_required",
                "请填写买家凭证",
                "Enter the buyer token",
                field="token",
            )
        cookie = secrets.token_urlsafe(32)
        ctx.session.execute(delete(BuyerSession).where(BuyerSession.expires_at <= now))
        ctx.session.add(
            BuyerSession(
                token_hash=account_sessions.token_hash(cookie),
                buyer_id=buyer.id,
                created_at=now,
                expires_at=now + timedelta(seconds=rt.settings.storefront.session_max_age_seconds),
            )
        )
    return cookie


def buyer_for_session(session: Session, cookie: str, now: datetime) -> CurrentBuyer | None:
    row = session.execute(
        select(Buyer.id, Buyer.nickname, Buyer.douyin_id)
        .join(BuyerSession, BuyerSession.buyer_id == Buyer.id)
        .where(
            BuyerSession.token_hash == account_sessions.token_hash(cookie),
            BuyerSession.expires_at > now,
        )
    ).first()
    if row is None:
        return None
    return CurrentBuyer(row.id, row.nickname, row.douyin_id)


def end_session(session: Session, cookie: str) -> None:
    session.execute(
        delete(BuyerSession).where(BuyerSession.token_hash == account_sessions.token_hash(cookie))
    )


# ----- what the pages show -------------------------------------------------------------------


@dataclass
class OrderView:
    order: Any
    shop_name: str
    items: list[Any]
    requests: list[Any] = field(default_factory=list)  # after-sales of this order, newest first


def my_orders(session: Session, buyer_id: int) -> list[OrderView]:
    """The buyer's orders (newest 100) with their items and after-sale requests."""
    found = orders.buyer_orders(session, buyer_id)
    names = {o.shop_id: accounts.get_shop(session, o.shop_id).name for o in found}
    by_order: dict[int, list[Any]] = {}
    for req in aftersales.buyer_requests(session, buyer_id):
        by_order.setdefault(req.order_id, []).append(req)
    return [
        OrderView(o, names[o.shop_id], orders.order_items(session, o), by_order.get(o.id, []))
        for o in found
    ]

"""The verifier's phone (issue 17, F4; seed 004 如何手机核销): writes and look-ups.

* ``find_user`` / ``add_staff_by_douyin_id`` — the console adds a verifier by searching a
  user's 抖音号 (a platform buyer identity), shows the nickname, then adds them with a store
  scope (``accounts.add_staff``: a second active entry of the same 抖音号 is refused,
  ``staff_exists``).
* ``issue_link`` — a one-time link that binds a phone: a random token shown once (URL and
  QR), only its SHA-256 stored, dead after ``coupons.staff_link_ttl_minutes``.
* ``bind_phone`` — opening the link burns it (a conditional UPDATE: of two phones racing for
  one link exactly one binds) and issues the phone's staff token (``service.issue_staff_token``,
  C5; the phone keeps it in its cookie). Revoking the staff member ends the phone's session
  with every other token of theirs (``service.staff_by_token`` re-reads the staff row).

The decisions (may this link still bind, the phone page's CSRF value) are in ``rules.py``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer, Staff
from xiaodian.context import Ctx
from xiaodian.coupons import rules, service
from xiaodian.coupons.models import StaffLink, StaffToken
from xiaodian.db import rowcount
from xiaodian.errors import ValidationFailed, XiaodianError

LINK_PREFIX = "sl_"
DOUYIN_ID_MAX = 64


class UserNotFound(XiaodianError):
    status = 404


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(session: Session, douyin_id: str) -> Buyer:
    """F4: the user (a platform buyer) with this 抖音号, exactly as typed (spaces trimmed)."""
    wanted = (douyin_id or "").strip()
    if not wanted or len(wanted) > DOUYIN_ID_MAX:
        raise ValidationFailed(
            "invalid_douyin_id", "请填写抖音号", "A Douyin ID is required", field="douyin_id"
        )
    user = session.scalars(select(Buyer).where(Buyer.douyin_id == wanted)).first()
    if user is None:
        raise UserNotFound(
            "douyin_user_not_found",
            f"未找到抖音号为 {wanted} 的用户，请核对后重试",
            f"No user with Douyin ID {wanted}",
            field="douyin_id",
            rule="F4",
        )
    return user


def add_staff_by_douyin_id(
    ctx: Ctx, shop_id: int, douyin_id: str, *, store_ids: list[int] | None
) -> Staff:
    """F4: add the user found by 抖音号 as a verifier (their nickname as the name);
    ``store_ids=None`` is 全部门店."""
    user = find_user(ctx.session, douyin_id)
    return accounts.add_staff(
        ctx, shop_id, douyin_id=user.douyin_id, name=user.nickname, store_ids=store_ids
    )


@dataclass(frozen=True)
class IssuedLink:
    token: str  # shown once; only its hash is stored
    expires_at: datetime
    staff: Staff


def issue_link(ctx: Ctx, shop_id: int, staff_id: int) -> IssuedLink:
    """F4: a one-time phone-binding link for an active verifier of this shop."""
    staff = accounts.get_staff(ctx.session, shop_id, staff_id)
    if staff.revoked_at is not None:
        raise rules.staff_revoked(staff)
    token = LINK_PREFIX + secrets.token_urlsafe(24)
    expires = ctx.now + timedelta(minutes=ctx.settings.coupons.staff_link_ttl_minutes)
    ctx.session.add(
        StaffLink(
            shop_id=shop_id,
            staff_id=staff.id,
            token_hash=_hash(token),
            created_at=ctx.now,
            created_by=ctx.actor[:40],
            expires_at=expires,
        )
    )
    ctx.session.flush()
    return IssuedLink(token=token, expires_at=expires, staff=staff)


@dataclass(frozen=True)
class BoundPhone:
    staff: Staff
    token: str  # the phone's staff token, for its cookie


def bind_phone(ctx: Ctx, link_token: str) -> BoundPhone:
    """F4: burn the link and issue the phone's staff token. Refused (``rules.
    staff_link_refusal``): unknown, already used, expired; or the staff member was revoked
    since (``staff_revoked``)."""
    link = None
    if link_token.startswith(LINK_PREFIX) and len(link_token) <= 100:
        link = ctx.session.scalars(
            select(StaffLink).where(StaffLink.token_hash == _hash(link_token))
        ).first()
    refusal = rules.staff_link_refusal(
        found=link is not None,
        used_at=link.used_at if link else None,
        expires_at=link.expires_at if link else None,
        now=ctx.now,
    )
    if refusal is not None:
        raise refusal
    assert link is not None
    burned = ctx.session.execute(
        update(StaffLink)
        .where(
            StaffLink.id == link.id,
            StaffLink.shop_id == link.shop_id,
            StaffLink.used_at.is_(None),
            StaffLink.expires_at >= ctx.now,
        )
        .values(used_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(burned) != 1:  # another phone opened it first
        raise rules.staff_link_used()
    token = service.issue_staff_token(ctx, link.shop_id, link.staff_id)
    staff = accounts.get_staff(ctx.session, link.shop_id, link.staff_id)
    return BoundPhone(staff=staff, token=token)


def unbind_phone(ctx: Ctx, staff: Staff, token: str) -> None:
    """F4 解除绑定 on the phone: its staff token is deleted (the staff member's other phones
    and apps keep theirs)."""
    ctx.session.execute(
        delete(StaffToken).where(
            StaffToken.shop_id == staff.shop_id,
            StaffToken.staff_id == staff.id,
            StaffToken.token_hash == _hash(token),
        )
    )

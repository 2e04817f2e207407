"""Console logins and sessions (issue 11 S4, S5).

S4 — a login attempt is recorded as a failure *before* the password is checked (and removed
again when it was right), so parallel guesses see each other. A username or a client address
with too many failures in ``console.login_failure_window_seconds`` is locked out, with a
backoff that doubles per further failure (``rules.lockout_seconds``); the main account is told
by an in-site notice when one of its accounts gets locked. Unknown usernames are counted and
locked exactly like real ones, and get the same answer as a wrong password.

S5 — a login creates a ``console_sessions`` row; the browser's cookie carries only the random
token, the database only its SHA-256. Logout deletes the row; changing or resetting a password,
revoking a grant and disabling an account delete all of that account's rows, so every browser
logged in as it is logged out on its next click. Sessions and lockouts run on the wall clock
(a simulated business clock moving days ahead must not log anyone out).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from xiaodian.accounts import passwords
from xiaodian.accounts.models import ConsoleSession, LoginFailure, User
from xiaodian.accounts.rules import locked_until
from xiaodian.config import ConsoleRules
from xiaodian.context import Ctx
from xiaodian.db import rowcount
from xiaodian.errors import AuthFailed, XiaodianError
from xiaodian.notify import service as notify

if TYPE_CHECKING:
    from xiaodian.runtime import Runtime

# Passwords longer than this are not even hashed on login (none can be set: rules caps at 128).
_LOGIN_PASSWORD_MAX = 1024


class LoginLocked(XiaodianError):
    """S4: too many failed logins for this username or from this address."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            "login_locked",
            f"登录失败次数过多，已暂时锁定。请在 {minutes} 分钟后重试。",
            f"Too many failed logins; locked, try again in {minutes} min.",
        )
        self.retry_after = retry_after


def bad_credentials() -> AuthFailed:
    return AuthFailed("bad_credentials", "用户名或密码错误", "Wrong username or password")


def account_disabled() -> AuthFailed:
    return AuthFailed(
        "account_disabled",
        "该账号已被主账号停用，请联系主账号。",
        "This account was disabled by the main account",
    )


@dataclass(frozen=True)
class LoggedIn:
    user_id: int
    token: str  # the cookie's secret; only its hash is stored


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ----- S4 login --------------------------------------------------------------------------------


def log_in(rt: Runtime, username: str, password: str, ip: str) -> LoggedIn:
    """Check a console login; raises ``LoginLocked`` (429), ``HashingBusy`` (503) or
    ``AuthFailed`` (401, the same for an unknown username and a wrong password)."""
    rules = rt.settings.console
    username, ip = username.strip()[:64], (ip or "unknown")[:64]
    now = rt.wall.now()
    with rt.unit(actor="anonymous") as ctx:
        refuse_if_locked(ctx.session, rules, username, ip, now)
        attempt_id = _record_failure(ctx.session, rules, username, ip, now)
        row = ctx.session.execute(
            select(User.id, User.password_hash, User.active, User.shop_id).where(
                User.username == username
            )
        ).first()
    try:
        right = len(password) <= _LOGIN_PASSWORD_MAX and passwords.verify_password(
            row.password_hash if row is not None else passwords.dummy_hash(), password, rules
        )
    except passwords.HashingBusy:
        with rt.unit(actor="anonymous") as ctx:  # not tried: not a failure
            ctx.session.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))
        raise
    if row is None or not right:
        if row is not None:
            with rt.unit(actor="anonymous") as ctx:
                _tell_shop_if_locked(ctx, rules, row.shop_id, username, now)
        raise bad_credentials()
    with rt.unit(actor=f"user:{row.id}") as ctx:
        ctx.session.execute(delete(LoginFailure).where(LoginFailure.username == username))
        if row.active:
            token = create_session(ctx.session, rules, row.id, row.shop_id, ip, now)
    if not row.active:
        raise account_disabled()
    return LoggedIn(user_id=row.id, token=token)


def refuse_if_locked(
    session: Session, rules: ConsoleRules, username: str, ip: str, now: datetime
) -> None:
    """Raise ``LoginLocked`` when the username or the address is locked out at ``now``."""
    since = now - timedelta(seconds=rules.login_failure_window_seconds)
    checks = (
        (LoginFailure.username == username, rules.login_max_failures_per_user),
        (LoginFailure.ip == ip, rules.login_max_failures_per_ip),
    )
    for condition, threshold in checks:
        count, last = session.execute(
            select(func.count(), func.max(LoginFailure.failed_at)).where(
                condition, LoginFailure.failed_at > since
            )
        ).one()
        until = locked_until(
            int(count or 0),
            last,
            threshold,
            rules.login_lockout_seconds,
            rules.login_lockout_max_seconds,
        )
        if until is not None and until > now:
            raise LoginLocked(max(1, math.ceil((until - now).total_seconds())))


def record_failure(
    session: Session, rules: ConsoleRules, username: str, ip: str, now: datetime
) -> None:
    """A wrong password outside the login form (e.g. the current password on 修改密码)."""
    _record_failure(session, rules, username[:64], (ip or "unknown")[:64], now)


def _record_failure(
    session: Session, rules: ConsoleRules, username: str, ip: str, now: datetime
) -> int:
    forget_before = now - timedelta(seconds=rules.login_failure_window_seconds)
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at < forget_before))
    attempt_id: int = session.execute(
        insert(LoginFailure)
        .values(username=username, ip=ip, failed_at=now)
        .returning(LoginFailure.id)
    ).scalar_one()
    return attempt_id


def _tell_shop_if_locked(
    ctx: Ctx, rules: ConsoleRules, shop_id: int, username: str, now: datetime
) -> None:
    """The failure that starts a lockout of a real account leaves a notice for the main
    account (category ``security``: only the main account sees it)."""
    since = now - timedelta(seconds=rules.login_failure_window_seconds)
    count = ctx.session.scalar(
        select(func.count()).where(
            LoginFailure.username == username, LoginFailure.failed_at > since
        )
    )
    if int(count or 0) != rules.login_max_failures_per_user:
        return
    minutes = max(1, math.ceil(rules.login_lockout_seconds / 60))
    notify.notice(
        ctx,
        shop_id,
        category="security",
        title=f"账号 {username} 登录失败次数过多，已暂时锁定",
        body=(
            f"连续 {count} 次密码错误，该账号 {minutes} 分钟内不能登录，继续出错锁定时间加倍。"
            "如非本人操作，请及时修改密码。"
        ),
        link="/console/settings/users",
        rule="S4",
    )


# ----- S5 sessions -----------------------------------------------------------------------------


def create_session(
    session: Session, rules: ConsoleRules, user_id: int, shop_id: int, ip: str, now: datetime
) -> str:
    """A new session for ``user_id``; returns the token for the cookie. Expired sessions of
    every account are deleted on the way (set-based, idempotent)."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=token_hash(token),
            user_id=user_id,
            shop_id=shop_id,
            created_at=now,
            expires_at=now + timedelta(seconds=rules.session_max_age_seconds),
            ip=(ip or "")[:64],
        )
    )
    session.flush()
    return token


def session_user_id(session: Session, token: str, now: datetime) -> int | None:
    """The active account a session token belongs to, or ``None`` (unknown, revoked,
    expired, or the account disabled)."""
    user_id: int | None = session.scalar(
        select(ConsoleSession.user_id)
        .join(User, User.id == ConsoleSession.user_id)
        .where(
            ConsoleSession.token_hash == token_hash(token),
            ConsoleSession.expires_at > now,
            User.active.is_(True),
        )
    )
    return user_id


def end_session(session: Session, token: str) -> None:
    """Logout: this browser's session is gone."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))


def revoke_sessions(session: Session, user_id: int) -> int:
    """Every session of ``user_id`` ends now; returns how many there were."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))
    return rowcount(result)


def count_sessions(session: Session, user_id: int, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                ConsoleSession.user_id == user_id, ConsoleSession.expires_at > now
            )
        )
        or 0
    )

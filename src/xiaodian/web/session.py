"""What the console keeps about a browser: the signed session cookie and per-request state.

The cookie holds the session token (S5: a random secret whose SHA-256 is a ``console_sessions``
row), the CSRF token and pending flash messages. Who is logged in is always the database's
answer for that token: logout, a password change, a revoked grant or a disabled account delete
the row and the next click is logged out. Permissions, shop and badge are re-read on every
request too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts import sessions
from xiaodian.accounts.models import User
from xiaodian.accounts.service import Principal
from xiaodian.db import transaction
from xiaodian.notify import service as notify

TOKEN_KEY = "sid"
CSRF_KEY = "csrf"
FLASH_KEY = "flash"
SHOW_ONCE_KEY = "show_once"


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in merchant account as the shell shows it."""

    user_id: int
    username: str
    display_name: str
    shop_id: int
    shop_name: str
    is_main: bool
    principal: Principal

    def can(self, permission: str) -> bool:
        return self.principal.can(permission)


def load_current_user(session: Session, user_id: int) -> CurrentUser | None:
    """The active user behind a session, or ``None`` (unknown or deactivated: logged out)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    shop = accounts.get_shop(session, user.shop_id)
    return CurrentUser(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name or user.username,
        shop_id=shop.id,
        shop_name=shop.name,
        is_main=user.is_main,
        principal=accounts.principal_for_user(session, user),
    )


def remember(request: Request, user: CurrentUser, session: Session) -> None:
    """Keep the shell's facts for this request (the templates read them)."""
    request.state.console_user = user
    request.state.unread_notices = notify.unread_count(
        session, user.shop_id, principal=user.principal
    )


def current_user(request: Request) -> CurrentUser | None:
    user = getattr(request.state, "console_user", None)
    return user if isinstance(user, CurrentUser) else None


def unread_notices(request: Request) -> int:
    return int(getattr(request.state, "unread_notices", 0) or 0)


def session_token(request: Request) -> str | None:
    if "session" not in request.scope:
        return None
    value = request.session.get(TOKEN_KEY)
    return value if isinstance(value, str) and value else None


def lookup_user_id(request: Request, session: Session) -> int | None:
    """S5: the account this browser's session token belongs to, read in ``session`` (``None``:
    no token, or a session that was ended, expired, or whose account was disabled)."""
    cached = getattr(request.state, "session_user_id", False)
    if cached is not False:
        return cached if isinstance(cached, int) else None
    token = session_token(request)
    user_id = None
    if token is not None:
        user_id = sessions.session_user_id(session, token, request.app.state.rt.wall.now())
    request.state.session_user_id = user_id
    return user_id


def session_user_id(request: Request) -> int | None:
    """The logged-in account's id, or ``None`` — checked against the database (S5), in a
    transaction of its own (console routes get it from ``ConsoleCtx`` instead)."""
    if session_token(request) is None:
        return None
    with transaction(request.app.state.rt.factory) as session:
        return lookup_user_id(request, session)


def start_session(request: Request, token: str) -> None:
    """A fresh cookie for a new login: nothing from before survives (fixation), new CSRF."""
    request.session.clear()
    request.session[TOKEN_KEY] = token
    request.session[CSRF_KEY] = secrets.token_urlsafe(32)
    request.state.session_user_id = False  # not cached: look it up again


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """Show ``message`` on the next rendered page (kind "ok" or "error")."""
    pending = list(request.session.get(FLASH_KEY) or [])
    pending.append([kind if kind in ("ok", "error") else "ok", message])
    request.session[FLASH_KEY] = pending


def show_once(request: Request, what: str, object_id: int) -> None:
    """Mark ``object_id`` for the next GET of its page only (post/redirect/get for secrets:
    the redirect carries no secret, and a refresh neither re-creates nor re-shows it)."""
    pending = dict(request.session.get(SHOW_ONCE_KEY) or {})
    pending[what] = object_id
    request.session[SHOW_ONCE_KEY] = pending


def take_shown_once(request: Request, what: str) -> int | None:
    pending = dict(request.session.get(SHOW_ONCE_KEY) or {})
    object_id = pending.pop(what, None)
    request.session[SHOW_ONCE_KEY] = pending
    return object_id if isinstance(object_id, int) else None

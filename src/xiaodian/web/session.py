"""What the console keeps about a browser: the signed session cookie and per-request state.

The cookie holds only the user id, the CSRF token and pending flash messages; everything
else (permissions, shop, badge) is re-read from the database on every request, so a revoked
grant or a deactivated account takes effect on the next click.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import User
from xiaodian.accounts.service import Principal
from xiaodian.notify import service as notify

USER_KEY = "user_id"
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
    request.state.unread_notices = notify.unread_count(session, user.shop_id)


def current_user(request: Request) -> CurrentUser | None:
    user = getattr(request.state, "console_user", None)
    return user if isinstance(user, CurrentUser) else None


def unread_notices(request: Request) -> int:
    return int(getattr(request.state, "unread_notices", 0) or 0)


def session_user_id(request: Request) -> int | None:
    value = request.session.get(USER_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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

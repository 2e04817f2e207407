"""Jinja2 rendering for the console (Simplified Chinese, autoescaped).

Every page extends ``base.html`` (blocks ``title`` and ``content``). ``render`` adds to each
template's context:

* ``request``; ``current_user`` (``CurrentUser`` or ``None``: display_name, username,
  shop_name, is_main); ``nav`` (``nav.NavSection`` list for the left menu);
  ``unread_notices`` (站内通知 badge); ``flashes`` (list of ``(kind, message)``, consumed).
* ``can_open(path)`` — whether the user may open that console page: wrap every link to a
  page guarded by another permission in it (issue 11: links follow grants).
* ``sim_now`` (simulated clock only: local "YYYY-MM-DD HH:MM") and ``sim_control`` (the main
  account's 快进 form, U7).
* ``csrf_input()`` — the hidden ``csrf_token`` field every POST form must carry.
* ``form_state`` (U8, ``forms.FormState`` or ``None``): the refused submit shown on this page,
  used by the macros of ``_forms.html`` (``forms.error``, ``forms.value``, ``forms.summary``)
  through the globals ``form_value``, ``form_chosen``, ``form_errors``, ``form_confirm`` and
  ``form_enter`` (``forms.summary(action)`` opens a form: the state belongs to it or not).
* filters ``yuan`` (fen → "1,234.50"), ``yuan_input`` (fen → "1234.50", a 元 field's value),
  ``dt`` (aware UTC → local "YYYY-MM-DD HH:MM:SS"),
  ``mask_phone`` ("13812348000" → "138****8000").
* U5 (``web/labels.py``): filters ``label(group)`` (a code → its Chinese label), ``actor``
  (``user:1`` → the account's name, from ``actor_names`` when the page passes it),
  ``transition`` (``none → in_progress`` → 无 → 售后中) and ``rule_badge(rule_id)``.

Context templates live in ``templates/<context>/``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from xiaodian.clock import to_local
from xiaodian.money import yuan
from xiaodian.web import forms, simclock
from xiaodian.web.nav import build_nav, can_open
from xiaodian.web.session import CSRF_KEY, FLASH_KEY, current_user, unread_notices

TEMPLATES_DIR = Path(__file__).parent / "templates"
DEFAULT_TIMEZONE = "Asia/Shanghai"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login rotates it)."""
    if not has_session(request):
        return ""  # outermost error page: no session middleware below it
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def has_session(request: Request) -> bool:
    return "session" in request.scope


@pass_context
def _csrf_input(context: Context) -> Markup:
    token = csrf_token(context["request"])
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(token)


@pass_context
def _dt(context: Context, when: datetime | None) -> str:
    if when is None:
        return ""
    return to_local(when, _timezone(context.get("request"))).strftime("%Y-%m-%d %H:%M:%S")


def _timezone(request: Request | None) -> str:
    rt = getattr(request.app.state, "rt", None) if request is not None else None
    return rt.settings.timezone if rt is not None else DEFAULT_TIMEZONE


def mask_phone(phone: str | None) -> str:
    """Show a phone the way the platform does: 138****8000."""
    if not phone:
        return ""
    if len(phone) < 8:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def _yuan(fen: int | None) -> str:
    return "" if fen is None else yuan(int(fen))


def _yuan_input(fen: int | None) -> str:
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def _state(context: Context) -> forms.FormState | None:
    state = context.get("form_state")
    return state if isinstance(state, forms.FormState) else None


@pass_context
def _form_value(context: Context, name: str, default: Any = "") -> Any:
    """What the user typed into ``name`` on the refused submit, else ``default``."""
    state = _state(context)
    kept = state.value(name) if state is not None else None
    return default if kept is None else kept


@pass_context
def _form_chosen(context: Context, name: str, value: Any, default: bool = False) -> bool:
    """Whether a checkbox/radio/option ``value`` of ``name`` was chosen on the refused submit."""
    state = _state(context)
    if state is None or not state.active or not state.values:
        return default  # another form of the page, or nothing was sent
    return str(value) in state.chosen(name)


@pass_context
def _form_errors(context: Context, name: str) -> list[str]:
    state = _state(context)
    return state.error(name) if state is not None else []


@pass_context
def _form_enter(context: Context, action: str | None) -> bool:
    state = _state(context)
    return state.enter(action) if state is not None else False


@pass_context
def _form_confirm(context: Context, action: str | None = None) -> dict[str, Any] | None:
    state = _state(context)
    if state is None or state.confirm is None or not state.active:
        return None
    return state.confirm if action is None or action == state.action else None


def _nl2br(text: str | None) -> Markup:
    return Markup("<br>").join(escape(line) for line in (text or "").splitlines())


def _make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["csrf_input"] = _csrf_input
    env.globals["form_value"] = _form_value
    env.globals["form_chosen"] = _form_chosen
    env.globals["form_errors"] = _form_errors
    env.globals["form_confirm"] = _form_confirm
    env.globals["form_enter"] = _form_enter
    env.filters["yuan_input"] = _yuan_input
    env.filters["yuan"] = _yuan
    env.filters["dt"] = _dt
    env.filters["mask_phone"] = mask_phone
    env.filters["nl2br"] = _nl2br
    # U5: Chinese labels for codes, actors, transitions; rule badges (see web/labels.py).
    from xiaodian.web import labels

    labels.install(env)
    return env


environment = _make_environment()


def render(
    request: Request, template_name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a console page with the shell (nav, user, badge, flashes) around it."""
    user = current_user(request)
    page: dict[str, Any] = {
        "request": request,
        "current_user": user,
        "nav": build_nav(request, user) if user is not None else [],
        "unread_notices": unread_notices(request),
        "flashes": take_flashes(request),
        "can_open": lambda path: can_open(user, str(path)),
        "form_state": forms.state_of(request),  # U8: a refused submit, shown on its page
        # U7: the simulated now in the header, the 快进 control for the main account.
        **simclock.header_context(request, is_main=user is not None and user.is_main),
    }
    page.update(context)
    html = environment.get_template(template_name).render(page)
    return HTMLResponse(html, status_code=status_code)


def take_flashes(request: Request) -> list[tuple[str, str]]:
    if not has_session(request):
        return []
    raw = request.session.pop(FLASH_KEY, None) or []
    return [(str(kind), str(message)) for kind, message in raw]

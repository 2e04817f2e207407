"""The web console (/console): sessions, static files, the shell's pages, context pages.

``install(app, rt)`` is called by ``xiaodian.api.app.create_app``. Each bounded context that
has console pages exposes ``router`` in its ``web.py``; the ones already built are included.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from xiaodian import contexts
from xiaodian.accounts.service import installation_secret
from xiaodian.db import transaction
from xiaodian.notify.sms import demo_phone_enabled
from xiaodian.runtime import Runtime
from xiaodian.web import demo_phone, funds, home, notices, rules_page, simclock
from xiaodian.web.errors import install_error_handlers
from xiaodian.web.settings import router as settings_router

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "xiaodian_session"

# Each context's console modules, as xiaodian.contexts.CONTEXTS declares them (M4).
CONTEXT_WEB_MODULES: tuple[str, ...] = contexts.modules("web")


def shell_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in (home, funds, notices, rules_page):
        router.include_router(module.router)
    router.include_router(settings_router)
    return router


def install(app: FastAPI, rt: Runtime) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=_cookie_secret(rt),
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        # S5: the cookie lives as long as a session may; Secure when served over https.
        max_age=rt.settings.console.session_max_age_seconds,
        https_only=rt.settings.cookie_secure,
    )
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(shell_router(), include_in_schema=False)
    if rt.simulated:  # U7: the simulated now in the header; 快进 exists only then (like /sim)
        app.add_middleware(simclock.SimNowMiddleware, rt=rt)
        app.include_router(simclock.router, include_in_schema=False)
    if demo_phone_enabled(rt.settings):  # F3: the 演示手机 exists only in a demo
        app.include_router(demo_phone.router, include_in_schema=False)
    for module in contexts.load("web"):
        app.include_router(module.router, include_in_schema=False)
    install_error_handlers(app)


def _cookie_secret(rt: Runtime) -> str:
    if rt.settings.secret_key:
        return rt.settings.secret_key
    with transaction(rt.factory) as session:
        return installation_secret(session)

"""Response headers that keep pages from being framed, injected into or cached (issue 11, S9).

A pure ASGI middleware adds to every response:

* ``Content-Security-Policy`` — scripts only from our own origin (no inline script anywhere:
  the console's few behaviours live in ``/console/static/console.js``), no plugins, no
  ``<base>``, forms post only to us, and no framing (``frame-ancestors 'none'``). Styles may be
  inline (``style="…"`` attributes and the small ``<style>`` blocks of a few pages); they run
  no code. The /docs and /redoc pages (K3, ``api/docs.py``) load Swagger UI and ReDoc from
  the installed package and start from our own script files, so they carry the same policy,
  plus ``worker-src blob:`` (ReDoc runs its search index in a worker it builds from a blob).
* ``X-Frame-Options: DENY`` (clickjacking, for browsers that predate ``frame-ancestors``),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``.
* ``Cache-Control: no-store`` on console pages (/console, except its static files) and on any
  HTML page (the buyer's redemption page): a shared or back-button cache must not keep a shop's
  orders, balances or a buyer's address.

``allowed_methods`` gives the ``Allow`` header of a 405: every method any route serves at that
path (the router alone names only the first matching route's methods).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.datastructures import MutableHeaders

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY + "; worker-src 'self' blob:"
DOCS_PATHS = ("/docs", "/redoc")
STATIC_PREFIX = "/console/static/"


def is_console_page(path: str) -> bool:
    return (path == "/console" or path.startswith("/console/")) and not path.startswith(
        STATIC_PREFIX
    )


class SecurityHeaders:
    """S9: CSP, X-Frame-Options, no-store on console pages (see module)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["Content-Security-Policy"] = (
                    DOCS_CONTENT_SECURITY_POLICY if path in DOCS_PATHS else CONTENT_SECURITY_POLICY
                )
                html = headers.get("content-type", "").startswith("text/html")
                if is_console_page(path) or (html and path not in DOCS_PATHS):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def leaf_routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included routers
            yield from leaf_routes(route.original_router.routes)
        else:
            yield route


def allowed_methods(app: Any, path: str) -> str:
    """The ``Allow`` header of a 405 at ``path``: every method a route there answers."""
    methods: set[str] = set()
    for route in leaf_routes(app.router.routes):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods.update(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))

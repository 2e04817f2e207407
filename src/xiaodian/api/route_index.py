"""Issue 16 (the server CPU of a signed request): a request to a fixed path reaches its route by
one dict lookup instead of a scan of every route.

FastAPI keeps each ``include_router`` as a nested router and matches a request by trying every
route of every included router in order, with several scope updates per candidate — and does
it twice for the router that holds the route (once to find the router, once inside it). With
the app's 300-odd routes that cost 2–3 ms of CPU per request, measured (cProfile in every
thread, ``bench/request_profile.py``): more than the signature check, the nonce, the
verification's statements and the JSON together, and a 404 cost as much.

``RouteIndex`` sits where the router dispatches. For every route without path parameters, each
of its methods is resolved once by FastAPI's own matching (the first full match in route
order, exactly as a request would be); a request whose method and path are in the table is
handed to that route with the scope FastAPI's dispatch would have given it (the included
routers on the way, the route, its endpoint, its effective context). Anything else — a path
with parameters, a method the path does not serve (405), an unknown path (404), a mount —
goes through the router's own scan, unchanged. The table is rebuilt when a route or router is
added to the app (a route added to an already included router after the app's first request
is reached by the scan only: FastAPI's recursive routes version costs ≈ 0.1 ms, too much to ask
on every request — its own scan asks it a dozen times). ``tests/api/test_16_route_index.py``
proves, for every indexed method and path, the same route and the same answer as the scan.

It uses FastAPI's private routing helpers (0.16x: ``_IncludedRouter``, the effective route
contexts); if they are missing the index is not installed and the router scans as before.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match

log = logging.getLogger("xiaodian.api")

try:  # FastAPI's private routing helpers (see module)
    from fastapi import routing as _routing

    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY = _routing._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY
    _FASTAPI_INCLUDED_ROUTER_KEY = _routing._FASTAPI_INCLUDED_ROUTER_KEY
    _apply_router_form_limits = _routing._apply_router_form_limits
    _get_fastapi_scope = _routing._get_fastapi_scope
    _route_selected = getattr(_routing, "_route_selected")  # noqa: B009 (not re-exported)
    _IncludedRouter: Any = _routing._IncludedRouter
except AttributeError:  # pragma: no cover - another FastAPI: the router scans as before
    _IncludedRouter = None

_Entry = tuple[tuple[Any, ...], Any, APIRoute]  # included routers, effective context, route


def install(app: FastAPI) -> RouteIndex | None:
    """Put the index in front of the app's router (once its routes are added)."""
    router = app.router
    if _IncludedRouter is None or router.middleware_stack != router.app:
        return None  # another FastAPI, or middleware on the router itself: leave it alone
    index = RouteIndex(app)
    router.middleware_stack = index
    return index


class RouteIndex:
    """(method, path) → the route FastAPI's scan would choose, for routes without path
    parameters (see module)."""

    def __init__(self, app: FastAPI) -> None:
        self.router = app.router
        self.scan = app.router.middleware_stack
        self.table: dict[tuple[str, str], _Entry] = {}
        self.version: tuple[int, int] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            version = (self.router._routes_version, len(self.router.routes))
            if version != self.version:
                self.rebuild(version)
            entry = self.table.get((scope["method"], scope["path"]))
            if entry is not None:
                await self.dispatch(entry, scope, receive, send)
                return
        await self.scan(scope, receive, send)

    async def dispatch(self, entry: _Entry, scope: Any, receive: Any, send: Any) -> None:
        """What the router's scan does once it has found ``entry``: the scope updates of
        ``APIRouter.app``, ``_IncludedRouter.handle`` and ``_handle_selected``, then the
        route's ``handle``."""
        chain, context, route = entry
        _apply_router_form_limits(scope, self.router.form_limits)
        if "router" not in scope:
            scope["router"] = self.router
        _route_selected(scope=scope, path=getattr(chain[0], "path_format", None), mount=False)
        for included in chain:
            _apply_router_form_limits(scope, included.include_context.form_limits)
            _get_fastapi_scope(scope)[_FASTAPI_INCLUDED_ROUTER_KEY] = included
        path_params = dict(scope.get("path_params", {}))
        scope.update({"endpoint": context.endpoint, "path_params": path_params, "route": route})
        selected = getattr(context.starlette_route, "path_format", None) or context.path_format
        _route_selected(scope=scope, path=selected, mount=False)
        _get_fastapi_scope(scope)[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        await route.handle(scope, receive, send)

    def rebuild(self, version: tuple[int, int]) -> None:
        table: dict[tuple[str, str], _Entry] = {}
        for top in self.router.routes:
            if not isinstance(top, _IncludedRouter):
                continue
            for context in top.effective_route_contexts():
                if context.param_convertors or not isinstance(context.original_route, APIRoute):
                    continue
                for method in context.methods or ():
                    key = (method, context.path_format)
                    if key in table:
                        continue
                    entry = self.resolve(*key)
                    # Only where the scan picks this very context (an earlier route could
                    # take the path; a method it does not serve is the scan's 405).
                    if entry is not None and entry[1] is context:
                        table[key] = entry
        self.table, self.version = table, version

    def resolve(self, method: str, path: str) -> _Entry | None:
        """The route FastAPI's scan chooses for ``method path``, by its own matching."""
        scope: dict[str, Any] = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": "",
            "headers": [],
            "query_string": b"",
            "path_params": {},
        }
        route: Any = None
        for candidate in self.router.routes:
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                route = candidate
                break
        chain: list[Any] = []
        context = None
        while isinstance(route, _IncludedRouter):
            chain.append(route)
            _get_fastapi_scope(scope)[_FASTAPI_INCLUDED_ROUTER_KEY] = route
            match, _, route, context = route._match(scope)
            if match != Match.FULL:
                return None
        if not chain or context is None or not isinstance(route, APIRoute):
            return None
        return tuple(chain), context, route

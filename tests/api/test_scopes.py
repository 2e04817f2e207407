"""S2 app permissions (scopes) and S3 simulation controls (issue 11).

Every open-API route — and every /sim route — declares the scope an app needs; the walk below
goes through the application's own router (hidden routes included), so a route added without
a scope, or whose scope is not enforced, makes these tests fail.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.conftest import ShopFixture, SignedClient
from tests.web.conftest import console_login, csrf_from, page_token
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import PERMISSIONS
from xiaodian.accounts.scopes import (
    APP_SCOPES,
    DEFAULT_APP_SCOPES,
    LEGACY_APP_SCOPES,
    PERMISSION_SCOPES,
    ScopeMissing,
    scope_for,
)
from xiaodian.accounts.service import Principal
from xiaodian.api.app import create_app
from xiaodian.api.bind import PublicSimulatedClock, check_bind, is_loopback
from xiaodian.api.deps import _signed_app, declared_scopes
from xiaodian.clock import SimulatedClock
from xiaodian.config import Settings
from xiaodian.db import make_engine
from xiaodian.errors import PermissionDenied
from xiaodian.runtime import Runtime, alembic_config, upgrade

SIGNED_PREFIXES = ("/api/", "/sim/")


@pytest.fixture
def sim_rt(rt: Runtime) -> Runtime:
    """The same database with a simulated clock: the /sim routers are mounted."""
    settings = rt.settings.model_copy(update={"clock_mode": "simulated"})
    return Runtime(
        settings=settings,
        engine=rt.engine,
        factory=rt.factory,
        clock=SimulatedClock(rt.engine),
        wall=rt.wall,
    )


@pytest.fixture
def sim_client(sim_rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(sim_rt), raise_server_exceptions=False) as client:
        yield client


def _app(rt: Runtime, shop_id: int, scopes: Any, name: str = "ERP") -> tuple[str, str]:
    with rt.unit() as ctx:
        app = accounts.create_app(ctx, shop_id, name, scopes)
        return app.app_key, app.secret


def _signed_routes(app: FastAPI) -> list[tuple[str, str, set[str]]]:
    """(method, path, declared scopes) of every route under /api or /sim, and of any other
    route whose dependencies check an app signature — as the router serves them (included
    routers' own dependencies too, hidden routes too)."""
    found = []
    for context in routing.iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or context.dependant is None:
            continue
        path = context.path
        if path.startswith(SIGNED_PREFIXES) or _uses(context.dependant, _signed_app):
            for method in sorted(set(context.methods or ()) - {"HEAD", "OPTIONS"}):
                found.append((method, path, declared_scopes(context.dependant)))
    return found


def _uses(dependant: Any, call: Any) -> bool:
    return dependant.call is call or any(_uses(sub, call) for sub in dependant.dependencies)


def _fill(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: "deposit" if m.group(1) == "account" else "1", path)


def _call(api: SignedClient, method: str, path: str) -> httpx.Response:
    response: httpx.Response = api.request(method, path, None if method == "GET" else {})
    return response


# ----- S2: every route declares a scope, and an app without it is refused ------------------


def test_S2_every_signed_route_declares_exactly_one_known_scope(sim_client: TestClient) -> None:
    routes = _signed_routes(sim_client.app)  # type: ignore[arg-type]
    assert len(routes) > 90
    undeclared = [f"{m} {p}" for m, p, scopes in routes if len(scopes) != 1]
    assert not undeclared, (
        f"routes without exactly one app scope (use a scoped principal): {undeclared}"
    )
    unknown = {s for _, _, scopes in routes for s in scopes} - set(APP_SCOPES)
    assert not unknown
    # Every scope of the catalog guards at least one route (no scope that means nothing).
    assert {s for _, _, scopes in routes for s in scopes} == set(APP_SCOPES)
    assert any(p.startswith("/sim/") for _, p, _ in routes)


def test_S2_an_app_without_the_route_scope_is_refused_on_every_route(
    sim_rt: Runtime, sim_client: TestClient, shop: ShopFixture
) -> None:
    """For each route: an app holding every scope *but* the route's gets 403 scope_missing
    naming that scope (bilingual); an app holding only the route's scope is not refused for
    it."""
    without = {
        scope: SignedClient(
            sim_client, sim_rt, *_app(sim_rt, shop.shop_id, set(APP_SCOPES) - {scope})
        )
        for scope in APP_SCOPES
    }
    only = {
        scope: SignedClient(sim_client, sim_rt, *_app(sim_rt, shop.shop_id, [scope]))
        for scope in APP_SCOPES
    }
    checked = 0
    for method, template, scopes in _signed_routes(sim_client.app):  # type: ignore[arg-type]
        (scope,) = scopes
        path = _fill(template)
        refused = _call(without[scope], method, path)
        assert refused.status_code == 403, f"{method} {template}: {refused.status_code}"
        problem = refused.json()
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert problem["code"] == "scope_missing", f"{method} {template}: {problem}"
        assert problem["field"] == "scope"
        assert f"'{scope}'" in problem["message_en"] and f"（{scope}）" in problem["message_zh"]
        assert APP_SCOPES[scope] in problem["message_zh"]
        allowed = _call(only[scope], method, path)
        if allowed.status_code == 403 and allowed.json().get("code") == "scope_missing":
            # A route may also need a second scope through principal.require (splitting a
            # package is shipping): never its own.
            assert f"'{scope}'" not in allowed.json()["message_en"], f"{method} {template}"
        assert allowed.status_code < 500, f"{method} {template}: {allowed.text}"
        checked += 1
    assert checked > 90


def test_S2_every_permission_maps_to_a_scope_and_require_refuses_apps_without_it() -> None:
    """``principal.require(...)`` in a route can refuse an app: each permission needs its
    scope (a new permission without a scope fails here)."""
    assert set(PERMISSIONS) == set(PERMISSION_SCOPES)
    for permission in PERMISSIONS:
        scope = scope_for(permission)
        with_scope = Principal(shop_id=1, app_id=1, scopes=frozenset({scope}))
        with_scope.require(permission)
        assert with_scope.can(permission)
        lacking = Principal(shop_id=1, app_id=1, scopes=frozenset(APP_SCOPES) - {scope})
        assert not lacking.can(permission)
        with pytest.raises(ScopeMissing) as refused:
            lacking.require(permission)
        assert refused.value.scope == scope and refused.value.status == 403
    unknown = Principal(shop_id=1, app_id=1, scopes=frozenset(APP_SCOPES))
    with pytest.raises(ScopeMissing):
        unknown.require("no.such.permission")  # fail closed


def test_S2_money_and_orders_stay_shut_to_an_app_with_the_default_scopes(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    """The issue's attack: an app (default scopes) tops up funds, starts an export, adds a
    webhook — all refused; what its scopes allow still works."""
    key, secret = _app(rt, shop.shop_id, None)
    api = SignedClient(client, rt, key, secret)
    topup = api.post("/api/v1/funds/deposit/topup", {"amount_fen": 100, "idempotency_key": "k1"})
    assert topup.status_code == 403 and topup.json()["code"] == "scope_missing"
    assert "'funds'" in topup.json()["message_en"]
    hook = api.post("/api/v1/webhooks", {"url": "https://erp.example/h"})
    assert hook.status_code == 403 and "'webhooks'" in hook.json()["message_en"]
    assert api.get("/api/v1/funds").status_code == 403
    assert api.get("/api/v1/orders").status_code == 200
    assert api.post("/api/v1/orders/exports", {"filter": {}, "format": "csv"}).status_code == 202
    with rt.unit() as ctx:
        from xiaodian.ledger import service as ledger
        from xiaodian.ledger.models import Account

        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == 0
        from xiaodian.notify import service as notify

        assert notify.list_endpoints(ctx.session, shop.shop_id) == []


def test_S2_new_apps_get_the_minimal_default_and_unknown_or_empty_scopes_are_refused(
    rt: Runtime, shop: ShopFixture
) -> None:
    with rt.unit() as ctx:
        app = accounts.create_app(ctx, shop.shop_id, "默认")
        assert (
            accounts.app_scopes(app) == set(DEFAULT_APP_SCOPES) == {"shop", "orders", "aftersales"}
        )
    for bad, code in ((["orders", "everything"], "unknown_scope"), ([], "scopes_required")):
        with pytest.raises(Exception) as refused, rt.unit() as ctx:
            accounts.create_app(ctx, shop.shop_id, "坏", bad)
        assert getattr(refused.value, "code", None) == code
        assert refused.value.status == 422  # type: ignore[attr-defined]


def _sub_account(rt: Runtime, shop: ShopFixture, username: str, perms: list[str]) -> int:
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        user = accounts.create_sub_account(
            ctx,
            principal,
            username=username,
            password="sub-pass-123",
            display_name="子账号",
            permissions=perms,
        )
        return user.id


def test_S2_sub_account_with_only_shop_settings_cannot_create_apps_or_webhooks(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    """The issue's case: 店铺设置 alone no longer reaches apps (and their secrets) or webhooks
    — not the pages, not the forms, not the service; the menu shows no link to them."""
    _sub_account(rt, shop, "settings_only", ["settings.manage"])
    console_login(client, "settings_only", "sub-pass-123")
    home = client.get("/console/settings/stores")
    assert home.status_code == 200  # what 店铺设置 still covers
    assert "/console/settings/apps" not in home.text
    assert "/console/settings/webhooks" not in home.text
    token = csrf_from(home.text)
    for page in ("/console/settings/apps", "/console/settings/webhooks"):
        assert client.get(page).status_code == 403
    created = client.post(
        "/console/settings/apps",
        data={"csrf_token": token, "name": "偷偷的应用", "scopes": ["funds"]},
    )
    assert created.status_code == 403
    hooked = client.post(
        "/console/settings/webhooks", data={"csrf_token": token, "url": "https://evil.example/h"}
    )
    assert hooked.status_code == 403
    user_id = _user_id(rt, "settings_only")
    with rt.unit() as ctx:
        assert [a.name for a in accounts.list_apps(ctx.session, shop.shop_id)] == ["ERP"]
        user = accounts.get_user(ctx.session, shop.shop_id, user_id)
        sub = accounts.principal_for_user(ctx.session, user)
        with pytest.raises(PermissionDenied):
            accounts.create_app(ctx, shop.shop_id, "偷偷的应用", ["shop"], by=sub)


def _user_id(rt: Runtime, username: str) -> int:
    from sqlalchemy import select

    from xiaodian.accounts.models import User

    with rt.unit() as ctx:
        return int(ctx.session.scalars(select(User.id).where(User.username == username)).one())


def test_S2_the_apps_manage_grant_creates_apps_only_with_scopes_the_sub_account_holds(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    perms = ["apps.manage", "orders.view", "orders.ship", "orders.export"]
    _sub_account(rt, shop, "app_keeper", perms)
    console_login(client, "app_keeper", "sub-pass-123")
    page = client.get("/console/settings/apps")
    assert page.status_code == 200
    assert "/console/settings/apps" in page.text  # the menu shows the link it can open
    # Scopes it cannot give are shown disabled, with their Chinese labels.
    assert re.search(r'value="funds"\s*\s*disabled>' + re.escape(APP_SCOPES["funds"]), page.text)
    assert re.search(r'value="orders"\s*checked\s*>', page.text)
    token = csrf_from(page.text)
    escalate = client.post(
        "/console/settings/apps",
        data={"csrf_token": token, "name": "越权", "scopes": ["orders", "funds"]},
    )
    assert escalate.status_code == 403 and "资金" in escalate.text
    created = client.post(
        "/console/settings/apps",
        data={"csrf_token": token, "name": "订单ERP", "scopes": ["orders", "notices"]},
        follow_redirects=False,
    )
    assert created.status_code == 303
    shown = client.get("/console/settings/apps").text
    assert APP_SCOPES["orders"] in shown and APP_SCOPES["notices"] in shown
    with rt.unit() as ctx:
        (app,) = [a for a in accounts.list_apps(ctx.session, shop.shop_id) if a.name == "订单ERP"]
        assert accounts.app_scopes(app) == {"orders", "notices"}
        key, secret = app.app_key, app.secret
        assert "越权" not in {a.name for a in accounts.list_apps(ctx.session, shop.shop_id)}
    api = SignedClient(client, rt, key, secret)
    assert api.get("/api/v1/orders").status_code == 200
    assert api.get("/api/v1/notices").status_code == 200
    refused = api.get("/api/v1/funds")
    assert refused.status_code == 403 and refused.json()["code"] == "scope_missing"


def test_S2_the_main_account_chooses_scopes_in_the_console(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = client.get("/console/settings/apps").text
    for code, label in APP_SCOPES.items():
        assert f'value="{code}"' in page and label in page  # every scope can be chosen
    created = client.post(
        "/console/settings/apps",
        data={
            "csrf_token": page_token(client, "/console/settings/apps"),
            "name": "资金ERP",
            "scopes": ["funds", "simulation"],
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    with rt.unit() as ctx:
        (app,) = [a for a in accounts.list_apps(ctx.session, shop.shop_id) if a.name == "资金ERP"]
        assert accounts.app_scopes(app) == {"funds", "simulation"}
    nothing = client.post(
        "/console/settings/apps",
        data={"csrf_token": page_token(client, "/console/settings/apps"), "name": "空"},
    )
    assert nothing.status_code == 422 and "至少选择一个" in nothing.text


def test_S2_migration_gives_existing_apps_every_scope_but_simulation(
    engine: Engine, tmp_path: Path
) -> None:
    """An installation upgraded from before scopes: its apps keep working on every route
    they could call (all scopes but simulation)."""
    if engine.dialect.name == "postgresql":
        name = f"xiaodian_s2_migration_{os.getpid()}"
        admin = engine.execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = engine.url.set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path / 'before_scopes.db'}"
    old = make_engine(url)
    try:
        command.upgrade(alembic_config(old), "0001")  # the schema before S2
        with old.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO shops (id, name, registered_name, phone, created_at)"
                    " VALUES (1, '老店', '老店', '', :now)"
                ),
                {"now": "2026-01-01 00:00:00+00:00"},
            )
            conn.execute(
                text(
                    "INSERT INTO api_apps (shop_id, name, app_key, secret, created_at)"
                    " VALUES (1, '老ERP', 'ak_old', 'secret', :now)"
                ),
                {"now": "2026-01-01 00:00:00+00:00"},
            )
        upgrade(old)
        with old.connect() as conn:
            stored = conn.execute(text("SELECT scopes FROM api_apps")).scalar_one()
        assert stored.split(",") == list(LEGACY_APP_SCOPES)
        assert "simulation" not in stored and set(stored.split(",")) == set(APP_SCOPES) - {
            "simulation"
        }
    finally:
        old.dispose()
        if engine.dialect.name == "postgresql":
            with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))


# ----- S3: simulation controls ----------------------------------------------------------------


def _sim_now(sim_rt: Runtime) -> Any:
    return sim_rt.clock.now()


def test_S3_sim_routes_refuse_unsigned_requests_and_the_clock_stays(
    sim_rt: Runtime, sim_client: TestClient
) -> None:
    before = _sim_now(sim_rt)
    for method, path in (
        ("POST", "/sim/clock/advance"),
        ("GET", "/sim/clock"),
        ("POST", "/sim/logistics/packages/1/events"),
    ):
        response = sim_client.request(method, path, json={"seconds": 86400, "event": "refused"})
        assert response.status_code == 401, (path, response.text)
        assert response.json()["code"] == "simulation_auth_required"
        assert "simulation" in response.json()["message_en"]
        assert "模拟控制" in response.json()["message_zh"]
    assert _sim_now(sim_rt) == before


def test_S3_an_app_needs_the_simulation_scope(
    sim_rt: Runtime, sim_client: TestClient, shop: ShopFixture
) -> None:
    before = _sim_now(sim_rt)
    legacy = SignedClient(sim_client, sim_rt, *_app(sim_rt, shop.shop_id, LEGACY_APP_SCOPES))
    refused = legacy.post("/sim/clock/advance", {"seconds": 86400})
    assert refused.status_code == 403 and refused.json()["code"] == "scope_missing"
    assert "'simulation'" in refused.json()["message_en"]
    assert _sim_now(sim_rt) == before
    simulator = SignedClient(sim_client, sim_rt, *_app(sim_rt, shop.shop_id, ["simulation"]))
    moved = simulator.post("/sim/clock/advance", {"seconds": 3600})
    assert moved.status_code == 200, moved.text
    assert (_sim_now(sim_rt) - before).total_seconds() == 3600


def test_S3_the_main_account_console_session_drives_the_clock_a_sub_account_does_not(
    sim_rt: Runtime, sim_client: TestClient, shop: ShopFixture
) -> None:
    before = _sim_now(sim_rt)
    _sub_account(sim_rt, shop, "all_perms", [p for p in PERMISSIONS])
    console_login(sim_client, "all_perms", "sub-pass-123")
    refused = sim_client.post("/sim/clock/advance", json={"seconds": 60})
    assert refused.status_code == 403 and refused.json()["code"] == "main_account_only"
    assert _sim_now(sim_rt) == before
    sim_client.cookies.clear()
    console_login(sim_client, shop.username, shop.password)
    moved = sim_client.post("/sim/clock/advance", json={"seconds": 60})
    assert moved.status_code == 200, moved.text
    assert (_sim_now(sim_rt) - before).total_seconds() == 60


def test_S3_a_simulated_clock_binds_to_loopback_only_unless_allowed() -> None:
    settings = Settings(clock_mode="simulated")
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
        check_bind(settings, host, simulated=True)
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(PublicSimulatedClock) as refused:
            check_bind(settings, host, simulated=True)
        line = str(refused.value)
        assert "\n" not in line and "拒绝启动" in line and "Refusing to start" in line
        assert "XIAODIAN_ALLOW_SIMULATED_CLOCK_PUBLIC" in line
        check_bind(settings, host, simulated=False)  # the system clock binds anywhere
        allowed = settings.model_copy(update={"allow_simulated_clock_public": True})
        check_bind(allowed, host, simulated=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_S3_serve_refuses_a_public_bind_with_a_simulated_clock(tmp_path: Path) -> None:
    """The real command: exits 2 at once with one bilingual line; with the setting it serves."""
    port = _free_port()
    env = {
        **os.environ,
        "XIAODIAN_DATABASE_URL": f"sqlite:///{tmp_path / 'sim.db'}",
        "XIAODIAN_CLOCK_MODE": "simulated",
        "XIAODIAN_SECRET_KEY": "s3-test-key",
        "COLUMNS": "300",
    }
    env.pop("XIAODIAN_ALLOW_SIMULATED_CLOCK_PUBLIC", None)
    command_line = [sys.executable, "-m", "xiaodian.cli", "serve", "--host", "0.0.0.0"]
    command_line += ["--port", str(port), "--no-with-worker"]
    refused = subprocess.run(command_line, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    assert "拒绝启动" in lines[0] and "Refusing to start" in lines[0] and "0.0.0.0" in lines[0]

    env["XIAODIAN_ALLOW_SIMULATED_CLOCK_PUBLIC"] = "true"
    server = subprocess.Popen(
        command_line, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "the server exited although the setting allows it"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.5)
        assert health.json()["clock"] == "simulated"
    finally:
        server.terminate()
        server.wait(timeout=30)

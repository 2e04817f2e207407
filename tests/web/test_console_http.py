"""The console over plain HTTP (no browser): login, CSRF, error pages, tenant isolation (X2)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import ShopFixture
from tests.web.conftest import console_login, page_token
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp, Grant, Staff, User
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.notify.models import Notice, WebhookEndpoint
from xiaodian.runtime import Runtime

HTML = "text/html"


def _sub_account(rt: Runtime, shop: ShopFixture, username: str, perms: list[str]) -> int:
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        user = accounts.create_sub_account(
            ctx,
            principal,
            username=username,
            password="sub-pass-123",
            display_name="客服小王",
            permissions=perms,
        )
        return user.id


def _deposit(rt: Runtime, shop_id: int) -> int:
    with rt.unit() as ctx:
        return ledger.balance(ctx.session, shop_id, Account.DEPOSIT)


# ----- login and sessions -------------------------------------------------------------------


def test_unauthenticated_get_redirects_to_login_with_next(client: TestClient) -> None:
    response = client.get("/console/funds/balance?before_id=5", follow_redirects=False)
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/console/login?next=/console/funds/balance%3Fbefore_id%3D5"
    )


def test_wrong_password_shows_the_form_again_not_a_500(
    client: TestClient, shop: ShopFixture
) -> None:
    token = page_token(client, "/console/login")
    response = client.post(
        "/console/login",
        data={"csrf_token": token, "username": shop.username, "password": "wrong-password"},
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(HTML)
    assert "用户名或密码错误" in response.text
    assert 'name="password"' in response.text


def test_login_redirects_to_next_but_never_off_site(client: TestClient, shop: ShopFixture) -> None:
    token = page_token(client, "/console/login")
    data = {"csrf_token": token, "username": shop.username, "password": shop.password}
    response = client.post(
        "/console/login", data={**data, "next": "https://evil.example/"}, follow_redirects=False
    )
    assert response.headers["location"] == "/console/"
    client.cookies.clear()
    token = page_token(client, "/console/login")
    response = client.post(
        "/console/login",
        data={**data, "csrf_token": token, "next": "/console/notices"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console/notices"


def test_login_rotates_the_csrf_token(client: TestClient, shop: ShopFixture) -> None:
    before = page_token(client, "/console/login")
    console_login(client, shop.username, shop.password)
    assert page_token(client, "/console/notices") != before


def test_X2_deactivated_user_is_logged_out_on_next_request(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    user_id = _sub_account(rt, shop, "sub_gone", ["funds.view"])
    console_login(client, "sub_gone", "sub-pass-123")
    assert client.get("/console/funds/balance").status_code == 200
    with rt.unit() as ctx:
        ctx.session.get_one(User, user_id).active = False
    response = client.get("/console/funds/balance", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")


def test_logout_ends_the_session(client: TestClient, shop: ShopFixture) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/")
    response = client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.headers["location"] == "/console/login"
    assert client.get("/console/", follow_redirects=False).status_code == 303


# ----- CSRF ---------------------------------------------------------------------------------


def test_post_without_or_with_wrong_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    topup = {"amount": "100", "idempotency_key": "csrf-test"}
    for extra in ({}, {"csrf_token": "forged-token"}):
        response = client.post("/console/funds/deposit/topup", data={**topup, **extra})
        assert response.status_code == 403
        assert response.headers["content-type"].startswith(HTML)
        assert "页面已过期，请刷新后重试" in response.text
    response = client.post(
        "/console/settings/webhooks", data={"url": "https://erp.example/h", "csrf_token": "x"}
    )
    assert response.status_code == 403
    assert _deposit(rt, shop.shop_id) == 0
    with rt.unit() as ctx:
        assert notify.list_endpoints(ctx.session, shop.shop_id) == []


def test_login_form_itself_needs_the_csrf_token(client: TestClient, shop: ShopFixture) -> None:
    response = client.post(
        "/console/login",
        data={"username": shop.username, "password": shop.password},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert client.get("/console/", follow_redirects=False).status_code == 303


# ----- errors become pages ------------------------------------------------------------------


def test_domain_error_in_a_console_route_is_an_html_page_not_json_not_500(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/funds/deposit")
    response = client.post(
        "/console/funds/deposit/topup",
        data={"csrf_token": token, "amount": "12.345", "idempotency_key": "bad-amount"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(HTML)
    assert "充值金额最多两位小数" in response.text  # U8: the one 元 → fen conversion
    assert "保证金" in response.text  # the shell (menu) is still there
    assert _deposit(rt, shop.shop_id) == 0


def test_every_field_error_is_listed_on_the_page(client: TestClient, shop: ShopFixture) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/settings/users")
    response = client.post(
        "/console/settings/users",
        data={"csrf_token": token, "username": "x", "password": "short", "phone": "123"},
    )
    assert response.status_code == 422
    for message in ("用户名为3-64位", "密码至少8位", "手机号应为11位"):
        assert message in response.text


def test_unknown_ids_and_bad_parameters_are_html_pages(
    client: TestClient, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    for path, status in (
        ("/console/settings/webhooks/999999", 404),
        ("/console/no-such-page", 404),
        ("/console/notices?before_id=abc", 422),
    ):
        response = client.get(path)
        assert response.status_code == status
        assert response.headers["content-type"].startswith(HTML)


def test_api_paths_keep_problem_json(client: TestClient) -> None:
    response = client.get("/api/v1/funds")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    response = client.get("/api/v1/no-such-route")
    assert response.headers["content-type"] == "application/problem+json"


def test_X2_sub_account_without_permission_gets_403_page_then_grant_takes_effect(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    user_id = _sub_account(rt, shop, "sub_funds", [])
    console_login(client, "sub_funds", "sub-pass-123")
    response = client.get("/console/funds/balance")
    assert response.status_code == 403
    assert "没有权限：查看资金" in response.text
    assert 'data-nav="账户余额"' not in response.text  # hidden from the menu too
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        accounts.grant(ctx, accounts.principal_for_user(ctx.session, owner), user_id, "funds.view")
    assert client.get("/console/funds/balance").status_code == 200
    assert client.get("/console/settings/users").status_code == 403  # main account only


def test_X3_double_submitted_topup_form_tops_up_once(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    page = client.get("/console/funds/balance").text
    key = page.split('name="idempotency_key" value="')[1].split('"')[0]
    form = {
        "csrf_token": page_token(client, "/console/funds/balance"),
        "amount": "50.05",
        "idempotency_key": key,
    }
    for _ in range(2):
        assert client.post("/console/funds/balance/topup", data=form).status_code == 200
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.BALANCE) == 5005
        assert (
            len(ledger.entries(ctx.session, shop.shop_id, "balance", before_id=None, limit=9)) == 1
        )


# ----- tenant isolation (X2) ----------------------------------------------------------------


def _shop_a_objects(rt: Runtime, shop: ShopFixture) -> dict[str, Any]:
    sub_id = _sub_account(rt, shop, "a_sub", [])
    with rt.unit() as ctx:
        endpoint = notify.create_endpoint(ctx, shop.shop_id, url="https://a.example/hook")
        store = accounts.create_store(ctx, shop.shop_id, name="A店一号")
        staff = accounts.add_staff(ctx, shop.shop_id, douyin_id="a_staff", store_ids=[store.id])
        notice = notify.notice(ctx, shop.shop_id, category="funds", title="A店的通知")
        notify.emit(ctx, shop.shop_id, "test.event", {"n": 1})
    with rt.unit() as ctx:
        delivery_id = notify.list_deliveries(ctx.session, shop.shop_id)[0][0].id
        app = accounts.list_apps(ctx.session, shop.shop_id)[0]
    return {
        "sub": sub_id,
        "endpoint": endpoint.id,
        "staff": staff.id,
        "notice": notice.id,
        "delivery": delivery_id,
        "app": app.id,
        "app_key": app.app_key,
        "secret": app.secret,
    }


def test_X2_other_shop_cannot_see_this_shops_settings(
    client: TestClient, rt: Runtime, make_shop: Any
) -> None:
    shop_a, shop_b = make_shop("A店"), make_shop("B店")
    a = _shop_a_objects(rt, shop_a)
    console_login(client, shop_b.username, shop_b.password)
    pages = {
        "/console/settings/webhooks": "a.example",
        "/console/settings/apps": a["app_key"],
        "/console/settings/users": "a_sub",
        "/console/settings/stores": "a_staff",
        "/console/notices": "A店的通知",
    }
    for path, secret_text in pages.items():
        response = client.get(path)
        assert response.status_code == 200
        assert secret_text not in response.text, path
    response = client.get(f"/console/settings/webhooks/{a['endpoint']}")
    assert response.status_code == 404
    assert "a.example" not in response.text


def test_X2_other_shop_cannot_change_this_shops_objects_by_id(
    client: TestClient, rt: Runtime, make_shop: Any
) -> None:
    shop_a, shop_b = make_shop("A店"), make_shop("B店")
    a = _shop_a_objects(rt, shop_a)
    console_login(client, shop_b.username, shop_b.password)
    token = page_token(client, "/console/")
    attempts: list[tuple[str, dict[str, Any]]] = [
        (f"/console/settings/webhooks/{a['endpoint']}/active", {"active": "0"}),
        (f"/console/settings/webhooks/deliveries/{a['delivery']}/redeliver", {}),
        (f"/console/settings/apps/{a['app']}/revoke", {}),
        (f"/console/settings/apps/{a['app']}/reveal", {}),
        (f"/console/settings/users/{a['sub']}/permissions", {"permissions": ["funds.view"]}),
        (f"/console/settings/stores/staff/{a['staff']}/revoke", {}),
        (f"/console/notices/{a['notice']}/read", {}),
    ]
    for path, data in attempts:
        response = client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith(HTML)
        assert a["secret"] not in response.text
    with rt.unit() as ctx:
        session = ctx.session
        assert session.get_one(WebhookEndpoint, a["endpoint"]).active is True
        assert session.get_one(ApiApp, a["app"]).revoked_at is None
        assert session.get_one(Staff, a["staff"]).revoked_at is None
        assert session.get_one(Notice, a["notice"]).read_at is None
        assert list(session.scalars(select(Grant).where(Grant.user_id == a["sub"]))) == []


# ----- secrets shown once (post/redirect/get) ----------------------------------------------


def test_X2_new_app_and_webhook_secrets_show_once_and_a_refresh_creates_nothing(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    console_login(client, shop.username, shop.password)
    for page, form, testid in (
        ("/console/settings/apps", {"name": "仓储ERP", "scopes": ["orders"]}, "app-secret"),
        ("/console/settings/webhooks", {"url": "https://erp.example/prg"}, "webhook-secret"),
    ):
        created = client.post(
            page, data={**form, "csrf_token": page_token(client, page)}, follow_redirects=False
        )
        assert created.status_code == 303 and created.headers["location"] == page
        shown = client.get(page)  # what the browser loads after the POST
        assert f'data-testid="{testid}"' in shown.text
        refreshed = client.get(page)  # F5 on that page: a GET, not the POST again
        assert f'data-testid="{testid}"' not in refreshed.text
    with rt.unit() as ctx:
        apps = accounts.list_apps(ctx.session, shop.shop_id)
        assert [app.name for app in apps].count("仓储ERP") == 1
        endpoints = notify.list_endpoints(ctx.session, shop.shop_id)
        assert [e.url for e in endpoints] == ["https://erp.example/prg"]
        secret = next(app.secret for app in apps if app.name == "仓储ERP")
    assert secret not in client.get("/console/settings/apps").text


def test_out_of_range_ids_in_console_pages_are_html_4xx_never_500(
    client: TestClient, shop: ShopFixture
) -> None:
    """Every console page naming an object by id, given an id past BIGINT, is a 4xx HTML page."""
    import re

    huge = str(10**20)
    console_login(client, shop.username, shop.password)
    pages = sorted(
        path
        for path, methods in _routes(client.app.routes)  # type: ignore[attr-defined]
        if path.startswith("/console/") and "{" in path and "GET" in methods
    )
    assert pages
    for template in pages:
        path = re.sub(r"{[^}]+}", huge, template)
        response = client.get(f"{path}?before_id={huge}")
        assert 400 <= response.status_code < 500, f"{template} -> {response.status_code}"
        assert response.headers["content-type"].startswith(HTML)


def _routes(routes: Any, prefix: str = "") -> Any:
    """(path, methods) of every route, through included routers (FastAPI may keep them nested)."""
    from starlette.routing import Route

    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route):
            yield prefix + route.path, route.methods or set()

"""Console login throttling (S4), server-side sessions (S5) and notices/links that follow
grants (issue 11), over real HTTP on the real app."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy import select

from tests.conftest import ShopFixture
from tests.web.conftest import csrf_from, page_token
from xiaodian.accounts import passwords
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ConsoleSession, LoginFailure
from xiaodian.api.app import create_app
from xiaodian.notify import service as notify
from xiaodian.notify.models import Notice
from xiaodian.runtime import Runtime
from xiaodian.web.routes import SESSION_COOKIE

SUB_PASSWORD = "sub-pass-123"


def _console(rt: Runtime, **console: Any) -> None:
    """Change console settings of the running app (read on every request)."""
    rules = rt.settings.console.model_copy(update=console)
    rt.settings = rt.settings.model_copy(update={"console": rules})


def _sub_account(
    rt: Runtime, shop: ShopFixture, username: str, perms: list[str] | None = None
) -> int:
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        user = accounts.create_sub_account(
            ctx,
            principal,
            username=username,
            password=SUB_PASSWORD,
            display_name="客服小王",
            permissions=perms or [],
        )
        return user.id


def _try_login(client: TestClient, username: str, password: str) -> Any:
    token = csrf_from(client.get("/console/login").text)
    return client.post(
        "/console/login",
        data={"csrf_token": token, "username": username, "password": password},
        follow_redirects=False,
    )


def _login(client: TestClient, username: str, password: str) -> None:
    response = _try_login(client, username, password)
    assert response.status_code == 303, response.text


def _logged_in(client: TestClient) -> bool:
    response = client.get("/console/", follow_redirects=False)
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def _post_form(client: TestClient, page: str, action: str, **data: Any) -> Any:
    token = page_token(client, page)
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)


@pytest.fixture
def second_client(rt: Runtime) -> Iterator[TestClient]:
    """Another browser on the same app and database."""
    with TestClient(create_app(rt), raise_server_exceptions=False) as other:
        yield other


# ----- S4 login throttling --------------------------------------------------------------------


def test_S4_sixty_wrong_passwords_then_the_right_one_is_refused_while_locked(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    for _ in range(60):
        response = _try_login(client, shop.username, "wrong-password")
        assert response.status_code in (401, 429)
    response = _try_login(client, shop.username, shop.password)
    assert response.status_code == 429
    assert "登录失败次数过多" in response.text
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= rt.settings.console.login_lockout_max_seconds
    assert not _logged_in(client)
    # Locked attempts never reached the hasher: only the threshold's failures are on record.
    with rt.unit() as ctx:
        failures = ctx.session.scalars(
            select(LoginFailure).where(LoginFailure.username == shop.username)
        ).all()
    assert len(failures) == rt.settings.console.login_max_failures_per_user
    rt.wall.advance(retry_after)  # type: ignore[attr-defined]
    _login(client, shop.username, shop.password)
    assert _logged_in(client)


def test_S4_backoff_doubles_with_each_failure_after_the_lockout(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    rules = rt.settings.console
    for _ in range(rules.login_max_failures_per_user):
        assert _try_login(client, shop.username, "wrong-password").status_code == 401
    first = int(_try_login(client, shop.username, "x").headers["Retry-After"])
    assert first == rules.login_lockout_seconds
    rt.wall.advance(first)  # type: ignore[attr-defined]
    assert _try_login(client, shop.username, "wrong-password").status_code == 401
    second = int(_try_login(client, shop.username, "x").headers["Retry-After"])
    assert second == 2 * rules.login_lockout_seconds


def test_S4_unknown_username_gets_the_same_answer_and_the_same_lockout(
    client: TestClient, shop: ShopFixture
) -> None:
    answers = []
    for username in (shop.username, "nobody-here"):
        response = _try_login(client, username, "wrong-password")
        answers.append((response.status_code, re.findall(r"用户名或密码错误", response.text)))
    assert answers[0] == answers[1] == (401, ["用户名或密码错误"])
    for _ in range(10):
        last = _try_login(client, "nobody-here", "wrong-password")
    assert last.status_code == 429
    assert "登录失败次数过多" in last.text


def test_S4_many_usernames_from_one_address_lock_that_address(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _console(rt, login_max_failures_per_ip=6)
    for n in range(6):
        assert _try_login(client, f"guess{n}", "wrong-password").status_code == 401
    # Even the right password of a real, never-guessed account is refused from this address.
    response = _try_login(client, shop.username, shop.password)
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_S4_a_lockout_of_a_real_account_is_told_to_the_main_account_only(
    client: TestClient, second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _sub_account(rt, shop, "kefu01", ["orders.view"])
    for _ in range(rt.settings.console.login_max_failures_per_user):
        _try_login(client, "kefu01", "wrong-password")
    with rt.unit() as ctx:
        titles = [n.title for n in notify.list_notices(ctx.session, shop.shop_id)]
    assert titles == ["账号 kefu01 登录失败次数过多，已暂时锁定"]
    _login(second_client, shop.username, shop.password)
    assert "kefu01 登录失败次数过多" in second_client.get("/console/notices").text


def test_S4_password_rule_refuses_whitespace_repeated_and_short_passwords(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _login(client, shop.username, shop.password)
    refused = {
        "        ": "密码不能只包含空白字符",
        "\t \t \t \t ": "密码不能只包含空白字符",
        "aaaaaaaaaaaa": "密码不能由同一个字符重复组成",
        "1111111111": "密码不能由同一个字符重复组成",
        "abc12": "密码至少8位",
    }
    for n, (password, reason) in enumerate(refused.items()):
        response = _post_form(
            client,
            "/console/settings/users",
            "/console/settings/users",
            username=f"weak{n}",
            password=password,
            display_name="弱密码",
        )
        assert response.status_code == 422, password
        assert reason in response.text
    # The minimum length is a setting.
    _console(rt, password_min_length=12)
    response = _post_form(
        client,
        "/console/settings/users",
        "/console/settings/users",
        username="weak-len",
        password="abcdefgh123",
        display_name="短密码",
    )
    assert response.status_code == 422
    assert "密码至少12位" in response.text
    with rt.unit() as ctx:
        names = [u.username for u in accounts.list_users(ctx.session, shop.shop_id)]
    assert names == [shop.username]


def test_S4_parallel_logins_never_run_more_hashes_than_the_cap(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    """8 logins at once: with the cap at 8 they really overlap (so the counter can see
    overlap); with the cap at 2 no more than 2 argon2 computations ever run at once."""

    def burst() -> list[int]:
        tokens = [csrf_from(client.get("/console/login").text) for _ in range(8)]
        barrier = threading.Barrier(8)
        codes: list[int] = []

        def one(n: int) -> None:
            barrier.wait()
            response = client.post(
                "/console/login",
                data={
                    "csrf_token": tokens[n],
                    "username": f"parallel{n}",
                    "password": "wrong-password",
                },
                follow_redirects=False,
            )
            codes.append(response.status_code)

        threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return codes

    _console(rt, max_concurrent_hashes=8, hash_wait_seconds=30, login_max_failures_per_ip=1000)
    passwords.HASHING.reset()
    assert burst() == [401] * 8
    assert passwords.HASHING.peak > 2  # the burst does overlap on this machine

    _console(rt, max_concurrent_hashes=2)
    passwords.HASHING.reset()
    assert burst() == [401] * 8  # all answered (they waited for a slot), none hashed beyond 2
    assert passwords.HASHING.peak <= 2


def test_S4_when_every_hashing_slot_stays_busy_the_login_gets_503_with_retry_after(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _console(rt, max_concurrent_hashes=1, hash_wait_seconds=0)
    gate = passwords.gate(rt.settings.console)
    with gate.slot():  # another login is hashing
        for _ in range(rt.settings.console.login_max_failures_per_user + 2):
            response = _try_login(client, shop.username, shop.password)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            assert "登录请求过多" in response.text
    # Refused for lack of a slot is not a failed password: no lockout followed.
    _login(client, shop.username, shop.password)


# ----- S5 sessions ----------------------------------------------------------------------------


def test_S5_logout_ends_the_session_on_the_server(client: TestClient, shop: ShopFixture) -> None:
    _login(client, shop.username, shop.password)
    stolen = client.cookies.get(SESSION_COOKIE)
    assert stolen and _logged_in(client)
    _post_form(client, "/console/", "/console/logout")
    assert not _logged_in(client)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, stolen)  # the old cookie, replayed
    assert not _logged_in(client)


def test_S5_the_database_keeps_only_a_hash_and_a_forged_cookie_logs_nobody_in(
    client: TestClient, second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _login(client, shop.username, shop.password)
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    payload = json.loads(base64.b64decode(cookie.split(".")[0]))
    with rt.unit() as ctx:
        rows = ctx.session.scalars(select(ConsoleSession)).all()
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(payload["sid"].encode()).hexdigest()
    assert payload["sid"] not in rows[0].token_hash
    assert "user_id" not in payload
    # Someone who read the database (and so the cookie secret) signs a cookie naming the
    # main account, as the old cookie format allowed, or replays the stored hash: neither works.
    secret = rt.settings.secret_key or ""
    for forged_payload in ({"user_id": shop.user_id}, {"sid": rows[0].token_hash}):
        data = base64.b64encode(json.dumps(forged_payload).encode())
        forged = TimestampSigner(secret).sign(data).decode()
        second_client.cookies.clear()
        second_client.cookies.set(SESSION_COOKIE, forged)
        assert not _logged_in(second_client)


def test_S5_changing_a_password_ends_every_other_session_of_the_account(
    client: TestClient, second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _sub_account(rt, shop, "kefu01", ["orders.view"])
    _login(client, "kefu01", SUB_PASSWORD)
    _login(second_client, "kefu01", SUB_PASSWORD)
    wrong = _post_form(
        client,
        "/console/settings/password",
        "/console/settings/password",
        current_password="not-it-123",
        new_password="brand-new-pass-9",
        confirm_password="brand-new-pass-9",
    )
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    assert _logged_in(second_client)
    changed = _post_form(
        client,
        "/console/settings/password",
        "/console/settings/password",
        current_password=SUB_PASSWORD,
        new_password="brand-new-pass-9",
        confirm_password="brand-new-pass-9",
    )
    assert changed.status_code == 303
    assert "其他设备上的登录已全部失效" in client.get("/console/settings/password").text
    assert _logged_in(client)  # this browser got a new session
    assert not _logged_in(second_client)
    assert _try_login(second_client, "kefu01", SUB_PASSWORD).status_code == 401
    _login(second_client, "kefu01", "brand-new-pass-9")


def test_S5_the_main_account_changes_its_own_password_with_the_rule_applied(
    client: TestClient, shop: ShopFixture
) -> None:
    _login(client, shop.username, shop.password)

    def change(new: str, confirm: str | None = None) -> Any:
        return _post_form(
            client,
            "/console/settings/password",
            "/console/settings/password",
            current_password=shop.password,
            new_password=new,
            confirm_password=new if confirm is None else confirm,
        )

    assert "两次输入的新密码不一致" in change("owner-new-pass-1", "owner-new-pass-2").text
    assert "密码不能由同一个字符重复组成" in change("zzzzzzzzzz").text
    assert change("owner-new-pass-1").status_code == 303
    client.cookies.clear()
    assert _try_login(client, shop.username, shop.password).status_code == 401
    _login(client, shop.username, "owner-new-pass-1")


def test_S5_revoking_a_grant_ends_the_sessions_granting_more_does_not(
    client: TestClient, second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    sub_id = _sub_account(rt, shop, "kefu01", ["orders.view"])
    _login(client, shop.username, shop.password)
    _login(second_client, "kefu01", SUB_PASSWORD)
    action = f"/console/settings/users/{sub_id}/permissions"
    more = ["orders.view", "aftersales.handle"]
    response = _post_form(client, "/console/settings/users", action, permissions=more)
    assert response.status_code == 303
    assert _logged_in(second_client)
    assert second_client.get("/console/aftersales").status_code == 200
    response = _post_form(client, "/console/settings/users", action, permissions=["orders.view"])
    assert response.status_code == 303
    assert not _logged_in(second_client)


def test_S5_disabling_a_sub_account_ends_its_sessions_and_refuses_its_logins(
    client: TestClient, second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    sub_id = _sub_account(rt, shop, "kefu01", ["orders.view"])
    _login(client, shop.username, shop.password)
    _login(second_client, "kefu01", SUB_PASSWORD)
    page = "/console/settings/users"
    assert _post_form(client, page, f"{page}/{sub_id}/disable").status_code == 303
    assert not _logged_in(second_client)
    refused = _try_login(second_client, "kefu01", SUB_PASSWORD)
    assert refused.status_code == 401 and "已被主账号停用" in refused.text
    wrong = _try_login(second_client, "kefu01", "wrong-password")
    assert "用户名或密码错误" in wrong.text and "停用" not in wrong.text
    assert "已停用" in client.get(page).text
    assert _post_form(client, page, f"{page}/{sub_id}/enable").status_code == 303
    _login(second_client, "kefu01", SUB_PASSWORD)


def test_S5_the_main_account_resets_a_sub_account_password(
    client: TestClient, second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    sub_id = _sub_account(rt, shop, "kefu01", ["orders.view"])
    other_id = _sub_account(rt, shop, "kefu02", ["orders.view"])
    _login(client, shop.username, shop.password)
    _login(second_client, "kefu01", SUB_PASSWORD)
    page = "/console/settings/users"
    weak = _post_form(client, page, f"{page}/{sub_id}/password", new_password="        ")
    assert weak.status_code == 422
    assert _logged_in(second_client)
    reset = _post_form(client, page, f"{page}/{sub_id}/password", new_password="reset-pass-77")
    assert reset.status_code == 303
    assert not _logged_in(second_client)
    _login(second_client, "kefu01", "reset-pass-77")
    # A sub-account manages nobody; the main account cannot be disabled or reset.
    for action in (f"{page}/{other_id}/disable", f"{page}/{other_id}/password"):
        response = _post_form(second_client, "/console/", action, new_password="x-pass-12345")
        assert response.status_code == 403
    for action in (f"{page}/{shop.user_id}/disable", f"{page}/{shop.user_id}/password"):
        response = _post_form(client, page, action, new_password="x-pass-12345")
        assert response.status_code == 403
    assert _logged_in(client)


def test_S5_a_session_ends_after_its_max_age(
    client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _login(client, shop.username, shop.password)
    rt.wall.advance(rt.settings.console.session_max_age_seconds - 1)  # type: ignore[attr-defined]
    assert _logged_in(client)
    rt.wall.advance(1)  # type: ignore[attr-defined]
    assert not _logged_in(client)


@pytest.mark.parametrize(
    ("public_url", "cookie_secure", "secure"),
    [
        ("", None, False),
        ("http://127.0.0.1:8000", None, False),
        ("https://shop.example.com", None, True),
        ("https://shop.example.com", False, False),
        ("", True, True),
    ],
)
def test_S5_the_cookie_secure_flag_follows_the_public_url(
    rt: Runtime, shop: ShopFixture, public_url: str, cookie_secure: bool | None, secure: bool
) -> None:
    rt.settings = rt.settings.model_copy(update={"public_url": public_url})
    _console(rt, cookie_secure=cookie_secure, session_max_age_seconds=3600)
    base = "https://testserver" if secure else "http://testserver"
    with TestClient(create_app(rt), base_url=base) as client:
        response = _try_login(client, shop.username, shop.password)
    assert response.status_code == 303
    set_cookie = response.headers["set-cookie"].lower()
    assert ("; secure" in set_cookie) is secure
    assert "max-age=3600" in set_cookie


# ----- notices and links follow grants --------------------------------------------------------


def _seed_notices(rt: Runtime, shop_id: int) -> None:
    with rt.unit() as ctx:
        for category, title, link in (
            ("funds", "保证金扣款：发货超时 2 笔，共 ¥20.00", "/console/orders/violations"),
            ("aftersales", "快递拦截费用已补扣", "/console/funds/balance"),
            ("violation", "发货超时判定：2 笔订单", "/console/orders/violations"),
            ("aftersales", "售后单 7 退款失败，请处理", "/console/aftersales"),
            ("security", "账号 kefu09 登录失败次数过多，已暂时锁定", "/console/settings/users"),
            ("coupon", "卡券「满100减10」审核通过，有效中", "/console/coupons"),
            ("system", "欢迎使用小店", ""),
        ):
            notify.notice(ctx, shop_id, category=category, title=title, link=link)


def test_S5_notices_follow_grants_a_sub_account_without_funds_sees_no_deductions(
    client: TestClient, second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _seed_notices(rt, shop.shop_id)
    _sub_account(rt, shop, "kefu01", ["orders.view", "aftersales.handle"])
    _login(second_client, "kefu01", SUB_PASSWORD)
    page = second_client.get("/console/notices").text
    shown = set(re.findall(r'class="notice-title">(?:<span[^>]*></span>)?([^<]+)', page))
    assert shown == {"发货超时判定：2 笔订单", "售后单 7 退款失败，请处理", "欢迎使用小店"}
    assert 'data-testid="unread-badge">3<' in page
    dashboard = second_client.get("/console/").text
    assert "保证金扣款" not in dashboard and "拦截费用" not in dashboard
    # Marking "all" read marks only what the sub-account saw; hidden ones are not found.
    with rt.unit() as ctx:
        hidden = ctx.session.scalars(select(Notice.id).where(Notice.category == "funds")).one()
    _post_form(second_client, "/console/notices", "/console/notices/read-all")
    response = _post_form(second_client, "/console/notices", f"/console/notices/{hidden}/read")
    assert response.status_code == 404
    # The main account sees everything, the deductions still unread.
    _login(client, shop.username, shop.password)
    page = client.get("/console/notices?show=unread").text
    for title in ("保证金扣款", "快递拦截费用已补扣", "登录失败次数过多", "卡券「满100减10」"):
        assert title in page
    assert "发货超时判定" not in page  # the sub-account read it


def test_S5_notices_follow_grants_funds_permission_shows_money_notices(
    second_client: TestClient, rt: Runtime, shop: ShopFixture
) -> None:
    _seed_notices(rt, shop.shop_id)
    _sub_account(rt, shop, "caiwu01", ["funds.view"])
    _login(second_client, "caiwu01", SUB_PASSWORD)
    page = second_client.get("/console/notices").text
    assert "保证金扣款" in page
    assert "快递拦截费用已补扣" not in page  # an after-sales notice: needs aftersales too
    assert "登录失败次数过多" not in page  # security notices: main account only


def _crawl(client: TestClient, start: str = "/console/", limit: int = 80) -> dict[str, int]:
    """Every console page reachable by links from ``start``: path → status."""
    seen: dict[str, int] = {}
    queue = [start]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path, follow_redirects=False)
        seen[path] = response.status_code
        if response.status_code != 200 or "text/html" not in response.headers["content-type"]:
            continue
        for href in re.findall(r'href="(/console[^"#]*)"', response.text):
            href = href.replace("&amp;", "&")
            if href.startswith("/console/static") or href in seen:
                continue
            queue.append(href)
    return seen


@pytest.mark.parametrize(
    "grants",
    [
        ["orders.view"],
        ["aftersales.handle", "orders.view"],
        ["funds.view"],
        ["coupons.verify", "redpackets.manage"],
        [],
    ],
)
def test_S5_console_links_follow_grants_no_link_leads_to_a_refusal(
    second_client: TestClient, rt: Runtime, shop: ShopFixture, grants: list[str]
) -> None:
    _seed_notices(rt, shop.shop_id)
    _sub_account(rt, shop, "kefu01", grants)
    _login(second_client, "kefu01", SUB_PASSWORD)
    pages = _crawl(second_client)
    refused = {path: code for path, code in pages.items() if code == 403}
    assert refused == {}
    assert "/console/settings/password" in pages  # every account can change its password

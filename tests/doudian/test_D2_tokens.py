"""D2 (issue 12): token.create (authorization_self + shop_id; authorization_code + a one-time
code from 设置→抖店授权码 or ``xiaodian shop app-code``), token.refresh; access tokens expire
after 7 days and refresh tokens after 14 on the product clock; revoked apps lose their tokens.
Every call goes through the independent ``DoudianClient`` (REFERENCE.md §1)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import ShopFixture
from tests.doudian.conftest import DoudianClient
from tests.web.conftest import console_login, page_token
from xiaodian.accounts import service as accounts
from xiaodian.doudian import service as tokens
from xiaodian.doudian.gateway import PlatformError
from xiaodian.doudian.models import DoudianAuthCode, DoudianToken
from xiaodian.runtime import Runtime

DAY = 24 * 3600


def test_D2_self_authorization_returns_the_platform_fields(shop: ShopFixture, dd: Any) -> None:
    data = dd(shop).login(shop.shop_id)
    assert set(data) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "scope",
        "shop_id",
        "shop_name",
        "authority_id",
        "auth_subject_type",
    }
    assert data["expires_in"] == 7 * DAY
    assert data["shop_id"] == str(shop.shop_id) and data["shop_name"] == "抖音好物小店"


def test_D2_self_authorization_only_for_the_apps_own_shop(
    shop: ShopFixture, make_shop: Any, dd: Any
) -> None:
    other = make_shop("别家小店")
    body = dd(shop).raw(
        "token.create", {"grant_type": "authorization_self", "shop_id": other.shop_id}
    )
    assert body["code"] == 50002 and "未授权" in body["sub_msg"]
    missing = dd(shop).raw("token.create", {"grant_type": "authorization_self"})
    assert missing["code"] == 40001 and missing["sub_msg"] == "缺少必选参数：shop_id"
    bad = dd(shop).raw("token.create", {"grant_type": "password"})
    assert bad["code"] == 40003


def test_D2_access_token_expires_after_7_days_on_the_product_clock(
    shop: ShopFixture, dd: Any, rt: Runtime
) -> None:
    client = dd(shop)
    client.login(shop.shop_id)
    assert client.raw("order.searchList", {})["code"] == 10000
    rt.clock.advance(7 * DAY - 1)  # type: ignore[attr-defined]
    assert client.raw("order.searchList", {})["code"] == 10000
    rt.clock.advance(1)  # type: ignore[attr-defined]
    expired = client.raw("order.searchList", {})
    assert expired["code"] == 30002 and "过期" in expired["sub_msg"]


def test_D2_refresh_gives_a_new_pair_and_ends_the_old_one(
    shop: ShopFixture, dd: Any, rt: Runtime
) -> None:
    client = dd(shop)
    first = client.login(shop.shop_id)
    rt.clock.advance(10 * DAY)  # type: ignore[attr-defined]
    assert client.raw("order.searchList", {})["code"] == 30002
    params = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = client.call("token.refresh", params)
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 7 * DAY
    assert client.call("order.searchList", {}, token=second["access_token"])["total"] == 0
    assert client.raw("order.searchList", {}, token=first["access_token"])["code"] == 30001
    again = client.raw("token.refresh", params)
    assert again["code"] == 30001 and "refresh_token" in again["sub_msg"]


def test_D2_refresh_token_expires_after_14_days(shop: ShopFixture, dd: Any, rt: Runtime) -> None:
    client = dd(shop)
    first = client.login(shop.shop_id)
    rt.clock.advance(14 * DAY)  # type: ignore[attr-defined]
    body = client.raw(
        "token.refresh", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert body["code"] == 30002


def test_D2_a_token_works_only_for_its_app_and_dies_with_it(
    shop: ShopFixture, dd: Any, rt: Runtime, client: TestClient
) -> None:
    erp = dd(shop)
    erp.login(shop.shop_id)
    with rt.unit() as ctx:
        second = accounts.create_app(ctx, shop.shop_id, "另一个ERP")
        second_keys = (second.app_key, second.secret, second.id)
    other = DoudianClient(client, second_keys[0], second_keys[1], rt.wall.now)
    stolen = other.raw("order.searchList", {}, token=erp.access_token)
    assert stolen["code"] == 30001
    with rt.unit() as ctx:
        app_id = accounts.app_credentials(ctx.session, shop.app_key).app_id  # type: ignore[union-attr]
        creds = accounts.app_credentials(ctx.session, shop.app_key)
        accounts.revoke_app(ctx, shop.shop_id, app_id)
    assert erp.raw("order.searchList", {})["code"] == 40003  # the app itself is gone
    with rt.unit() as ctx:  # and its tokens no longer resolve, whatever signs them
        assert creds is not None
        try:
            tokens.shop_for_token(ctx.session, creds, erp.access_token or "", ctx.now)
        except PlatformError as exc:
            assert exc.platform_code == 30001
        else:
            raise AssertionError("a revoked app's token still resolves")


def test_D2_console_issues_a_one_time_code(
    shop: ShopFixture, dd: Any, client: TestClient, rt: Runtime
) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/settings/doudian-codes")
    with rt.unit() as ctx:
        app_id = accounts.app_credentials(ctx.session, shop.app_key).app_id  # type: ignore[union-attr]
    page = client.post(
        "/console/settings/doudian-codes", data={"csrf_token": token, "app_id": str(app_id)}
    )
    assert page.status_code == 200
    match = re.search(r'data-testid="auth-code">.*?<code>([^<]+)</code>', page.text, re.S)
    assert match, page.text
    code = match.group(1)
    erp = dd(shop)
    data = erp.call("token.create", {"grant_type": "authorization_code", "code": code})
    assert data["shop_id"] == str(shop.shop_id)
    reused = erp.raw("token.create", {"grant_type": "authorization_code", "code": code})
    assert reused["code"] == 50002 and "授权码" in reused["sub_msg"]
    listing = client.get("/console/settings/doudian-codes").text
    assert "已使用" in listing and code not in listing
    with rt.unit() as ctx:  # only the hash is kept
        stored = ctx.session.scalars(select(DoudianAuthCode.code_hash)).all()
        assert code not in stored and len(stored) == 1


def test_D2_code_expires_and_belongs_to_one_app(
    shop: ShopFixture, make_shop: Any, dd: Any, rt: Runtime
) -> None:
    with rt.unit("user:1") as ctx:
        creds = accounts.app_credentials(ctx.session, shop.app_key)
        assert creds is not None
        code, _ = tokens.issue_auth_code(ctx, shop.shop_id, creds.app_id)
        late, _ = tokens.issue_auth_code(ctx, shop.shop_id, creds.app_id)
    other = make_shop("别家小店")
    wrong_app = dd(other).raw("token.create", {"grant_type": "authorization_code", "code": code})
    assert wrong_app["code"] == 50002
    assert (
        dd(shop).raw("token.create", {"grant_type": "authorization_code", "code": code})["code"]
        == 10000
    )
    rt.clock.advance(rt.settings.doudian.auth_code_ttl_seconds)  # type: ignore[attr-defined]
    expired = dd(shop).raw("token.create", {"grant_type": "authorization_code", "code": late})
    assert expired["code"] == 50002


def test_D2_cli_app_code_issues_a_code_the_sdk_exchanges(cli_database: str) -> None:
    from xiaodian.cli import app
    from xiaodian.config import Settings

    runner = CliRunner()
    made = runner.invoke(
        app,
        ["shop", "create", "--name", "命令行小店", "--username", "cliowner"],
        input="secret-pass-1\nsecret-pass-1\n",
    )
    assert made.exit_code == 0, made.output
    shop_id = int(re.search(r"shop #(\d+)", made.output).group(1))  # type: ignore[union-attr]
    created = runner.invoke(app, ["shop", "app", "--shop-id", str(shop_id)])
    assert created.exit_code == 0, created.output
    app_key = re.search(r"app_key = (\S+)", created.output).group(1)  # type: ignore[union-attr]
    secret = re.search(r"secret  = (\S+)", created.output).group(1)  # type: ignore[union-attr]
    issued = runner.invoke(app, ["shop", "app-code", "--app-key", app_key])
    assert issued.exit_code == 0, issued.output
    code = re.search(r"code    = (\S+)", issued.output).group(1)  # type: ignore[union-attr]
    unknown = runner.invoke(app, ["shop", "app-code", "--app-key", "ak_nope"])
    assert unknown.exit_code == 2  # K6: a refused command exits 2 with one bilingual line

    from xiaodian.api.app import create_app

    rt = Runtime.create(Settings(database_url=cli_database, secret_key="k"))
    with TestClient(create_app(rt)) as http:
        erp = DoudianClient(http, app_key, secret, lambda: datetime.now(UTC))
        data = erp.call("token.create", {"grant_type": "authorization_code", "code": code})
        assert data["shop_id"] == str(shop_id)
    with rt.unit() as ctx:
        row = ctx.session.scalars(select(DoudianToken)).one()
        assert row.grant_type == "authorization_code"
        assert row.refresh_expires_at - row.access_expires_at == timedelta(days=7)
    rt.engine.dispose()

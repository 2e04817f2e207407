"""F1 operator accounts and the operator console's own login (issue 17): separate from every
shop — an operator session never reaches a shop's pages, a shop session never the operator's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests.platform.conftest import OperatorFixture, op_token, operator_login
from tests.web.conftest import console_login
from xiaodian.accounts.models import ConsoleSession
from xiaodian.errors import Conflict, ValidationFailed
from xiaodian.platform import service
from xiaodian.platform.models import Operator, OperatorSession
from xiaodian.runtime import Runtime


def test_F1_operator_create_hashes_with_argon2_and_refuses_bad_input(rt: Runtime) -> None:
    with rt.unit("cli") as ctx:
        op = service.create_operator(ctx, "ops-a", "long-enough-1")
        assert op.password_hash.startswith("$argon2") and "long-enough-1" not in op.password_hash
    with rt.unit("cli") as ctx, pytest.raises(Conflict) as dup:
        service.create_operator(ctx, "ops-a", "long-enough-2")
    assert dup.value.code == "operator_exists"
    with rt.unit("cli") as ctx, pytest.raises(ValidationFailed) as bad:
        service.create_operator(ctx, "x", "short")
    assert {e["field"] for e in bad.value.errors} == {"username", "password"}


def test_F1_cli_operator_create_reads_password_from_stdin(cli_database: str) -> None:
    from xiaodian.cli import app

    runner = CliRunner()
    done = runner.invoke(
        app, ["operator", "create", "--username", "ops-cli", "--password-stdin"],
        input="cli-password-1\n",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "operator #1 ops-cli" in done.output
    again = runner.invoke(
        app, ["operator", "create", "--username", "ops-cli", "--password-stdin"],
        input="cli-password-1\n",
    )  # fmt: skip
    assert again.exit_code == 2 and "已存在" in again.output
    listed = runner.invoke(app, ["operator", "list"])
    assert "ops-cli" in listed.output
    from xiaodian.config import Settings
    from xiaodian.runtime import Runtime as Rt

    rt = Rt.create(Settings(database_url=cli_database))
    with rt.unit() as ctx:
        op = ctx.session.scalars(select(Operator)).one()
        from xiaodian.accounts.passwords import verify_password

        assert verify_password(op.password_hash, "cli-password-1")


def test_F1_operator_login_wrong_password_and_logout(
    rt: Runtime, client: TestClient, operator: OperatorFixture
) -> None:
    assert (
        client.get("/operator/", follow_redirects=False)
        .headers["location"]
        .startswith("/operator/login")
    )
    wrong = operator_login(client, operator.username, "not-the-password")
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    ok = operator_login(client, operator.username, operator.password)
    assert ok.status_code == 303 and ok.headers["location"] == "/operator/"
    cookie = ok.headers["set-cookie"]
    assert "xiaodian_operator=" in cookie and "Path=/operator" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    home = client.get("/operator/")
    assert home.status_code == 200 and "审核员小王" in home.text
    token = op_token(client, "/operator/")
    out = client.post("/operator/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    with rt.unit() as ctx:
        assert ctx.session.scalars(select(OperatorSession)).all() == []
    assert client.get("/operator/", follow_redirects=False).status_code == 303


def test_F1_shop_session_never_reaches_operator_pages(
    rt: Runtime, client: TestClient, shop: Any, operator: OperatorFixture
) -> None:
    console_login(client, shop.username, shop.password)
    assert client.get("/console/").status_code == 200
    for path in ("/operator/", "/operator/coupons", "/operator/products", "/operator/shops"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/operator/login"), path
    # Nor can a merchant's account log in to the operator console.
    refused = operator_login(client, shop.username, shop.password)
    assert refused.status_code == 401
    post = client.post("/operator/coupons/1", data={"decision": "approve"}, follow_redirects=False)
    assert post.status_code in (303, 403)


def test_F1_operator_session_never_reaches_shop_pages(
    rt: Runtime, op_client: TestClient, shop: Any, operator: OperatorFixture
) -> None:
    assert op_client.get("/operator/").status_code == 200
    for path in ("/console/", "/console/coupons", "/console/coupons/review", "/console/notices"):
        answer = op_client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/login"), path
    # The operator's cookie is scoped to /operator and its token is no console session.
    with rt.unit() as ctx:
        assert ctx.session.scalars(select(ConsoleSession)).all() == []
    # An operator's username is not a merchant login either.
    page = op_client.get("/console/login")
    from tests.web.conftest import csrf_from

    refused = op_client.post(
        "/console/login",
        data={
            "csrf_token": csrf_from(page.text),
            "username": operator.username,
            "password": operator.password,
        },
        follow_redirects=False,
    )
    assert refused.status_code == 401


def test_F1_operator_forms_need_the_operator_csrf(
    rt: Runtime, op_client: TestClient, operator: OperatorFixture
) -> None:
    answer = op_client.post("/operator/products/1/unban", data={"csrf_token": "forged"})
    assert answer.status_code == 403 and "页面已过期" in answer.text
    assert answer.headers["content-type"].startswith("text/html")

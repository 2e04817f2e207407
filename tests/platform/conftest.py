"""Helpers for the F1 tests: an operator account, an operator's HTTP client logged in through
the real /operator login form, and the orders/after-sales builders of those contexts."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.aftersales.conftest import World
from tests.orders.conftest import Shopper
from xiaodian.api.app import create_app
from xiaodian.config import AfterSalesRules, Settings
from xiaodian.platform import service
from xiaodian.runtime import Runtime

OPERATOR_PASSWORD = "operator-pass-1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        clock_mode="system",
        secret_key="test-secret-key",
        aftersales=AfterSalesRules(evidence_dir=str(tmp_path / "evidence")),
    )


@dataclass
class OperatorFixture:
    operator_id: int
    username: str
    password: str

    @property
    def actor(self) -> str:
        return f"operator:{self.operator_id}"


@pytest.fixture
def operator(rt: Runtime) -> OperatorFixture:
    with rt.unit("cli") as ctx:
        op = service.create_operator(ctx, "ops1", OPERATOR_PASSWORD, "审核员小王")
        return OperatorFixture(op.id, op.username, OPERATOR_PASSWORD)


def operator_login(client: TestClient, username: str, password: str) -> Any:
    """Through the real form: its CSRF value first (F1), then the POST."""
    token = op_token(client, "/operator/login")
    return client.post(
        "/operator/login",
        data={
            "csrf_token": token,
            "username": username,
            "password": password,
            "next": "/operator/",
        },
        follow_redirects=False,
    )


def op_token(client: TestClient, path: str) -> str:
    """The CSRF value of an operator page's forms."""
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    match = _CSRF.search(response.text)
    assert match, "page has no csrf_token field"
    return match.group(1)


@pytest.fixture
def op_client(rt: Runtime, operator: OperatorFixture) -> Iterator[TestClient]:
    """Another browser: the operator's, logged in through the real form."""
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        response = operator_login(client, operator.username, operator.password)
        assert response.status_code == 303, response.text
        yield client


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))


@pytest.fixture
def world(rt: Runtime) -> World:
    return World(rt, itertools.count(100))

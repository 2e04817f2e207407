"""The 抖店 dialect's tests: an independent client written from REFERENCE.md §1 alone (it never
imports xiaodian's signer), and a world of shops, buyers, orders and after-sale requests built
through the real services."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.aftersales.conftest import World
from tests.conftest import ShopFixture
from xiaodian.config import AfterSalesRules, Settings
from xiaodian.runtime import Runtime

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        clock_mode="system",
        secret_key="test-secret-key",
        aftersales=AfterSalesRules(evidence_dir=str(tmp_path / "evidence")),
    )


@pytest.fixture
def world(rt: Runtime) -> World:
    return World(rt, itertools.count(1))


class DoudianClient:
    """What an ERP's 抖店 SDK does, per REFERENCE.md §1: common parameters in the query,
    ``param_json`` (keys sorted recursively, no spaces) in the body or the query, and
    ``sign = hex(HMAC-SHA256(app_secret, app_secret + "app_key" + K + "method" + M +
    "param_json" + P + "timestamp" + T + "v" + "2" + app_secret))`` (or MD5 of the pattern)."""

    def __init__(
        self,
        http: TestClient,
        app_key: str,
        secret: str,
        now: Callable[[], datetime],
        *,
        sign_method: str = "hmac-sha256",
        timestamp_style: str = "unix",
        param_in: str = "body",
        legacy: bool = True,
    ) -> None:
        self.http, self.app_key, self.secret, self.now = http, app_key, secret, now
        self.sign_method, self.timestamp_style = sign_method, timestamp_style
        self.param_in, self.legacy = param_in, legacy
        self.access_token: str | None = None

    def timestamp(self, when: datetime | None = None) -> str:
        when = when or self.now()
        if self.timestamp_style == "unix":
            return str(int(when.timestamp()))
        return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    def sign(self, method: str, param_json: str, timestamp: str, secret: str | None = None) -> str:
        secret = secret or self.secret
        pattern = (
            secret
            + "app_key"
            + self.app_key
            + "method"
            + method
            + "param_json"
            + param_json
            + "timestamp"
            + timestamp
            + "v"
            + "2"
            + secret
        )
        if self.sign_method == "md5":
            return hashlib.md5(pattern.encode()).hexdigest()
        return hmac.new(secret.encode(), pattern.encode(), hashlib.sha256).hexdigest()

    def raw(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        path_method: str | None = None,
        drop: tuple[str, ...] = (),
        override: dict[str, str] | None = None,
        timestamp: str | None = None,
        secret: str | None = None,
        token: str | None = None,
    ) -> Any:
        param_json = json.dumps(
            params or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        ts = timestamp or self.timestamp()
        query = {
            "app_key": self.app_key,
            "method": method,
            "v": "2",
            "timestamp": ts,
            "sign_method": self.sign_method,
            "sign": self.sign(method, param_json, ts, secret),
        }
        access = token if token is not None else self.access_token
        if access and not method.startswith("token."):
            query["access_token"] = access
        query.update(override or {})
        for name in drop:
            query.pop(name, None)
        headers = {} if self.legacy else {"x-open-no-old-err-code": "1"}
        path = "/doudian/" + (path_method or method).replace(".", "/")
        if self.param_in == "query":
            query["param_json"] = param_json
            response = self.http.post(path, params=query, headers=headers)
        else:
            headers["Content-Type"] = "application/json"
            response = self.http.post(
                path, params=query, content=param_json.encode(), headers=headers
            )
        assert response.status_code == 200, response.text
        return response.json()

    def call(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """A call that must succeed: returns ``data``."""
        body = self.raw(method, params, **kwargs)
        assert body["code"] == 10000, body
        return body["data"]

    def login(self, shop_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self.call(
            "token.create", {"grant_type": "authorization_self", "shop_id": shop_id, "code": ""}
        )
        self.access_token = data["access_token"]
        return data


@pytest.fixture
def dd(client: TestClient, rt: Runtime) -> Callable[..., DoudianClient]:
    def make(shop: ShopFixture, **kwargs: Any) -> DoudianClient:
        return DoudianClient(client, shop.app_key, shop.secret, rt.wall.now, **kwargs)

    return make

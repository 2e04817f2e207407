"""Helpers for the F8 buyer page tests: a buyer's own browser (TestClient) signed in through
the real /my/login form with the buyer token, coupons and campaigns through the real services,
and the after-sales and operator fixtures of those contexts."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.aftersales.conftest import World
from tests.coupons.helpers import active_coupon
from tests.platform.conftest import op_client, operator  # noqa: F401  (fixtures)
from xiaodian.accounts import service as accounts
from xiaodian.api.app import create_app
from xiaodian.config import AfterSalesRules, Settings, SmsSettings
from xiaodian.coupons import service as coupons
from xiaodian.runtime import Runtime

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        clock_mode="system",
        secret_key="test-secret-key",
        sms=SmsSettings(demo_phone=True),
        aftersales=AfterSalesRules(evidence_dir=str(tmp_path / "evidence")),
    )


@pytest.fixture
def world(rt: Runtime) -> World:
    return World(rt, itertools.count(100))


def csrf_of(client: TestClient, path: str) -> str:
    """The CSRF value of a page's forms."""
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    match = _CSRF.search(response.text)
    assert match, f"{path} has no csrf_token field"
    return match.group(1)


@dataclass
class BuyerBrowser:
    """One buyer's browser: its own cookies, signed in through the real form."""

    client: TestClient
    buyer_id: int
    token: str  # the bearer token of the buyer API

    def csrf(self, path: str = "/my/coupons") -> str:
        return csrf_of(self.client, path)

    def post(self, path: str, data: dict[str, Any], page: str = "/my/coupons") -> Any:
        return self.client.post(
            path, data={"csrf_token": self.csrf(page), **data}, follow_redirects=False
        )


def sign_in(client: TestClient, token: str, next_path: str = "/my/coupons") -> Any:
    login_csrf = csrf_of(client, f"/my/login?next={next_path}")
    return client.post(
        "/my/login",
        data={"csrf_token": login_csrf, "token": token, "next": next_path},
        follow_redirects=False,
    )


@pytest.fixture
def make_buyer(rt: Runtime) -> Iterator[Any]:
    clients: list[TestClient] = []
    counter = itertools.count(1)

    def _make(nickname: str = "小李") -> BuyerBrowser:
        n = next(counter)
        with rt.unit() as ctx:
            buyer, token = accounts.create_buyer(
                ctx, douyin_id=f"sf_buyer_{n}", nickname=nickname, phone="13900001111"
            )
            buyer_id = buyer.id
        client = TestClient(create_app(rt), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        answer = sign_in(client, token)
        assert answer.status_code == 303, answer.text[:500]
        return BuyerBrowser(client, buyer_id, token)

    yield _make
    for client in clients:
        client.__exit__(None, None, None)


def campaign(rt: Runtime, shop_id: int, *, per_user: int = 1, total: int = 100) -> tuple[int, int]:
    """An online 店铺主页领券 campaign with one approved coupon: (campaign_id, coupon_id)."""
    coupon_id = active_coupon(rt, shop_id)
    now = rt.clock.now()
    with rt.unit("user:1") as ctx:
        created = coupons.create_campaign(
            ctx,
            shop_id,
            coupons.CampaignDraft(
                name="店铺主页领券",
                starts_at=now,
                ends_at=now + timedelta(days=7),
                store_ids=None,
                coupon_ids=[coupon_id],
                per_user_limit=per_user,
                total_limit=total,
            ),
        )
        return created.id, coupon_id

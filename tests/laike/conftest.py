"""A shop with two stores, an approved coupon usable at one of them, a campaign and a buyer
— built with the product's services; the tests then talk to it as a 来客 client would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.coupons.helpers import active_coupon
from tests.laike.client import LaikeClient
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service as coupons
from xiaodian.runtime import Runtime


class Store:
    def __init__(self, rt: Runtime, shop: Any, *, coupon_stores: str = "west") -> None:
        self.rt, self.shop = rt, shop
        with rt.unit() as ctx:
            self.west = accounts.create_store(ctx, shop.shop_id, name="西湖店").id
            self.east = accounts.create_store(ctx, shop.shop_id, name="滨江店").id
        self.coupon_id = active_coupon(
            rt, shop.shop_id, store_ids=[self.west] if coupon_stores == "west" else None
        )
        now = rt.clock.now()
        with rt.unit() as ctx:
            self.campaign_id = coupons.create_campaign(
                ctx,
                shop.shop_id,
                coupons.CampaignDraft(
                    name="到店核销",
                    starts_at=now,
                    ends_at=now + timedelta(days=30),
                    store_ids=None,
                    coupon_ids=[self.coupon_id],
                    per_user_limit=100,
                    total_limit=10000,
                ),
            ).id
            self.buyer = accounts.create_buyer(ctx, douyin_id="dy_buyer", nickname="买家")[0].id

    def claim(self) -> tuple[int, str]:
        with self.rt.unit() as ctx:
            row = coupons.claim(
                ctx,
                self.shop.shop_id,
                self.buyer,
                campaign_id=self.campaign_id,
                coupon_id=self.coupon_id,
            )
            return row.id, row.code

    @property
    def poi(self) -> str:
        return str(self.west)


@pytest.fixture
def store(rt: Runtime, shop: Any) -> Store:
    return Store(rt, shop)


@pytest.fixture
def laike(client: TestClient, shop: Any) -> LaikeClient:
    return LaikeClient(client, shop.app_key, shop.secret).login()

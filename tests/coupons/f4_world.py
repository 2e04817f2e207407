"""The F4 world (issue 17): a shop with two stores, an online campaign of an active coupon,
a buyer with claims, and two users who could become verifiers — shared by the HTTP tests and
the browser test of the staff phone page."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ShopFixture
from tests.coupons.helpers import active_coupon
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service
from xiaodian.runtime import Runtime


class World:
    """A shop with two stores, an online campaign of an active coupon (95折, at most 300元
    off), a buyer with claims, and two users who could become verifiers."""

    def __init__(self, rt: Runtime, shop: ShopFixture, *, users: bool = True) -> None:
        self.rt, self.shop_id = rt, shop.shop_id
        with rt.unit() as ctx:
            self.west = accounts.create_store(ctx, shop.shop_id, name="西湖店").id
            self.east = accounts.create_store(ctx, shop.shop_id, name="滨江店").id
            if users:  # users are the platform's: one world creates them
                accounts.create_buyer(ctx, douyin_id="dy_xiaowang", nickname="小王店员")
                accounts.create_buyer(ctx, douyin_id="dy_xiaoli", nickname="小李")
            buyer, _ = accounts.create_buyer(
                ctx, douyin_id=f"dy_buyer_{shop.shop_id}", nickname="买家"
            )
            self.buyer = buyer.id
        self.coupon_id = active_coupon(rt, shop.shop_id)
        now = rt.clock.now()
        with rt.unit() as ctx:
            self.campaign_id = service.create_campaign(
                ctx,
                shop.shop_id,
                service.CampaignDraft(
                    name="开业领券",
                    starts_at=now,
                    ends_at=now + timedelta(days=30),
                    store_ids=None,
                    coupon_ids=[self.coupon_id],
                    per_user_limit=10,
                    total_limit=100,
                ),
            ).id

    def claim(self) -> str:
        with self.rt.unit() as ctx:
            row = service.claim(
                ctx,
                self.shop_id,
                self.buyer,
                campaign_id=self.campaign_id,
                coupon_id=self.coupon_id,
            )
            return row.code

    def add_staff(self, douyin_id: str, store_ids: list[int] | None = None) -> int:
        with self.rt.unit() as ctx:
            return accounts.add_staff(
                ctx, self.shop_id, douyin_id=douyin_id, name="店员", store_ids=store_ids
            ).id

    def claim_status(self, code: str) -> str:
        with self.rt.unit() as ctx:
            return service.find_claim(ctx.session, self.shop_id, code).status

"""Reads of coupons and campaigns that every part of the context needs (creation and campaigns
in ``service.py``, verification in ``verification.py``): a shop's coupon, campaign and the
stores a campaign covers. Another shop's object is "not found" (X2)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.coupons.models import Campaign, CampaignStore, Coupon
from xiaodian.db import get_owned


def get_coupon(session: Session, shop_id: int, coupon_id: int) -> Coupon:
    coupon: Coupon = get_owned(session, Coupon, shop_id, coupon_id, ("卡券", "Coupon"))
    return coupon


def get_campaign(session: Session, shop_id: int, campaign_id: int) -> Campaign:
    return get_owned(session, Campaign, shop_id, campaign_id, ("活动", "Campaign"))


def campaign_store_ids(session: Session, campaign: Campaign) -> list[int] | None:
    if campaign.all_stores:
        return None
    return sorted(
        session.scalars(
            select(CampaignStore.store_id).where(
                CampaignStore.shop_id == campaign.shop_id, CampaignStore.campaign_id == campaign.id
            )
        )
    )

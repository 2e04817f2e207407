"""Demo data for coupons: coupons in each status (审核中 / 有效中 / 审核失败), an online
店铺主页领券 campaign, claims by demo buyers, some of them verified (C1–C6)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy import select

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.coupons import service
from xiaodian.runtime import Runtime


def _png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 24):
        draw.line([(x, 0), (x, size[1])], fill=(255, 235, 220), width=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _draft(**overrides: Any) -> service.CouponDraft:
    values: dict[str, Any] = {
        "title": "进店全场95折",
        "merchant_name": "好物",
        "product_image": _png((686, 176), (232, 72, 85)),
        "logo": _png((132, 132), (40, 90, 200)),
        "condition_kind": "discount",
        "discount_percent": 95,
        "discount_cap_fen": 300_00,
        "usage_text": "全场95折，限定折扣最多抵扣300元，最终解释权归门店所有。",
        "validity_kind": "relative",
        "valid_days": 7,
        "service_phone": "0571-88886666",
        "claim_instructions": "每人限领1张，到店出示券码核销。",
    }
    values.update(overrides)
    return service.CouponDraft(**values)


def seed(rt: Runtime, shop_id: int, progress: Any = None) -> None:
    with rt.unit("demo") as ctx:
        stores = [s.id for s in accounts.list_stores(ctx.session, shop_id)]
        approved = [
            service.create_coupon(ctx, shop_id, _draft()),
            service.create_coupon(
                ctx,
                shop_id,
                _draft(
                    title="满500减30",
                    condition_kind="amount_off",
                    threshold_fen=500_00,
                    amount_off_fen=30_00,
                    usage_text="订单满500元可用，立减30元。",
                ),
            ),
        ]
        service.create_coupon(ctx, shop_id, _draft(title="周末到店9折", discount_percent=90))
        service.create_coupon(
            ctx,
            shop_id,
            _draft(title="全网最低价 抖音同款", claim_instructions="加VX号 haowu888 领取"),
        )
        for coupon in approved:  # demo: the default policy's approval (F1) is due already
            coupon.review_due_at = coupon.finalize_at = coupon.created_at
    with rt.unit("demo") as ctx:
        rejected = service.list_coupons(ctx.session, shop_id, status="reviewing")
        for coupon in rejected:
            if coupon.auto_reasons:
                coupon.finalize_at = ctx.now
        service.finalize_reviews(ctx)
        campaign = service.create_campaign(
            ctx,
            shop_id,
            service.CampaignDraft(
                name="开业店铺主页领券",
                starts_at=ctx.now,
                ends_at=ctx.now + timedelta(days=30),
                store_ids=None,
                coupon_ids=[c.id for c in approved],
                per_user_limit=2,
                total_limit=500,
            ),
        )
        buyers = list(ctx.session.scalars(select(Buyer).order_by(Buyer.id).limit(4)))
        if not buyers:
            buyers = [
                accounts.create_buyer(
                    ctx, douyin_id=f"demo_coupon_buyer_{i}", nickname=f"领券买家{i}"
                )[0]
                for i in range(1, 4)
            ]
        claims = [
            service.claim(ctx, shop_id, b.id, campaign_id=campaign.id, coupon_id=approved[0].id)
            for b in buyers
        ]
        for claimed in claims[:2]:
            if stores:
                service.verify(
                    ctx, shop_id, code=claimed.code, store_id=stores[0], channel="console"
                )

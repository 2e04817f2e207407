"""U3 test data (shared by the HTTP and the browser tests): three local days of a shop's
business built through the real services on the manual clock (see ``build_day``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tests.conftest import START, ShopFixture
from tests.coupons.helpers import draft
from tests.orders.conftest import Shopper
from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.service import ItemQty
from xiaodian.coupons import service as coupons
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.redpackets import service as redpackets
from xiaodian.runtime import Runtime

HOUR = 3600


@dataclass
class Day:
    """What ``build_day`` made, and the instant it leaves the clock at."""

    orders: dict[str, int]


def _advance_to(rt: Runtime, hours_after_start: float) -> None:
    target = START + timedelta(hours=hours_after_start)
    scheduler.advance(rt, int((target - rt.clock.now()).total_seconds()))


def build_day(rt: Runtime, shop: ShopFixture, shopper: Shopper) -> Day:
    """START is Mon 2026-11-02 10:00 Asia/Shanghai. Three local days of business:

    * 11-02 10:00 A1 (59.00) and A2 (118.00) paid, ship-by 11-04 10:00;
    * 11-03 10:00 B1 (59.00) paid and shipped; its buyer asks 已发货仅退款 (A3 due 11-05
      10:00); X placed, never paid;
    * 11-04 07:00 (11-03 23:00 UTC — today in Shanghai) E1 (59.00) paid;
    * 11-04 09:00 A1 shipped in time; 10:00 A2 judged late by the sweep;
    * 11-04 11:00 (now) C1 (30.00, 5 h promise: ship-by 16:00) and C2 (177.00) paid; 20.00 of
      A1 refunded; two coupons 审核中; one red packet ending in 10 h, one in 3 days."""
    shop_id = shop.shop_id
    shopper.deposit(shop_id)
    cup = shopper.product(shop_id, title="保温杯", price_fen=5_900)
    fast = shopper.product(shop_id, title="现货茶叶", price_fen=3_000, ship_within_hours=5)
    made: dict[str, int] = {}
    made["A1"] = shopper.order(shop_id, cup, name="王小明", phone="13900001111")
    made["A2"] = shopper.order(shop_id, cup, qty=2, name="王小红", phone="13900002222")
    _advance_to(rt, 24)
    made["B1"] = shopper.order(shop_id, cup, name="李雷", phone="13900003333")
    made["X"] = shopper.order(shop_id, cup, pay=False, name="韩梅梅", phone="13900004444")
    with rt.unit("user:1") as ctx:
        orders.ship_order(ctx, shop_id, made["B1"], carrier="SF", tracking_no="SF1234567890123")
        order = orders.get_order(ctx.session, shop_id, made["B1"])
        line = orders.order_items(ctx.session, order)[0]
        buyer_id = order.buyer_id
    with rt.unit(f"buyer:{buyer_id}") as ctx:
        buyer = ctx.session.get(Buyer, buyer_id)
        assert buyer is not None
        aftersales.apply(
            ctx,
            buyer,
            made["B1"],
            kind="shipped_refund",
            items=[ItemQty(line.id, 1)],
            amount_fen=5_900,
            reason="no_longer_wanted",
        )
    _advance_to(rt, 45)  # 11-04 07:00 Shanghai = 11-03 23:00 UTC
    made["E1"] = shopper.order(shop_id, cup, name="赵六", phone="13900005555")
    _advance_to(rt, 47)
    with rt.unit("user:1") as ctx:
        orders.ship_order(ctx, shop_id, made["A1"], carrier="SF", tracking_no="SF1234567890124")
    _advance_to(rt, 49)  # A2's ship-by (11-04 10:00) passed: the sweep judged it late
    made["C1"] = shopper.order(shop_id, fast, name="孙七", phone="13900006666")
    made["C2"] = shopper.order(shop_id, cup, qty=3, name="王五", phone="13900007777")
    with rt.unit("user:1") as ctx:
        orders.refund(ctx, shop_id, made["A1"], 2_000, "运费补偿", None)
        for title in ("进店全场95折", "新客满100减10"):
            coupons.create_coupon(ctx, shop_id, draft(title=title))
        ledger.topup(ctx, shop_id, Account.BALANCE, 100_000, "u3-fund")
        notify.notice(ctx, shop_id, category="system", title="U3 测试通知")
    ids = []
    for n in (1, 2):
        with rt.unit() as ctx:
            accounts.create_buyer(ctx, douyin_id=f"dy_u3_{n}", nickname=f"红包买家{n}", phone="")
            ids.append(f"dy_u3_{n}")
    with rt.unit("user:1") as ctx:
        redpackets.issue(
            ctx, shop_id, buyer_douyin_ids=[ids[0]], amount_fen=500, validity_seconds=10 * HOUR
        )
        redpackets.issue(
            ctx, shop_id, buyer_douyin_ids=[ids[1]], amount_fen=500, validity_seconds=72 * HOUR
        )
    return Day(made)

"""Helpers for the orders tests: products, buyers and paid orders made through the services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service
from xiaodian.runtime import Runtime


@dataclass
class Shopper:
    rt: Runtime
    counter: Any

    def buyer(self, nickname: str = "张三", phone: str = "13812345678") -> tuple[int, str]:
        n = next(self.counter)
        with self.rt.unit() as ctx:
            buyer, token = accounts.create_buyer(
                ctx, douyin_id=f"dy_buyer_{n}", nickname=nickname, phone=phone
            )
            return buyer.id, token

    def product(
        self,
        shop_id: int,
        title: str = "保温杯",
        price_fen: int = 5_900,
        stock: int = 1000,
        ship_within_hours: int | None = None,
    ) -> int:
        with self.rt.unit() as ctx:
            return service.create_product(
                ctx,
                shop_id,
                title=title,
                price_fen=price_fen,
                stock=stock,
                ship_within_hours=ship_within_hours,
            ).id

    def order(
        self,
        shop_id: int,
        product_id: int,
        *,
        buyer_id: int | None = None,
        qty: int = 1,
        pay: bool = True,
        route: str = "wechat",
        name: str = "张三",
        phone: str = "13812345678",
    ) -> int:
        if buyer_id is None:
            buyer_id, _ = self.buyer(name, phone)
        with self.rt.unit(f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            order = service.place_order(
                ctx,
                buyer,
                shop_id,
                items=[(product_id, qty)],
                address="杭州市西湖区文三路 1 号",
                payment_route=route,
                receiver_name=name,
                receiver_phone=phone,
            )
            if pay:
                service.pay_order(ctx, buyer_id, order.id)
            return order.id

    def deposit(self, shop_id: int, amount_fen: int = 1_000_000) -> None:
        with self.rt.unit() as ctx:
            ledger.topup(ctx, shop_id, Account.DEPOSIT, amount_fen, f"dep-{shop_id}-{amount_fen}")

    def balance(self, shop_id: int, account: str) -> int:
        with self.rt.unit() as ctx:
            return ledger.balance(ctx.session, shop_id, account)


@pytest.fixture
def shopper(rt: Runtime) -> Shopper:
    return Shopper(rt, itertools.count(1))

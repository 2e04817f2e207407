"""Helpers for the red-packet tests: a funded shop, buyers, products, made through services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.builders import Builders
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.redpackets import service
from xiaodian.redpackets.models import RedPacket
from xiaodian.runtime import Runtime


@dataclass
class World:
    """One funded shop's red-packet scenarios; buyers, products and money come from the
    shared builders (M7)."""

    rt: Runtime
    shop_id: int
    counter: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.make = Builders(self.rt, self.counter, prefix="dy_rp")

    def fund(self, amount_fen: int, key: str | None = None) -> None:
        self.make.topup(self.shop_id, Account.BALANCE, amount_fen, key)

    def buyer(self, douyin_id: str | None = None) -> tuple[int, str, str]:
        n = next(self.counter)
        douyin_id = douyin_id or f"dy_rp_{n}"
        buyer_id, token = self.make.buyer(f"买家{n}", douyin_id=douyin_id)
        return buyer_id, douyin_id, token

    def product(self, price_fen: int = 5_900, stock: int = 10_000) -> int:
        return self.make.product(self.shop_id, "保温杯", price_fen, stock)

    def issue(self, douyin_ids: list[str], amount_fen: int, **kwargs: Any) -> list[int]:
        with self.rt.unit("user:1") as ctx:
            result = service.issue(
                ctx, self.shop_id, buyer_douyin_ids=douyin_ids, amount_fen=amount_fen, **kwargs
            )
            return [r.redpacket_id for r in result.rows if r.ok and r.redpacket_id]

    def checkout(
        self,
        buyer_id: int,
        product_id: int,
        packet_id: int | None,
        amount: int | None = None,
        *,
        qty: int = 1,
        pay: bool = True,
    ) -> int:
        with self.rt.unit(f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            result = service.checkout(
                ctx,
                buyer,
                self.shop_id,
                items=[(product_id, qty)],
                address="杭州市西湖区文三路 1 号",
                payment_route="wechat",
                redpacket_id=packet_id,
                redpacket_amount_fen=amount,
            )
            if pay:
                orders.pay_order(ctx, buyer_id, result.order.id)
            return result.order.id

    def packet(self, packet_id: int) -> RedPacket:
        with self.rt.unit() as ctx:
            return service.get_packet(ctx.session, self.shop_id, packet_id)

    def balances(self) -> dict[str, int]:
        with self.rt.unit() as ctx:
            return ledger.balances(ctx.session, self.shop_id)

    def audit(self) -> list[str]:
        with self.rt.unit() as ctx:
            return ledger.audit(ctx.session)


@pytest.fixture
def world(rt: Runtime) -> World:
    with rt.unit() as ctx:
        shop, _user = accounts.create_shop(
            ctx,
            name="红包测试店",
            username="rp_owner",
            password="secret-pass-1",
            phone="13800000001",
        )
        shop_id = shop.id
    return World(rt, shop_id)

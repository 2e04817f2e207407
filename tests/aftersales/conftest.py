"""Helpers for the after-sales tests: shops with money, verified/unverified buyers, paid and
shipped orders, strategies — all through the real services."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import logistics, strategies
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.models import AfterSaleRequest
from xiaodian.aftersales.service import ItemQty
from xiaodian.builders import Builders
from xiaodian.config import AfterSalesRules, Settings
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime


def png_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(out, format="PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        clock_mode="system",
        secret_key="test-secret-key",
        aftersales=AfterSalesRules(evidence_dir=str(tmp_path / "evidence")),
    )


@dataclass
class World(Builders):
    """The after-sales tests' call shapes over the shared builders (M7): orders are shipped
    unless ``ship=False``; then requests, evidence and decisions below."""

    prefix: str = "as_buyer"

    def buyer(  # type: ignore[override]
        self, *, verified: bool = False, name: str = "张三"
    ) -> tuple[int, str]:
        return super().buyer(name, verified=verified)

    def product(  # type: ignore[override]
        self, shop_id: int, price_fen: int = 5_000, title: str = "保温杯"
    ) -> int:
        return super().product(shop_id, title, price_fen)

    def order(  # type: ignore[override]
        self,
        shop_id: int,
        lines: list[tuple[int, int]],
        *,
        buyer_id: int | None = None,
        verified: bool = False,
        ship: bool = True,
        discount_fen: int = 0,
        name: str = "张三",
        phone: str = "13812345678",
        route: str = "wechat",
    ) -> int:
        return super().order(
            shop_id,
            lines,
            buyer_id=buyer_id,
            verified=verified,
            ship=ship,
            discount_fen=discount_fen,
            name=name,
            phone=phone,
            route=route,
        )

    def items(self, shop_id: int, order_id: int) -> list[tuple[int, int]]:
        with self.rt.unit() as ctx:
            order = orders.get_order(ctx.session, shop_id, order_id)
            return [(i.id, i.qty) for i in orders.order_items(ctx.session, order)]

    def buyer_of(self, shop_id: int, order_id: int) -> int:
        with self.rt.unit() as ctx:
            return orders.get_order(ctx.session, shop_id, order_id).buyer_id

    def apply(
        self,
        shop_id: int,
        order_id: int,
        amount_fen: int,
        *,
        kind: str = "shipped_refund",
        items: list[tuple[int, int]] | None = None,
        reason: str | None = None,
    ) -> AfterSaleRequest:
        buyer_id = self.buyer_of(shop_id, order_id)
        chosen = items if items is not None else self.items(shop_id, order_id)
        default_reason = {
            "unshipped_refund": "no_longer_wanted",
            "shipped_refund": "no_longer_wanted",
            "return_refund": "seven_days",
        }[kind]
        with self.rt.unit(f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            assert buyer is not None
            return aftersales.apply(
                ctx,
                buyer,
                order_id,
                kind=kind,
                items=[ItemQty(i, q) for i, q in chosen],
                amount_fen=amount_fen,
                reason=reason or default_reason,
            )

    def request(self, shop_id: int, request_id: int) -> AfterSaleRequest:
        with self.rt.unit() as ctx:
            return aftersales.get_request(ctx.session, shop_id, request_id)

    def history(self, shop_id: int, request_id: int) -> list[tuple[str, str | None, str | None]]:
        with self.rt.unit() as ctx:
            req = aftersales.get_request(ctx.session, shop_id, request_id)
            return [(h.action, h.rule, h.strategy) for h in aftersales.history(ctx.session, req)]

    def strategy(
        self, shop_id: int, code: str, *, enabled: bool = True, threshold_fen: int | None = None
    ) -> None:
        with self.rt.unit("user:1") as ctx:
            strategies.save_strategy(
                ctx, shop_id, code, enabled=enabled, threshold_fen=threshold_fen
            )

    def topup(  # type: ignore[override]
        self, shop_id: int, amount_fen: int = 100_000, key: str = ""
    ) -> None:
        super().topup(
            shop_id,
            Account.BALANCE,
            amount_fen,
            key or f"as-topup-{shop_id}-{next(self.counter)}",
        )

    def packages(self, shop_id: int, order_id: int) -> list[Any]:
        with self.rt.unit() as ctx:
            return logistics.packages_of(ctx.session, shop_id, order_id)

    def event(self, shop_id: int, package_id: int, event: str) -> None:
        with self.rt.unit("carrier") as ctx:
            logistics.carrier_event(ctx, shop_id, package_id, event)


@pytest.fixture
def world(rt: Runtime) -> World:
    return World(rt, itertools.count(1))

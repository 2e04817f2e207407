"""R3 under real concurrency (PostgreSQL, parallel connections) and money conservation across
every red-packet operation (Hypothesis stateful): merchant balance + Σ packet remaining +
Σ spent in orders == everything deposited, and the ledger audit is clean, always."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.errors import XiaodianError
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.orders import sweeps as order_rules
from xiaodian.orders.models import Order
from xiaodian.redpackets import service
from xiaodian.redpackets import sweeps as rules
from xiaodian.redpackets.models import RedPacket
from xiaodian.runtime import Runtime

from .conftest import World

DAY = 86_400


@pytest.mark.usefixtures("pg_only")
def test_R3_parallel_checkouts_never_spend_more_than_remaining(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00)
    product = world.product(price_fen=3_00)
    threads_n, each = 24, 3_00  # 24 × 3.00 wanted, 10.00 available → exactly 3 succeed
    barrier = threading.Barrier(threads_n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        barrier.wait()
        try:
            world.checkout(buyer_id, product, pid, each, pay=False)
            result = "ok"
        except XiaodianError as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 3
    assert set(outcomes) == {"ok", "redpacket_insufficient"}
    packet = world.packet(pid)
    assert (packet.remaining_fen, packet.spent_fen) == (1_00, 9_00)
    b = world.balances()
    assert b[Account.REDPACKET_FLOAT] == 1_00 and b[Account.ORDER_ESCROW] == 9_00
    assert world.audit() == []


class Conservation(RuleBasedStateMachine):
    """Random issue / spend / pay / refund / close / expire / reclaim / extend sequences."""

    rt: Runtime

    def __init__(self) -> None:
        super().__init__()
        self.deposited = 0
        self.n = 0

    @initialize()
    def setup(self) -> None:
        with self.rt.unit() as ctx:
            shop, _ = accounts.create_shop(
                ctx,
                name=f"守恒{id(self)}",
                username=f"c{id(self)}",
                password="secret-pass-1",
                phone="13800000002",
            )
            self.shop_id = shop.id
            self.buyers = []
            for i in range(3):
                buyer, _ = accounts.create_buyer(
                    ctx,
                    douyin_id=f"cons_{id(self)}_{i}",
                    nickname=f"b{i}",
                    phone="13812345678",
                )
                self.buyers.append((buyer.id, buyer.douyin_id))
            self.product = orders.create_product(
                ctx, shop.id, title="商品", price_fen=7_00, stock=100_000
            ).id
        self.world = World(self.rt, self.shop_id)

    def _try(self, fn: Any) -> None:
        with contextlib.suppress(XiaodianError):
            fn()

    @rule(amount=st.integers(1, 50_00))
    def deposit(self, amount: int) -> None:
        self.n += 1
        self.world.fund(amount, key=f"cons-{id(self)}-{self.n}")
        self.deposited += amount

    @rule(
        who=st.lists(st.integers(0, 2), min_size=1, max_size=3),
        amount=st.integers(1, 20_00),
        hours=st.integers(1, 96),
    )
    def issue(self, who: list[int], amount: int, hours: int) -> None:
        ids = [self.buyers[i][1] for i in who]
        self._try(lambda: self.world.issue(ids, amount, validity_seconds=hours * 3600))

    @rule(
        pick=st.integers(0, 50),
        amount=st.integers(1, 25_00),
        qty=st.integers(1, 4),
        pay=st.booleans(),
    )
    def spend(self, pick: int, amount: int, qty: int, pay: bool) -> None:
        packets = self._packets()
        if not packets:
            return
        packet = packets[pick % len(packets)]
        self._try(
            lambda: self.world.checkout(
                packet.buyer_id, self.product, packet.id, amount, qty=qty, pay=pay
            )
        )

    @rule(pick=st.integers(0, 50), part=st.integers(1, 100))
    def refund(self, pick: int, part: int) -> None:
        with self.rt.unit() as ctx:
            paid = list(
                ctx.session.scalars(
                    select(Order)
                    .where(
                        Order.shop_id == self.shop_id,
                        Order.paid_fen > Order.refunded_fen,
                    )
                    .order_by(Order.id)
                )
            )
            if not paid:
                return
            order = paid[pick % len(paid)]
            amount = max(1, (order.paid_fen - order.refunded_fen) * part // 100)
            order_id = order.id
        self._try(
            lambda: self._unit(
                lambda ctx: orders.refund(ctx, self.shop_id, order_id, amount, "退款", "A6")
            )
        )

    @rule()
    def months_pass(self) -> None:
        """O5 closes unpaid (and unshipped) orders after 150 days: their packet part returns."""
        self.rt.clock.advance(151 * DAY)  # type: ignore[attr-defined]
        scheduler.run_tick(self.rt, sweeps=[*order_rules.SWEEPS, *rules.SWEEPS])

    @rule(hours=st.integers(1, 72))
    def time_passes(self, hours: int) -> None:
        self.rt.clock.advance(hours * 3600)  # type: ignore[attr-defined]
        scheduler.run_tick(self.rt, sweeps=rules.SWEEPS)

    @rule(pick=st.integers(0, 50))
    def reclaim(self, pick: int) -> None:
        packets = self._packets()
        if packets:
            pid = packets[pick % len(packets)].id
            self._try(lambda: self._unit(lambda ctx: service.reclaim(ctx, self.shop_id, pid)))

    @rule(pick=st.integers(0, 50), hours=st.integers(1, 96))
    def extend(self, pick: int, hours: int) -> None:
        packets = self._packets()
        if packets:
            pid = packets[pick % len(packets)].id
            self._try(
                lambda: self._unit(lambda ctx: service.extend(ctx, self.shop_id, pid, hours * 3600))
            )

    def _unit(self, fn: Any) -> None:
        with self.rt.unit("user:1") as ctx:
            fn(ctx)

    def _packets(self) -> list[RedPacket]:
        with self.rt.unit() as ctx:
            return list(
                ctx.session.scalars(
                    select(RedPacket)
                    .where(RedPacket.shop_id == self.shop_id)
                    .order_by(RedPacket.id)
                )
            )

    @invariant()
    def money_is_conserved(self) -> None:
        if not hasattr(self, "shop_id"):
            return
        with self.rt.unit() as ctx:
            balance = ledger.balance(ctx.session, self.shop_id, Account.BALANCE)
            remaining, spent, float_total = ctx.session.execute(
                select(
                    func.coalesce(func.sum(RedPacket.remaining_fen), 0),
                    func.coalesce(func.sum(RedPacket.spent_fen), 0),
                    func.coalesce(func.sum(RedPacket.remaining_fen), 0),
                ).where(RedPacket.shop_id == self.shop_id)
            ).one()
            assert balance + remaining + spent == self.deposited
            assert ledger.balance(ctx.session, self.shop_id, Account.REDPACKET_FLOAT) == float_total
            assert ledger.audit(ctx.session) == []


def test_R3_R5_R6_money_is_conserved_across_every_operation(rt: Runtime) -> None:
    Conservation.rt = rt
    runner = settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )(Conservation)
    runner.TestCase().runTest()

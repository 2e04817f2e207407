"""X3: append-only ledgers; a balance is the sum of its entries; every movement is one
transaction with an idempotency key."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from xiaodian.errors import Conflict, InsufficientFunds, ValidationFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerEntry, LedgerTxn
from xiaodian.runtime import Runtime


def test_X3_topup_credits_deposit_and_balance_is_sum_of_entries(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.DEPOSIT, 200_000, "k1")
        ledger.topup(ctx, shop.shop_id, Account.DEPOSIT, 5_050, "k2")
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == 205_050
        total = ctx.session.scalar(
            select(func.sum(LedgerEntry.amount_fen)).where(
                LedgerEntry.shop_id == shop.shop_id, LedgerEntry.account_code == Account.DEPOSIT
            )
        )
        assert total == 205_050
        assert ledger.audit(ctx.session) == []


def test_X3_repeated_idempotency_key_returns_first_result_and_moves_nothing(
    rt: Runtime, shop: Any
) -> None:
    with rt.unit() as ctx:
        first = ledger.topup(ctx, shop.shop_id, Account.BALANCE, 10_000, "same-key")
    with rt.unit() as ctx:
        again = ledger.topup(ctx, shop.shop_id, Account.BALANCE, 10_000, "same-key")
        assert again.replayed and again.txn.id == first.txn.id
        assert ledger.balance(ctx.session, shop.shop_id, Account.BALANCE) == 10_000
        assert ctx.session.scalar(select(func.count()).select_from(LedgerTxn)) == 1


def test_X3_same_key_with_different_amount_is_refused(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 10_000, "k")
    with pytest.raises(Conflict) as info, rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 20_000, "k")
    assert info.value.code == "idempotency_key_reused"


def test_X3_balance_never_overdrawn_and_failed_move_leaves_no_trace(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 1_000, "in")
    with rt.unit() as ctx:
        with pytest.raises(InsufficientFunds) as info:
            ledger.move(
                ctx,
                shop.shop_id,
                source=Account.BALANCE,
                target=Account.REDPACKET_FLOAT,
                amount_fen=1_001,
                key="too-much",
                kind="test",
            )
        assert "¥10.00" in info.value.message_zh
        # The caller's transaction is still usable: the failed movement rolled back alone.
        ledger.move(
            ctx,
            shop.shop_id,
            source=Account.BALANCE,
            target=Account.REDPACKET_FLOAT,
            amount_fen=1_000,
            key="exact",
            kind="test",
        )
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.BALANCE) == 0
        keys = set(ctx.session.scalars(select(LedgerTxn.idempotency_key)))
        assert keys == {"in", "exact"}
        assert ledger.audit(ctx.session) == []


def test_X3_deposit_may_go_below_zero_for_penalties(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        ledger.move(
            ctx,
            shop.shop_id,
            source=Account.DEPOSIT,
            target=Account.PLATFORM_PENALTY,
            amount_fen=1_000,
            key="penalty",
            kind="late_shipment_penalty",
            rule="O8",
        )
        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == -1_000


@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_X3_amount_must_be_positive_int_fen(rt: Runtime, shop: Any, amount: Any) -> None:
    with pytest.raises(ValidationFailed), rt.unit() as ctx:
        ledger.move(
            ctx,
            shop.shop_id,
            source=Account.EXTERNAL,
            target=Account.BALANCE,
            amount_fen=amount,
            key="bad",
            kind="test",
        )


def test_X3_ledgers_are_per_shop(rt: Runtime, make_shop: Any) -> None:
    a, b = make_shop(), make_shop()
    with rt.unit() as ctx:
        ledger.topup(ctx, a.shop_id, Account.BALANCE, 500, "same")
        ledger.topup(ctx, b.shop_id, Account.BALANCE, 700, "same")  # keys are per shop
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, a.shop_id, Account.BALANCE) == 500
        assert ledger.balance(ctx.session, b.shop_id, Account.BALANCE) == 700


class LedgerMachine(RuleBasedStateMachine):
    """Random movements, replays and refusals: money is conserved and never double-moved."""

    rt: Runtime
    shop_id: int

    def __init__(self) -> None:
        super().__init__()
        self.expected: dict[str, int] = {}
        self.used_keys: dict[str, tuple[str, str, int]] = {}

    @initialize()
    def start(self) -> None:
        self.expected = {a.value: 0 for a in Account}

    @rule(
        src=st.sampled_from(list(Account)),
        dst=st.sampled_from(list(Account)),
        amount=st.integers(min_value=1, max_value=50_000),
        key=st.sampled_from([f"k{i}" for i in range(12)]),
    )
    def move(self, src: Account, dst: Account, amount: int, key: str) -> None:
        source, target = src, dst
        if source == target:
            return
        request = (source.value, target.value, amount)
        try:
            with self.rt.unit() as ctx:
                posted = ledger.move(
                    ctx,
                    self.shop_id,
                    source=source,
                    target=target,
                    amount_fen=amount,
                    key=key,
                    kind="test",
                )
        except Conflict as exc:
            # Either the key was used for something else, or the source would be overdrawn.
            if exc.code == "idempotency_key_reused":
                assert key in self.used_keys and self.used_keys[key] != request
            else:
                assert exc.code == "insufficient_funds"
                assert self.expected[source] < amount
            return
        if key in self.used_keys:
            assert posted.replayed and self.used_keys[key] == request
            return
        assert not posted.replayed
        self.used_keys[key] = request
        self.expected[source] -= amount
        self.expected[target] += amount

    @invariant()
    def books_hold(self) -> None:
        with self.rt.unit() as ctx:
            assert ledger.audit(ctx.session, self.shop_id) == []
            actual = ledger.balances(ctx.session, self.shop_id)
        assert actual == self.expected
        assert sum(actual.values()) == 0  # double entry: money neither created nor destroyed


def test_X3_money_conservation_stateful(rt: Runtime, make_shop: Any) -> None:
    state = {"n": 0}

    class Bound(LedgerMachine):
        def __init__(self) -> None:
            super().__init__()
            state["n"] += 1
            self.rt = rt
            self.shop_id = make_shop(f"守恒测试{state['n']}").shop_id

    run_state_machine_as_test(
        Bound,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.mark.postgres_only
def test_X3_concurrent_debits_never_overdraw_on_postgres(
    pg_only: None, rt: Runtime, shop: Any
) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 10_000, "seed")
    results: list[str] = []
    barrier = threading.Barrier(16)

    def spend(i: int) -> None:
        barrier.wait()
        try:
            with rt.unit() as ctx:
                ledger.move(
                    ctx,
                    shop.shop_id,
                    source=Account.BALANCE,
                    target=Account.REDPACKET_FLOAT,
                    amount_fen=1_000,
                    key=f"spend-{i}",
                    kind="test",
                )
            results.append("ok")
        except InsufficientFunds:
            results.append("refused")

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 10 and results.count("refused") == 6
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.BALANCE) == 0
        assert ledger.audit(ctx.session) == []


@pytest.mark.postgres_only
def test_X3_concurrent_same_key_moves_money_once_on_postgres(
    pg_only: None, rt: Runtime, shop: Any
) -> None:
    barrier = threading.Barrier(12)
    replays: list[bool] = []

    def topup() -> None:
        barrier.wait()
        with rt.unit() as ctx:
            replays.append(ledger.topup(ctx, shop.shop_id, Account.DEPOSIT, 777, "once").replayed)

    threads = [threading.Thread(target=topup) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert replays.count(False) == 1 and len(replays) == 12
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.DEPOSIT) == 777

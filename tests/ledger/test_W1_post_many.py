"""W1: ``ledger.post_many`` — many movements in a few statements, with ``post``'s promises for
each one: one transaction per movement with its entries, the idempotency key, balances equal
to the entries, never an overdrawn non-negative account, all or nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import event, func, select

from xiaodian.errors import Conflict, InsufficientFunds, ValidationFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account, LedgerEntry, LedgerTxn
from xiaodian.ledger.service import Leg, Movement
from xiaodian.runtime import Runtime


def _penalty(shop_id: int, key: str, fen: int) -> Movement:
    return Movement(
        shop_id=shop_id,
        key=key,
        kind="late_shipment_penalty",
        legs=(Leg(Account.DEPOSIT, -fen), Leg(Account.PLATFORM_PENALTY, fen)),
        rule="O8",
        memo="batch",
    )


def _count(rt: Runtime, model: Any) -> int:
    with rt.unit() as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(model)) or 0)


def test_W1_post_many_one_transaction_per_movement_in_few_statements(
    rt: Runtime, make_shop: Any
) -> None:
    """12 shops, a movement each: 12 transactions, each with its two entries summing to 0, the
    balances equal to the entries — in a number of statements that does not grow with the
    shops (``post`` took ≈ 10 per movement)."""
    shops = [make_shop().shop_id for _ in range(12)]
    with rt.unit() as ctx:
        for s in shops:
            ledger.topup(ctx, s, Account.DEPOSIT, 100_000, "seed")
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        with rt.unit() as ctx:
            posted = ledger.post_many(
                ctx, [_penalty(s, f"pen:{s}", 1_000 * (i + 1)) for i, s in enumerate(shops)]
            )
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)
    assert len(statements) <= 12, "\n".join(s[:90] for s in statements)
    assert [p.replayed for p in posted] == [False] * 12
    assert len({p.txn.id for p in posted}) == 12
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []
        for i, (s, p) in enumerate(zip(shops, posted, strict=True)):
            assert p.txn.shop_id == s and p.txn.idempotency_key == f"pen:{s}"
            assert ledger.balance(ctx.session, s, Account.DEPOSIT) == 100_000 - 1_000 * (i + 1)
            assert ledger.balance(ctx.session, s, Account.PLATFORM_PENALTY) == 1_000 * (i + 1)
            entries = ctx.session.scalars(
                select(LedgerEntry).where(LedgerEntry.txn_id == p.txn.id)
            ).all()
            assert sorted((e.shop_id, e.account_code, e.amount_fen) for e in entries) == [
                (s, Account.DEPOSIT, -1_000 * (i + 1)),
                (s, Account.PLATFORM_PENALTY, 1_000 * (i + 1)),
            ]
            after = {e.account_code: e.balance_after_fen for e in entries}
            assert after[Account.DEPOSIT] == 100_000 - 1_000 * (i + 1)


def test_W1_post_many_replays_a_used_key_and_refuses_it_for_other_content(
    rt: Runtime, make_shop: Any
) -> None:
    a, b = make_shop().shop_id, make_shop().shop_id
    with rt.unit() as ctx:
        first = ledger.post(
            ctx,
            a,
            key="k",
            kind="late_shipment_penalty",
            legs=[Leg(Account.DEPOSIT, -500), Leg(Account.PLATFORM_PENALTY, 500)],
            rule="O8",
        )
    with rt.unit() as ctx:
        posted = ledger.post_many(
            ctx,
            [_penalty(a, "k", 500), _penalty(b, "k", 700), _penalty(b, "k", 700)],
        )
    # a's key replays post's transaction; b's is new once, then replayed within the batch
    assert posted[0].replayed and posted[0].txn.id == first.txn.id
    assert not posted[1].replayed and posted[2].replayed
    assert posted[2].txn.id == posted[1].txn.id
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, a, Account.DEPOSIT) == -500
        assert ledger.balance(ctx.session, b, Account.DEPOSIT) == -700
    before = _count(rt, LedgerTxn)
    for batch in (
        [_penalty(b, "new", 100), _penalty(a, "k", 501)],  # a used key, other amount
        [_penalty(b, "new", 100), _penalty(b, "new", 200)],  # twice in one batch, differing
    ):
        with pytest.raises(Conflict) as info, rt.unit() as ctx:
            ledger.post_many(ctx, batch)
        assert info.value.code == "idempotency_key_reused"
    assert _count(rt, LedgerTxn) == before  # nothing of a refused batch was written
    with rt.unit() as ctx:
        assert ledger.audit(ctx.session) == []


def test_W1_post_many_never_overdraws_and_is_all_or_nothing(rt: Runtime, make_shop: Any) -> None:
    """A BALANCE of 1,000 fen: two movements of 600 each are refused together (the second
    would overdraw), even inside a batch whose net is positive for a moment later; the
    caller's transaction stays usable; a batch that fits writes every running balance."""
    a, b = make_shop().shop_id, make_shop().shop_id
    with rt.unit() as ctx:
        ledger.topup(ctx, a, Account.BALANCE, 1_000, "seed")

    def spend(shop: int, key: str, fen: int) -> Movement:
        legs = (Leg(Account.BALANCE, -fen), Leg(Account.REDPACKET_FLOAT, fen))
        return Movement(shop_id=shop, key=key, kind="test", legs=legs)

    def refill(shop: int, key: str, fen: int) -> Movement:
        legs = (Leg(Account.EXTERNAL, -fen), Leg(Account.BALANCE, fen))
        return Movement(shop_id=shop, key=key, kind="test", legs=legs)

    before = _count(rt, LedgerEntry)
    with rt.unit() as ctx:
        with pytest.raises(InsufficientFunds) as info:
            ledger.post_many(
                ctx,
                [
                    _penalty(b, "other-shop", 100),
                    spend(a, "s1", 600),
                    spend(a, "s2", 600),  # 400 left at this point: refused
                    refill(a, "r1", 5_000),  # a later refill does not make it right
                ],
            )
        assert "¥4.00" in info.value.message_zh
        assert ledger.balance(ctx.session, a, Account.BALANCE) == 1_000
        posted = ledger.post_many(ctx, [spend(a, "s1", 600), refill(a, "r1", 200)])
        assert not any(p.replayed for p in posted)
    assert _count(rt, LedgerEntry) == before + 4  # only the second batch
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, a, Account.BALANCE) == 600
        assert ledger.balance(ctx.session, b, Account.DEPOSIT) == 0
        rows = ctx.session.execute(
            select(LedgerEntry.amount_fen, LedgerEntry.balance_after_fen)
            .where(LedgerEntry.shop_id == a, LedgerEntry.account_code == Account.BALANCE)
            .order_by(LedgerEntry.id)
        ).all()
        assert [tuple(r) for r in rows] == [(1_000, 1_000), (-600, 400), (200, 600)]
        assert ledger.audit(ctx.session) == []


def test_W1_post_many_checks_legs_before_writing(rt: Runtime, shop: Any) -> None:
    unbalanced = Movement(
        shop_id=shop.shop_id,
        key="u",
        kind="test",
        legs=(Leg(Account.DEPOSIT, -5), Leg(Account.PLATFORM_PENALTY, 4)),
    )
    with pytest.raises(ValidationFailed) as info, rt.unit() as ctx:
        ledger.post_many(ctx, [_penalty(shop.shop_id, "ok", 5), unbalanced])
    assert info.value.code == "unbalanced"
    assert _count(rt, LedgerTxn) == 0


@pytest.mark.postgres_only
def test_W1_post_many_concurrent_same_key_moves_money_once_on_postgres(
    pg_only: None, rt: Runtime, make_shop: Any
) -> None:
    """A batch whose key another transaction is writing at the same moment waits for it, and
    then answers with that transaction (replayed), as ``post`` does; the other shops of the
    batch are posted."""
    a, b = make_shop().shop_id, make_shop().shop_id
    holding = threading.Event()
    release = threading.Event()

    def single() -> None:
        with rt.unit() as ctx:
            ledger.post(
                ctx,
                a,
                key="day",
                kind="late_shipment_penalty",
                legs=[Leg(Account.DEPOSIT, -300), Leg(Account.PLATFORM_PENALTY, 300)],
                rule="O8",
                memo="batch",
            )
            holding.set()
            release.wait(10)

    other = threading.Thread(target=single)
    other.start()
    assert holding.wait(10)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with rt.unit() as ctx:
        posted = ledger.post_many(ctx, [_penalty(a, "day", 300), _penalty(b, "day", 300)])
    other.join()
    assert time.monotonic() - started >= 0.4  # it did wait for the other transaction
    assert posted[0].replayed and not posted[1].replayed
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, a, Account.DEPOSIT) == -300
        assert ledger.balance(ctx.session, b, Account.DEPOSIT) == -300
        assert ledger.audit(ctx.session) == []

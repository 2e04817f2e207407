"""Ledger operations (X3): every money movement is one transaction with an idempotency key.

``post`` is the one way money moves. It is atomic (a savepoint: all legs or none), balanced
(legs sum to zero), idempotent (a repeated key returns the first transaction and moves
nothing; the same key with different content is refused), and safe under concurrency (each
leg is a conditional ``UPDATE … RETURNING`` on the account row, taken in a fixed order, so a
non-negative account is never overdrawn and two movements never deadlock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian.context import Ctx
from xiaodian.db import insert_ignore
from xiaodian.errors import Conflict, InsufficientFunds, ValidationFailed
from xiaodian.ledger.models import (
    ACCOUNT_LABELS,
    NON_NEGATIVE,
    Account,
    LedgerAccount,
    LedgerEntry,
    LedgerTxn,
)
from xiaodian.money import yuan_label
from xiaodian.timeorder import before, newest_first


@dataclass(frozen=True)
class Leg:
    account: str
    amount_fen: int  # signed: + credits the account, − debits it


@dataclass(frozen=True)
class Posted:
    txn: LedgerTxn
    replayed: bool


def post(
    ctx: Ctx,
    shop_id: int,
    *,
    key: str,
    kind: str,
    legs: list[Leg],
    rule: str | None = None,
    memo: str = "",
    ref_type: str | None = None,
    ref_id: int | None = None,
) -> Posted:
    _check_legs(legs)
    request_hash = _hash(kind, legs, ref_type, ref_id)
    existing = _find(ctx.session, shop_id, key)
    if existing is not None:
        return _replay(existing, request_hash, key)

    session = ctx.session
    try:
        with session.begin_nested():
            txn = LedgerTxn(
                shop_id=shop_id,
                idempotency_key=key,
                kind=kind,
                rule=rule,
                memo=memo[:500],
                ref_type=ref_type,
                ref_id=ref_id,
                request_hash=request_hash,
                actor=ctx.actor,
                created_at=ctx.now,
            )
            session.add(txn)
            session.flush()
            _apply_legs(ctx, shop_id, txn, legs)
    except IntegrityError:
        # A concurrent transaction committed the same key first: answer with its result.
        existing = _find(session, shop_id, key)
        if existing is None:
            raise
        return _replay(existing, request_hash, key)
    return Posted(txn=txn, replayed=False)


@dataclass(frozen=True)
class Movement:
    """One movement of a batch (``post_many``): what ``post`` takes, for one shop."""

    shop_id: int
    key: str
    kind: str
    legs: tuple[Leg, ...]
    rule: str | None = None
    memo: str = ""
    ref_type: str | None = None
    ref_id: int | None = None


# Movements per statement in ``post_many``: a batch of any size stays a few statements per
# slice and each statement short.
POST_MANY_SLICE = 1000


def post_many(ctx: Ctx, movements: Sequence[Movement]) -> list[Posted]:
    """Many movements — a sweep's one per shop — in a few statements whatever their count
    (W1: the O8 batch posted 40 movements at ≈ 10 statements each), with ``post``'s promises
    for each movement, as if ``post`` had been called for each in turn:

    * balanced and valid legs (checked before anything is written);
    * idempotent: a key already used (before, or earlier in the same batch) replays the first
      movement when the content is the same and is refused (``idempotency_key_reused``) when
      it differs; nothing moves for a replay;
    * atomic: the new movements of a slice are written in one savepoint — all of them or, on
      an error (``insufficient_funds`` of any leg), none;
    * balances equal entries: each account row is locked once (in ``(shop, code)`` order, so
      no deadlock with ``post``, which locks one shop's accounts in code order), its new
      balance is its old one plus the movements' legs, and every entry carries the running
      balance after it, in the order of the movements;
    * a non-negative account is never overdrawn, even for a moment between two movements.

    A concurrent transaction committing one of the keys first (unique violation) rolls the
    slice back, and its movements are then posted one by one by ``post``, which replays the
    winner's. Returns a ``Posted`` per movement, in order."""
    results: list[Posted] = []
    for start in range(0, len(movements), POST_MANY_SLICE):
        results.extend(_post_slice(ctx, movements[start : start + POST_MANY_SLICE]))
    return results


def _post_slice(ctx: Ctx, movements: Sequence[Movement]) -> list[Posted]:
    if not movements:
        return []
    hashes = []
    for m in movements:
        legs = list(m.legs)
        _check_legs(legs)
        hashes.append(_hash(m.kind, legs, m.ref_type, m.ref_id))
    session = ctx.session
    pairs = sorted({(m.shop_id, m.key) for m in movements})
    found = {
        (txn.shop_id, txn.idempotency_key): txn
        for txn in session.scalars(
            select(LedgerTxn).where(tuple_(LedgerTxn.shop_id, LedgerTxn.idempotency_key).in_(pairs))
        )
    }
    # What each movement resolves to: an earlier transaction (replay), or a new one.
    first_of: dict[tuple[int, str], int] = {}
    new: list[int] = []
    for i, m in enumerate(movements):
        pair = (m.shop_id, m.key)
        if pair in found:
            _replay(found[pair], hashes[i], m.key)  # refused when the content differs
        elif pair in first_of:
            if hashes[first_of[pair]] != hashes[i]:
                _replay_conflict(m.key)
        else:
            first_of[pair] = i
            new.append(i)
    txns: dict[int, LedgerTxn] = {}
    if new:
        try:
            with session.begin_nested():
                txns = _write_new(ctx, [movements[i] for i in new], [hashes[i] for i in new])
        except IntegrityError:
            # A concurrent transaction committed one of the keys first: one by one, so that
            # each movement answers as ``post`` does (the winner's are replayed).
            return [
                post(
                    ctx,
                    m.shop_id,
                    key=m.key,
                    kind=m.kind,
                    legs=list(m.legs),
                    rule=m.rule,
                    memo=m.memo,
                    ref_type=m.ref_type,
                    ref_id=m.ref_id,
                )
                for m in movements
            ]
    new_txn = {(movements[i].shop_id, movements[i].key): txns[j] for j, i in enumerate(new)}
    results: list[Posted] = []
    for i, m in enumerate(movements):
        pair = (m.shop_id, m.key)
        if pair in found:
            results.append(Posted(txn=found[pair], replayed=True))
        else:
            results.append(Posted(txn=new_txn[pair], replayed=first_of[pair] != i))
    return results


def _replay_conflict(key: str) -> NoReturn:
    raise Conflict(
        "idempotency_key_reused",
        f"幂等键 {key} 已用于另一笔不同的资金变动",
        f"Idempotency key {key} was already used for a different movement",
    )


def _write_new(
    ctx: Ctx, movements: Sequence[Movement], hashes: Sequence[str]
) -> dict[int, LedgerTxn]:
    """The new movements of a slice: accounts created and locked in ``(shop, code)`` order,
    every leg checked against the running balance, then the balances, the transactions and
    the entries written — one statement each (an executemany for the balances)."""
    session = ctx.session
    touched = sorted({(m.shop_id, leg.account) for m in movements for leg in m.legs})
    insert_ignore(
        session,
        LedgerAccount.__table__,
        [
            {"shop_id": s, "code": c, "balance_fen": 0, "allow_negative": c not in NON_NEGATIVE}
            for s, c in touched
        ],
    )
    locked = session.execute(
        select(
            LedgerAccount.shop_id,
            LedgerAccount.code,
            LedgerAccount.balance_fen,
            LedgerAccount.allow_negative,
        )
        .where(tuple_(LedgerAccount.shop_id, LedgerAccount.code).in_(touched))
        .order_by(LedgerAccount.shop_id, LedgerAccount.code)
        .with_for_update()
    ).all()
    running = {(int(s), str(c)): int(b) for s, c, b, _ in locked}
    allow = {(int(s), str(c)): bool(a) for s, c, _, a in locked}
    after: list[list[tuple[Leg, int]]] = []
    for m in movements:
        legs_after: list[tuple[Leg, int]] = []
        for leg in sorted(m.legs, key=lambda item: item.account):
            pair = (m.shop_id, leg.account)
            available = running[pair]
            running[pair] = available + leg.amount_fen
            if running[pair] < 0 and not allow[pair]:
                label = ACCOUNT_LABELS[leg.account]
                raise InsufficientFunds(
                    "insufficient_funds",
                    f"{label}不足：需要 {yuan_label(-leg.amount_fen)}，"
                    f"可用 {yuan_label(available)}",
                    f"Insufficient {leg.account}: need {yuan_label(-leg.amount_fen)}, "
                    f"available {yuan_label(available)}",
                )
            legs_after.append((leg, running[pair]))
        after.append(legs_after)
    table = cast(Table, LedgerAccount.__table__)
    session.execute(
        update(table)
        .where(table.c.shop_id == bindparam("k_shop"), table.c.code == bindparam("k_code"))
        .values(balance_fen=bindparam("k_balance")),
        [{"k_shop": s, "k_code": c, "k_balance": running[(s, c)]} for s, c in touched],
        execution_options={"synchronize_session": False},
    )
    # Bulk INSERT … RETURNING (insertmanyvalues): a few statements, not one per row; the
    # rows come back in any order, matched to their movements by their unique key.
    inserted = {
        (txn.shop_id, txn.idempotency_key): txn
        for txn in session.scalars(
            insert(LedgerTxn).returning(LedgerTxn),
            [
                {
                    "shop_id": m.shop_id,
                    "idempotency_key": m.key,
                    "kind": m.kind,
                    "rule": m.rule,
                    "memo": m.memo[:500],
                    "ref_type": m.ref_type,
                    "ref_id": m.ref_id,
                    "request_hash": h,
                    "actor": ctx.actor,
                    "created_at": ctx.now,
                }
                for m, h in zip(movements, hashes, strict=True)
            ],
        )
    }
    txns = [inserted[(m.shop_id, m.key)] for m in movements]
    session.execute(
        insert(cast(Table, LedgerEntry.__table__)),
        [
            {
                "shop_id": m.shop_id,
                "txn_id": txn.id,
                "account_code": leg.account,
                "amount_fen": leg.amount_fen,
                "balance_after_fen": balance_after,
                "created_at": ctx.now,
            }
            for m, txn, legs_after in zip(movements, txns, after, strict=True)
            for leg, balance_after in legs_after
        ],
    )
    return dict(enumerate(txns))


def move(
    ctx: Ctx,
    shop_id: int,
    *,
    source: str,
    target: str,
    amount_fen: int,
    key: str,
    kind: str,
    rule: str | None = None,
    memo: str = "",
    ref_type: str | None = None,
    ref_id: int | None = None,
) -> Posted:
    """Move a positive amount from one account of the shop to another."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise ValidationFailed(
            "invalid_amount",
            "金额必须是正整数（分）",
            "Amount must be a positive integer (fen)",
            field="amount_fen",
        )
    legs = [Leg(source, -amount_fen), Leg(target, amount_fen)]
    return post(
        ctx,
        shop_id,
        key=key,
        kind=kind,
        legs=legs,
        rule=rule,
        memo=memo,
        ref_type=ref_type,
        ref_id=ref_id,
    )


def topup(ctx: Ctx, shop_id: int, account: str, amount_fen: int, key: str) -> Posted:
    """Money comes in from outside (bank card, payment provider) to the balance or deposit."""
    if account not in (Account.BALANCE, Account.DEPOSIT):
        raise ValidationFailed(
            "invalid_account",
            "只能充值到账户余额或保证金",
            "Top up the balance or the deposit only",
            field="account",
        )
    kind = "deposit_topup" if account == Account.DEPOSIT else "balance_topup"
    memo = "保证金充值" if account == Account.DEPOSIT else "账户余额充值"
    return move(
        ctx,
        shop_id,
        source=Account.EXTERNAL,
        target=account,
        amount_fen=amount_fen,
        key=key,
        kind=kind,
        memo=memo,
        rule="X3",
    )


def balance(session: Session, shop_id: int, account: str) -> int:
    # Column select, not session.get: balances change by Core UPDATEs the identity map misses.
    value = session.execute(
        select(LedgerAccount.balance_fen).where(
            LedgerAccount.shop_id == shop_id, LedgerAccount.code == account
        )
    ).scalar_one_or_none()
    return int(value or 0)


def balances(session: Session, shop_id: int) -> dict[str, int]:
    rows = session.execute(
        select(LedgerAccount.code, LedgerAccount.balance_fen).where(
            LedgerAccount.shop_id == shop_id
        )
    )
    found = {code: value for code, value in rows}
    return {code.value: int(found.get(code.value, 0)) for code in Account}


@dataclass(frozen=True)
class StatementRow:
    """One line of an account's statement: the entry, its movement, and the running balance
    (the sum of the account's entries up to and including this one in time order, U6)."""

    entry: LedgerEntry
    txn: LedgerTxn
    running_fen: int


def entries(
    session: Session, shop_id: int, account: str, *, before_id: int | None, limit: int
) -> list[StatementRow]:
    """A page of an account's statement, newest first (U6).

    Time order is ``(created_at, id)``: entries written with a simulated clock may carry an
    earlier business time than entries written before them. The running balance is computed
    in the same query — a window ``SUM`` over the account's entries in that order — and the
    page is a keyset on ``(created_at, id)`` after the entry ``before_id``.
    """
    running = (
        func.sum(LedgerEntry.amount_fen)
        .over(order_by=(LedgerEntry.created_at, LedgerEntry.id))
        .label("running_fen")
    )
    numbered = (
        select(LedgerEntry.id, running)
        .where(LedgerEntry.shop_id == shop_id, LedgerEntry.account_code == account)
        .subquery()
    )
    query = (
        select(LedgerEntry, LedgerTxn, numbered.c.running_fen)
        .join(numbered, numbered.c.id == LedgerEntry.id)
        .join(LedgerTxn, LedgerTxn.id == LedgerEntry.txn_id)
        .order_by(*newest_first(LedgerEntry.created_at, LedgerEntry.id))
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(before(LedgerEntry.created_at, LedgerEntry.id, before_id))
    return [
        StatementRow(entry=entry, txn=txn, running_fen=int(total))
        for entry, txn, total in session.execute(query)
    ]


def audit(session: Session, shop_id: int | None = None) -> list[str]:
    """Problems found, empty when the books hold: each account equals the sum of its entries,
    each transaction sums to zero, no non-negative account is below zero."""
    problems: list[str] = []
    sums = select(
        LedgerEntry.shop_id, LedgerEntry.account_code, func.sum(LedgerEntry.amount_fen)
    ).group_by(LedgerEntry.shop_id, LedgerEntry.account_code)
    accounts = select(LedgerAccount)
    unbalanced = (
        select(LedgerEntry.txn_id, func.sum(LedgerEntry.amount_fen))
        .group_by(LedgerEntry.txn_id)
        .having(func.sum(LedgerEntry.amount_fen) != 0)
    )
    if shop_id is not None:
        sums = sums.where(LedgerEntry.shop_id == shop_id)
        accounts = accounts.where(LedgerAccount.shop_id == shop_id)
        unbalanced = unbalanced.where(LedgerEntry.shop_id == shop_id)
    entry_sums = {(s, c): int(total) for s, c, total in session.execute(sums)}
    for account in session.scalars(accounts.execution_options(populate_existing=True)):
        expected = entry_sums.get((account.shop_id, account.code), 0)
        if account.balance_fen != expected:
            problems.append(
                f"shop {account.shop_id} {account.code}: balance {account.balance_fen} "
                f"!= sum of entries {expected}"
            )
        if account.code in NON_NEGATIVE and account.balance_fen < 0:
            problems.append(f"shop {account.shop_id} {account.code} is negative")
    for txn_id, total in session.execute(unbalanced):
        problems.append(f"txn {txn_id} sums to {total}, not 0")
    return problems


def _check_legs(legs: list[Leg]) -> None:
    if len(legs) < 2:
        raise ValidationFailed(
            "invalid_legs", "一笔资金变动至少两条分录", "A movement needs ≥ 2 legs"
        )
    for leg in legs:
        if not isinstance(leg.amount_fen, int) or leg.amount_fen == 0:
            raise ValidationFailed(
                "invalid_amount", "分录金额必须是非零整数（分）", "Leg amounts must be non-zero fen"
            )
        if leg.account not in ACCOUNT_LABELS:
            raise ValidationFailed(
                "invalid_account", f"未知账户 {leg.account}", f"Unknown account {leg.account}"
            )
    if sum(leg.amount_fen for leg in legs) != 0:
        raise ValidationFailed("unbalanced", "分录借贷不平衡", "Legs do not sum to zero")


def _hash(kind: str, legs: list[Leg], ref_type: str | None, ref_id: int | None) -> str:
    canonical = json.dumps(
        [kind, sorted((leg.account, leg.amount_fen) for leg in legs), ref_type, ref_id]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _find(session: Session, shop_id: int, key: str) -> LedgerTxn | None:
    return session.scalars(
        select(LedgerTxn).where(LedgerTxn.shop_id == shop_id, LedgerTxn.idempotency_key == key)
    ).first()


def _replay(existing: LedgerTxn, request_hash: str, key: str) -> Posted:
    if existing.request_hash != request_hash:
        _replay_conflict(key)
    return Posted(txn=existing, replayed=True)


def _apply_legs(ctx: Ctx, shop_id: int, txn: LedgerTxn, legs: list[Leg]) -> None:
    session = ctx.session
    insert_ignore(
        session,
        LedgerAccount.__table__,
        [
            {
                "shop_id": shop_id,
                "code": leg.account,
                "balance_fen": 0,
                "allow_negative": leg.account not in NON_NEGATIVE,
            }
            for leg in legs
        ],
    )
    # Fixed lock order (by account code) so two multi-leg movements never deadlock.
    for leg in sorted(legs, key=lambda item: item.account):
        new_balance = session.execute(
            update(LedgerAccount)
            .where(
                LedgerAccount.shop_id == shop_id,
                LedgerAccount.code == leg.account,
                or_(
                    LedgerAccount.allow_negative.is_(True),
                    LedgerAccount.balance_fen + leg.amount_fen >= 0,
                ),
            )
            .values(balance_fen=LedgerAccount.balance_fen + leg.amount_fen)
            .returning(LedgerAccount.balance_fen)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if new_balance is None:
            available = balance(session, shop_id, leg.account)
            label = ACCOUNT_LABELS[leg.account]
            raise InsufficientFunds(
                "insufficient_funds",
                f"{label}不足：需要 {yuan_label(-leg.amount_fen)}，可用 {yuan_label(available)}",
                f"Insufficient {leg.account}: need {yuan_label(-leg.amount_fen)}, "
                f"available {yuan_label(available)}",
            )
        session.add(
            LedgerEntry(
                shop_id=shop_id,
                txn_id=txn.id,
                account_code=leg.account,
                amount_fen=leg.amount_fen,
                balance_after_fen=new_balance,
                created_at=ctx.now,
            )
        )
    session.flush()

"""Ledger results → API shapes (X3; issue 15 M5: every context's response mapping lives in
its ``mappers.py``)."""

from __future__ import annotations

from xiaodian.ledger.models import Account
from xiaodian.ledger.schemas import BalancesOut, EntryOut, TxnOut
from xiaodian.ledger.service import Posted, StatementRow


def balances_out(shop_id: int, accounts: dict[str, int]) -> BalancesOut:
    return BalancesOut(
        shop_id=shop_id,
        balance_fen=accounts[Account.BALANCE],
        deposit_fen=accounts[Account.DEPOSIT],
        accounts=accounts,
    )


def entry_out(row: StatementRow) -> EntryOut:
    return EntryOut(
        id=row.entry.id,
        txn_id=row.txn.id,
        account=row.entry.account_code,
        amount_fen=row.entry.amount_fen,
        balance_after_fen=row.running_fen,
        kind=row.txn.kind,
        rule=row.txn.rule,
        memo=row.txn.memo,
        ref_type=row.txn.ref_type,
        ref_id=row.txn.ref_id,
        created_at=row.entry.created_at,
    )


def txn_out(posted: Posted, balance_after_fen: int) -> TxnOut:
    return TxnOut(
        txn_id=posted.txn.id,
        replayed=posted.replayed,
        kind=posted.txn.kind,
        created_at=posted.txn.created_at,
        balance_after_fen=balance_after_fen,
    )

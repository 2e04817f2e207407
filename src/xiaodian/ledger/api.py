"""Open API: balances, statements and top-ups of the balance and deposit ledgers (X3)."""

from __future__ import annotations

from fastapi import APIRouter

from xiaodian.api.deps import CtxDep, FundsApp, PageDep
from xiaodian.ledger import service
from xiaodian.ledger.models import Account
from xiaodian.ledger.schemas import AccountName, BalancesOut, EntriesPage, EntryOut, TopupIn, TxnOut

router = APIRouter(prefix="/api/v1/funds", tags=["funds 资金"])


@router.get("", response_model=BalancesOut)
def get_balances(ctx: CtxDep, principal: FundsApp) -> BalancesOut:
    accounts = service.balances(ctx.session, principal.shop_id)
    return BalancesOut(
        shop_id=principal.shop_id,
        balance_fen=accounts[Account.BALANCE],
        deposit_fen=accounts[Account.DEPOSIT],
        accounts=accounts,
    )


@router.get("/{account}/entries", response_model=EntriesPage)
def get_entries(
    account: AccountName, ctx: CtxDep, principal: FundsApp, page: PageDep
) -> EntriesPage:
    rows = service.entries(
        ctx.session, principal.shop_id, account, before_id=page.before_id, limit=page.limit
    )
    items = [
        EntryOut(
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
        for row in rows
    ]
    return EntriesPage(
        items=items, next_before_id=items[-1].id if len(items) == page.limit else None
    )


@router.post("/{account}/topup", response_model=TxnOut)
def topup(account: AccountName, body: TopupIn, ctx: CtxDep, principal: FundsApp) -> TxnOut:
    """Top up the balance or the deposit; a repeated idempotency_key moves nothing twice."""
    principal.require("funds.topup")
    posted = service.topup(ctx, principal.shop_id, account, body.amount_fen, body.idempotency_key)
    return TxnOut(
        txn_id=posted.txn.id,
        replayed=posted.replayed,
        kind=posted.txn.kind,
        created_at=posted.txn.created_at,
        balance_after_fen=service.balance(ctx.session, principal.shop_id, account),
    )

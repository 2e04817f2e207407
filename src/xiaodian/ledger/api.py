"""Open API: balances, statements and top-ups of the balance and deposit ledgers (X3)."""

from __future__ import annotations

from fastapi import APIRouter

from xiaodian.api.deps import CtxDep, FundsApp, PageDep
from xiaodian.ledger import service
from xiaodian.ledger.mappers import balances_out, entry_out, txn_out
from xiaodian.ledger.schemas import AccountName, BalancesOut, EntriesPage, TopupIn, TxnOut

router = APIRouter(prefix="/api/v1/funds", tags=["funds 资金"])


@router.get("", response_model=BalancesOut)
def get_balances(ctx: CtxDep, principal: FundsApp) -> BalancesOut:
    accounts = service.balances(ctx.session, principal.shop_id)
    return balances_out(principal.shop_id, accounts)


@router.get("/{account}/entries", response_model=EntriesPage)
def get_entries(
    account: AccountName, ctx: CtxDep, principal: FundsApp, page: PageDep
) -> EntriesPage:
    rows = service.entries(
        ctx.session, principal.shop_id, account, before_id=page.before_id, limit=page.limit
    )
    items = [entry_out(row) for row in rows]
    return EntriesPage(
        items=items, next_before_id=items[-1].id if len(items) == page.limit else None
    )


@router.post("/{account}/topup", response_model=TxnOut)
def topup(account: AccountName, body: TopupIn, ctx: CtxDep, principal: FundsApp) -> TxnOut:
    """Top up the balance or the deposit; a repeated idempotency_key moves nothing twice."""
    principal.require("funds.topup")
    posted = service.topup(ctx, principal.shop_id, account, body.amount_fen, body.idempotency_key)
    return txn_out(posted, service.balance(ctx.session, principal.shop_id, account))

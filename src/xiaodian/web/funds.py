"""资金: 账户余额 and 保证金 — balance, top-up and statement (X3)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.errors import NotFound, ValidationFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.web.auth import Console, ConsoleCtx, CsrfForm, flash
from xiaodian.web.forms import confirm_large_amount, fen_from_yuan
from xiaodian.web.labels import LEDGER_KIND_LABELS
from xiaodian.web.render import render

router = APIRouter(prefix="/console/funds", include_in_schema=False)

PAGE_SIZE = 20
ACCOUNT_PAGES: dict[str, str] = {Account.BALANCE: "账户余额", Account.DEPOSIT: "保证金"}

# How a movement reads in the statement (U5: one registry, web/labels.py).
KIND_LABELS = LEDGER_KIND_LABELS

BeforeId = Annotated[int | None, Query(ge=1)]


@router.get("/balance")
def balance_page(request: Request, console: ConsoleCtx, before_id: BeforeId = None) -> Response:
    return _account_page(request, console, Account.BALANCE, before_id)


@router.get("/deposit")
def deposit_page(request: Request, console: ConsoleCtx, before_id: BeforeId = None) -> Response:
    return _account_page(request, console, Account.DEPOSIT, before_id)


@router.post("/{account}/topup")
def topup(
    account: str,
    request: Request,
    console: ConsoleCtx,
    form: CsrfForm,
    amount: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    """Top up; the key was generated with the form, so a double submit tops up once.
    U8: the amount in 元 (exact), an unusually large one confirmed first."""
    label = _account_label(account)
    console.principal.require("funds.topup")
    amount_fen = fen_from_yuan(amount, "amount", label="充值金额")
    if amount_fen <= 0:
        raise ValidationFailed(
            "invalid_amount", "充值金额须大于 0", "The top-up must be positive", field="amount"
        )
    confirm_large_amount(
        form, "amount", amount_fen, console.ctx.settings.console.large_amount_confirm_fen
    )
    key = "console-topup:" + (idempotency_key or secrets.token_urlsafe(16))
    posted = ledger.topup(console.ctx, console.shop_id, account, amount_fen, key)
    if posted.replayed:
        flash(request, "这笔充值已经处理过，未重复入账")
    else:
        flash(request, f"{label}充值成功：{yuan_label(amount_fen)}")
    return RedirectResponse(f"/console/funds/{account}", status_code=303)


def _account_page(
    request: Request, console: Console, account: str, before_id: int | None
) -> Response:
    console.principal.require("funds.view")
    session, shop_id = console.ctx.session, console.shop_id
    rows = ledger.entries(session, shop_id, account, before_id=before_id, limit=PAGE_SIZE + 1)
    page = rows[:PAGE_SIZE]
    return render(
        request,
        "funds/account.html",
        account=account,
        account_label=ACCOUNT_PAGES[account],
        balance_fen=ledger.balance(session, shop_id, account),
        can_topup=console.principal.can("funds.topup"),
        topup_key=secrets.token_urlsafe(16),
        rows=[(row, KIND_LABELS.get(row.txn.kind, row.txn.memo or row.txn.kind)) for row in page],
        next_before_id=page[-1].entry.id if len(rows) > PAGE_SIZE else None,
        first_page=before_id is None,
    )


def _account_label(account: str) -> str:
    if account not in ACCOUNT_PAGES:
        raise NotFound("资金账户", "Funds account", account)
    return ACCOUNT_PAGES[account]

"""U6 Time order: statements carry running balances in time order, history lists read newest
first with stable ties, and the demo's history is chronological (money before what it pays)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Column, select, update

from tests.orders.conftest import Shopper
from tests.web.conftest import console_login
from xiaodian.accounts.models import Shop
from xiaodian.accounts.service import Principal
from xiaodian.demo import ensure_demo
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import NON_NEGATIVE, Account, LedgerEntry
from xiaodian.notify import service as notify
from xiaodian.notify.models import Event, Notice
from xiaodian.orders import service as orders
from xiaodian.orders.export import service as export
from xiaodian.orders.export.models import OrderExport
from xiaodian.orders.models import Order
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime


def _walk(rt: Runtime, shop_id: int, account: str, limit: int) -> list[ledger.StatementRow]:
    rows: list[ledger.StatementRow] = []
    before_id = None
    while True:
        with rt.unit() as ctx:
            page = ledger.entries(ctx.session, shop_id, account, before_id=before_id, limit=limit)
        rows += page
        if len(page) < limit:
            return rows
        before_id = page[-1].entry.id


def test_U6_running_balance_is_the_sum_up_to_each_entry_in_time_order(
    rt: Runtime, shop: Any, client: TestClient
) -> None:
    sid = shop.shop_id
    with rt.unit() as ctx:
        ledger.topup(ctx, sid, Account.BALANCE, 100_00, "t1")
        # Same instant: ties are broken by id.
        ledger.move(
            ctx,
            sid,
            source=Account.BALANCE,
            target=Account.PLATFORM_FEES,
            amount_fen=30_00,
            key="fee1",
            kind="interception_fee",
        )
    rt.clock.advance(2 * 3600)
    with rt.unit() as ctx:
        ledger.move(
            ctx,
            sid,
            source=Account.BALANCE,
            target=Account.PLATFORM_FEES,
            amount_fen=50_00,
            key="fee2",
            kind="interception_fee",
        )
        # Written later, but at an earlier business time (a replayed sweep, the demo): it
        # belongs between the first two entries and the last one.
        earlier = replace(ctx, now=ctx.now - timedelta(hours=1))
        ledger.topup(earlier, sid, Account.BALANCE, 7_00, "t2")
    rows = _walk(rt, sid, Account.BALANCE, limit=2)
    assert [r.entry.amount_fen for r in rows] == [-50_00, 7_00, -30_00, 100_00]
    in_time = list(reversed(rows))
    total = 0
    for row in in_time:
        total += row.entry.amount_fen
        assert row.running_fen == total
    assert [r.running_fen for r in rows] == [27_00, 77_00, 70_00, 100_00]
    with rt.unit() as ctx:
        assert rows[0].running_fen == ledger.balance(ctx.session, sid, Account.BALANCE)
    # The open API and the console page show the same running balances.
    body = shop.api.get("/api/v1/funds/balance/entries?limit=3").json()
    assert [i["balance_after_fen"] for i in body["items"]] == [27_00, 77_00, 70_00]
    after = shop.api.get(f"/api/v1/funds/balance/entries?before_id={body['next_before_id']}")
    assert [i["balance_after_fen"] for i in after.json()["items"]] == [100_00]
    console_login(client, shop.username, shop.password)
    page = client.get("/console/funds/balance").text
    shown = re.findall(r'data-testid="running-balance">([^<]+)<', page)
    assert shown == ["27.00", "77.00", "70.00", "100.00"]


def _retime(rt: Runtime, model: Any, time_column: Column[Any], ids: list[int]) -> list[int]:
    """Give four rows the times +2h, 0, 0, +1h (id order is not time order, two tie) and
    return the ids in the order a newest-first list must show them."""
    base = rt.clock.now()
    offsets = [timedelta(hours=2), timedelta(0), timedelta(0), timedelta(hours=1)]
    with rt.unit() as ctx:
        for row_id, offset in zip(ids, offsets, strict=True):
            ctx.session.execute(
                update(model).where(model.id == row_id).values({time_column.key: base + offset})
            )
    return [ids[0], ids[3], ids[2], ids[1]]


def _pages(fetch: Any, limit: int = 2) -> list[int]:
    """Every id a keyset-paged list returns, page by page."""
    seen: list[int] = []
    before_id = None
    while True:
        page = fetch(before_id, limit)
        seen += [row.id for row in page]
        if len(page) < limit:
            return seen
        before_id = page[-1].id


def test_U6_history_lists_are_newest_first_with_ties_by_id(
    rt: Runtime, shop: Any, shopper: Shopper
) -> None:
    sid = shop.shop_id
    with rt.unit() as ctx:
        notice_ids = [
            notify.notice(ctx, sid, category="system", title=f"n{i}").id for i in range(4)
        ]
        event_ids = [notify.emit(ctx, sid, "test.u6", {"i": i}) for i in range(4)]
        principal = Principal(shop_id=sid, app_id=1, scopes=frozenset({"orders"}))
        export_ids = [
            export.create_export(ctx, principal, OrderFilter.model_validate({})).id
            for _ in range(4)
        ]
    product = shopper.product(sid)
    order_ids = [shopper.order(sid, product) for _ in range(4)]

    want = _retime(rt, Notice, Notice.created_at, notice_ids)
    with rt.unit() as ctx:
        s = ctx.session
        got = _pages(lambda b, n: notify.list_notices(s, sid, before_id=b, limit=n))
        assert got == want
    want = _retime(rt, Event, Event.occurred_at, event_ids)
    with rt.unit() as ctx:
        s = ctx.session
        got = _pages(
            lambda b, n: notify.list_events(s, sid, type_prefix="test.", before_id=b, limit=n)
        )
        assert got == want
    want = _retime(rt, OrderExport, OrderExport.created_at, export_ids)
    with rt.unit() as ctx:
        s = ctx.session
        assert _pages(lambda b, n: export.list_exports(s, sid, before_id=b, limit=n)) == want
    want = _retime(rt, Order, Order.created_at, order_ids)
    with rt.unit() as ctx:
        s = ctx.session
        got = _pages(lambda b, n: orders.search_orders(s, sid, OrderFilter(), before_id=b, limit=n))
        assert got == want


def test_U6_demo_history_never_overdraws_a_ledger_in_time_order(rt: Runtime) -> None:
    ensure_demo(rt)
    with rt.unit() as ctx:
        shop_ids = list(ctx.session.scalars(select(Shop.id)))
        assert shop_ids
        for shop_id in shop_ids:
            for account in sorted(NON_NEGATIVE | {Account.DEPOSIT}):
                amounts = ctx.session.scalars(
                    select(LedgerEntry.amount_fen)
                    .where(LedgerEntry.shop_id == shop_id, LedgerEntry.account_code == account)
                    .order_by(LedgerEntry.created_at, LedgerEntry.id)
                ).all()
                total = 0
                for amount in amounts:
                    total += amount
                    assert total >= 0, (account, amounts)

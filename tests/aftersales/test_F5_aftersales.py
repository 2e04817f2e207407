"""F5 (issue 17): 快递拦截 by hand (A3.1) over the open API and the console, with the fee rule of
A2.3 through the carrier adapter and none for an interception made offline; the experience
signal 仅退款自主完结时长 (A3.2), pure and on the 店铺评级 page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.aftersales.conftest import World
from tests.conftest import SignedClient
from tests.web.conftest import console_login, page_token
from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.aftersales import logistics
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.experience import FirstDecision, completion_time
from xiaodian.ledger.models import Account
from xiaodian.runtime import Runtime

HOUR = 3600


def _pending(world: World, shop: Any, amount_fen: int = 5_000) -> tuple[int, int]:
    """A shop with ¥100 balance and a pending 已发货仅退款 request (no strategy enabled)."""
    world.topup(shop.shop_id, 10_000)
    pid = world.product(shop.shop_id, price_fen=5_000)
    order = world.order(shop.shop_id, [(pid, 1)])
    req = world.apply(shop.shop_id, order, amount_fen)
    assert req.status == "pending"
    return order, req.id


def _history(body: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(h["action"], h["rule"], h["actor"]) for h in body["history"]]


def test_F5_api_carrier_interception_charges_fee_and_agrees_on_success(
    world: World, shop: Any, rt: Runtime
) -> None:
    _order, rid = _pending(world, shop)
    path = f"/api/v1/aftersales/{rid}/interception"
    started = shop.api.post(path, {"mode": "carrier", "note": "买家同意拦截"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["status"] == "pending"
    (package,) = body["packages"]
    assert package["interception"] == "requested"
    actor = _history(body)[-1][2]
    assert actor.startswith("app:")
    assert _history(body)[-1][:2] == ("interception_requested", "A3.1")
    assert "拦截费用 ¥3.00" in body["history"][-1]["note"]
    # Already being intercepted: nothing left to intercept.
    again = shop.api.post(path, {"mode": "carrier"})
    assert again.status_code == 409 and again.json()["code"] == "nothing_to_intercept"

    # The local carrier answers after interception_response_hours: success → fee, refund.
    scheduler.advance(rt, 2 * HOUR)
    done = shop.api.get(f"/api/v1/aftersales/{rid}").json()
    assert done["status"] == "refunded" and done["decided_rule"] == "A3.1"
    assert done["decided_strategy"] is None
    assert ("agreed", "A3.1") in [(a, r) for a, r, _ in _history(done)]
    fee = rt.settings.aftersales.interception_fee_fen
    assert world.balance(shop.shop_id, Account.BALANCE) == 10_000 - fee
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == fee
    (package,) = done["packages"]
    assert (package["status"], package["interception"]) == ("intercepted", "succeeded")
    assert (package["fee_fen"], package["fee_status"]) == (fee, "charged")
    with rt.unit() as ctx:
        calls = logistics.carrier_log(ctx.session, shop.shop_id, package["id"])
        assert [(c.direction, c.operation, c.actor) for c in calls][1] == (
            "call",
            "request_interception",
            actor,
        )
    late = shop.api.post(path, {"mode": "carrier"})
    assert late.status_code == 409 and late.json()["code"] == "aftersale_wrong_state"


def test_F5_interception_success_also_completes_a_request_agreed_on_refusal_meanwhile(
    world: World, shop: Any, rt: Runtime
) -> None:
    _order, rid = _pending(world, shop)
    assert shop.api.post(f"/api/v1/aftersales/{rid}/interception", {"mode": "carrier"}).is_success
    refusal = shop.api.post(f"/api/v1/aftersales/{rid}/operate", {"action": "agree_on_refusal"})
    assert refusal.json()["status"] == "agreed_on_refusal"
    scheduler.advance(rt, 2 * HOUR)
    done = world.request(shop.shop_id, rid)
    assert (done.status, done.decided_rule) == ("refunded", "A3.1")


def test_F5_api_carrier_interception_failure_keeps_request_pending(
    world: World, shop: Any, rt: Runtime
) -> None:
    order, rid = _pending(world, shop)
    (package,) = world.packages(shop.shop_id, order)
    with rt.unit() as ctx:
        logistics.set_interception_fault(ctx, shop.shop_id, package.id, True)
    assert shop.api.post(f"/api/v1/aftersales/{rid}/interception", {"mode": "carrier"}).is_success
    scheduler.advance(rt, 2 * HOUR)
    body = shop.api.get(f"/api/v1/aftersales/{rid}").json()
    assert body["status"] == "pending"
    assert _history(body)[-1][:2] == ("interception_failed", "A3.1")
    assert "快递拦截失败" in body["history"][-1]["note"]
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == 0
    # A failed interception may be tried again (offline this time).
    retry = shop.api.post(
        f"/api/v1/aftersales/{rid}/interception", {"mode": "offline", "note": "电话联系顺丰已拦截"}
    )
    assert retry.status_code == 200 and retry.json()["status"] == "refunded"


def test_F5_api_offline_interception_needs_note_charges_nothing_and_agrees(
    world: World, shop: Any, rt: Runtime, make_shop: Any
) -> None:
    _order, rid = _pending(world, shop)
    path = f"/api/v1/aftersales/{rid}/interception"
    no_note = shop.api.post(path, {"mode": "offline", "note": "  "})
    assert no_note.status_code == 422 and no_note.json()["code"] == "interception_note_required"
    assert shop.api.post(path, {"mode": "fly"}).status_code == 422
    assert shop.api.post(path, {"mode": "offline", "note": "x", "fee": 1}).status_code == 422
    assert shop.api.post(path, {"mode": 1}).status_code == 422
    other = make_shop("别家小店")
    stranger = other.api.post(path, {"mode": "offline", "note": "越权"})
    assert stranger.status_code == 404
    with rt.unit() as ctx:
        app = accounts.create_app(ctx, shop.shop_id, "只读订单", ["orders"])
        key, secret = app.app_key, app.secret
    narrow = SignedClient(shop.api.client, rt, key, secret)
    assert narrow.post(path, {"mode": "offline", "note": "无权限"}).status_code == 403
    assert world.request(shop.shop_id, rid).status == "pending"

    done = shop.api.post(path, {"mode": "offline", "note": "已电话联系顺丰网点拦截"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "refunded" and body["decided_rule"] == "A3.1"
    actions = [(a, r) for a, r, _ in _history(body)]
    assert actions[-3:] == [("intercepted_offline", "A3.1"), ("agreed", "A3.1"), ("refunded", "A6")]
    offline = body["history"][-3]
    assert "已电话联系顺丰网点拦截" in offline["note"] and "线下结算" in offline["note"]
    assert offline["actor"].startswith("app:")
    (package,) = body["packages"]
    assert (package["status"], package["interception"]) == ("intercepted", "offline")
    assert package["fee_status"] == ""
    assert world.balance(shop.shop_id, Account.BALANCE) == 10_000
    assert world.balance(shop.shop_id, Account.PLATFORM_FEES) == 0


def test_F5_api_interception_refused_for_other_kinds_and_delivered_parcels(
    world: World, shop: Any
) -> None:
    pid = world.product(shop.shop_id)
    unshipped = world.order(shop.shop_id, [(pid, 1)], ship=False)
    req = world.apply(shop.shop_id, unshipped, 1_000, kind="unshipped_refund")
    refused = shop.api.post(f"/api/v1/aftersales/{req.id}/interception", {"mode": "carrier"})
    assert refused.status_code == 409 and refused.json()["code"] == "interception_not_applicable"
    assert "仅已发货仅退款" in refused.json()["message_zh"]

    order, rid = _pending(world, shop)
    (package,) = world.packages(shop.shop_id, order)
    world.event(shop.shop_id, package.id, "delivered")
    gone = shop.api.post(f"/api/v1/aftersales/{rid}/interception", {"mode": "carrier"})
    assert gone.status_code == 409 and gone.json()["code"] == "nothing_to_intercept"


def test_F5_console_detail_interception_offline_and_workbench_button(
    world: World, shop: Any, client: TestClient, rt: Runtime
) -> None:
    _order, rid = _pending(world, shop)
    other_order, other_rid = _pending(world, shop)
    console_login(client, shop.username, shop.password)
    bench = client.get("/console/aftersales")
    assert f'formaction="/console/aftersales/{rid}/intercept"' in bench.text
    token = page_token(client, f"/console/aftersales/{rid}")
    page = client.get(f"/console/aftersales/{rid}").text
    assert 'data-testid="intercept-carrier"' in page and "拦截费用 ¥3.00" in page

    posted = client.post(
        f"/console/aftersales/{rid}/intercept",
        data={"csrf_token": token, "mode": "offline", "note": "   "},
        headers={"referer": f"http://testserver/console/aftersales/{rid}"},
    )
    # U8: back on the detail page, the reason beside the note field of the offline form
    assert posted.status_code == 422
    offline = posted.text[posted.text.index('data-testid="intercept-offline-form"') :]
    offline = offline[: offline.index("</form>")]
    assert 'data-field-error="note"' in offline and "线下联系快递拦截须填写说明" in offline
    posted = client.post(
        f"/console/aftersales/{rid}/intercept",
        data={"csrf_token": token, "mode": "offline", "note": "联系中通网点拦截成功"},
    )
    assert posted.status_code == 200
    assert "已记录线下快递拦截" in posted.text and "线下拦截成功" in posted.text
    assert "联系中通网点拦截成功" in posted.text and "A3.1" in posted.text
    assert 'data-testid="intercept-carrier"' not in posted.text
    assert world.request(shop.shop_id, rid).status == "refunded"

    # The workbench row's button: 平台拦截 through the carrier; the outcome on the detail page.
    after = client.post(
        f"/console/aftersales/{other_rid}/intercept",
        data={"csrf_token": token, "mode": "carrier", "request_ids": str(other_rid)},
    )
    assert "已向快递公司发起拦截" in after.text and "拦截中" in after.text
    with rt.unit() as ctx:
        req = aftersales.get_request(ctx.session, shop.shop_id, other_rid)
        last = aftersales.history(ctx.session, req)[-1]
        assert (last.action, last.rule, last.actor) == (
            "interception_requested",
            "A3.1",
            f"user:{shop.user_id}",
        )
    (package,) = world.packages(shop.shop_id, other_order)
    assert package.interception == "requested"


# ----- A3.2 仅退款自主完结时长 ------------------------------------------------------------------

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _d(applied_h: float, decided_h: float, rule: str = "A3", actor: str = "user:1") -> Any:
    return FirstDecision(
        T0 + timedelta(hours=applied_h), T0 + timedelta(hours=decided_h), rule, actor
    )


def test_F5_completion_time_pure_average_median_and_what_counts() -> None:
    now = T0 + timedelta(days=40)
    rows = [
        _d(0, 2),  # merchant agreed after 2 h — but 38 days ago: outside the window
        _d(24 * 10, 24 * 10 + 1),  # 1 h, merchant
        _d(24 * 11, 24 * 11 + 3, "A2.4", "buyer:3"),  # 3 h, the merchant's strategy
        _d(24 * 12, 24 * 12 + 8, "A3.1", "system"),  # 8 h, its manual interception
        _d(24 * 13, 24 * 13 + 48, "A3", "system"),  # the default refund: not the merchant's
        _d(24 * 10, 24 * 10 + 24 * 30),  # decided exactly at the window's start: counts
    ]
    result = completion_time(rows, now, 30)
    assert result.count == 4
    assert result.median_hours == 5.5
    assert result.average_hours == round((1 + 3 + 8 + 720) / 4, 2)
    assert result.window_start == now - timedelta(days=30)
    empty = completion_time([_d(0, 48, "A3", "system")], now, 365)
    assert (empty.count, empty.average_hours, empty.median_hours) == (0, None, None)


def test_F5_rating_page_shows_refund_completion_time(
    world: World, shop: Any, client: TestClient, rt: Runtime
) -> None:
    pid = world.product(shop.shop_id, price_fen=5_000)
    reqs = [
        world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000) for _ in range(4)
    ]
    returned = world.apply(
        shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_000, kind="return_refund"
    )
    rt.clock.advance(2 * HOUR)  # type: ignore[attr-defined]
    with rt.unit(f"user:{shop.user_id}") as ctx:
        aftersales.agree(ctx, shop.shop_id, reqs[0].id)  # 2 h
        aftersales.agree(ctx, shop.shop_id, returned.id)  # 退货退款: not 仅退款
    rt.clock.advance(4 * HOUR)  # type: ignore[attr-defined]
    with rt.unit(f"user:{shop.user_id}") as ctx:
        aftersales.agree_on_refusal(ctx, shop.shop_id, reqs[1].id)  # 6 h
    rt.clock.advance(4 * HOUR)  # type: ignore[attr-defined]
    with rt.unit(f"user:{shop.user_id}") as ctx:
        aftersales.agree(ctx, shop.shop_id, reqs[2].id)  # 10 h
    scheduler.advance(rt, 40 * HOUR)  # the 4th is refunded by default at 48 h: not counted
    assert world.request(shop.shop_id, reqs[3].id).status == "refunded"

    with rt.unit() as ctx:
        got = aftersales.refund_completion_time(ctx.session, shop.shop_id, ctx.now, 30)
    assert (got.count, got.average_hours, got.median_hours) == (3, 6.0, 6.0)
    api = shop.api.get("/api/v1/aftersales/refund_completion_time").json()
    assert (api["count"], api["average_hours"], api["median_hours"]) == (3, 6.0, 6.0)
    assert api["window_days"] == 30
    console_login(client, shop.username, shop.password)
    page = client.get("/console/orders/rating").text
    assert "近30天仅退款自主完结时长" in page
    assert "6.00 小时" in page and "中位数 6.00 小时" in page
    assert "仅退款售后单 3 单" in page

    # After the window the three decisions no longer count.
    rt.settings.aftersales.completion_window_days = 1
    rt.clock.advance(2 * 24 * HOUR)  # type: ignore[attr-defined]
    assert "仅退款售后单 0 单" in client.get("/console/orders/rating").text


def test_F5_console_interception_needs_the_grant_and_the_shops_own_request(
    world: World, shop: Any, client: TestClient, rt: Runtime, make_shop: Any
) -> None:
    order, rid = _pending(world, shop)
    other = make_shop("别家小店")
    with rt.unit() as ctx:
        main = accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        )
        accounts.create_sub_account(
            ctx,
            main,
            username="f5_viewer",
            password="secret-pass-1",
            display_name="订单查看",
            phone="13900000019",
            permissions=["orders.view"],
        )
    console_login(client, "f5_viewer", "secret-pass-1")
    token = page_token(client, "/console/orders")
    form = {"csrf_token": token, "mode": "offline", "note": "越权"}
    denied = client.post(f"/console/aftersales/{rid}/intercept", data=form)
    assert denied.status_code == 403
    assert world.request(shop.shop_id, rid).status == "pending"

    stranger = TestClient(client.app)
    console_login(stranger, other.username, other.password)
    token = page_token(stranger, "/console/aftersales")
    form["csrf_token"] = token
    missing = stranger.post(f"/console/aftersales/{rid}/intercept", data=form)
    assert missing.status_code == 404
    assert world.packages(shop.shop_id, order)[0].interception == ""

"""Live streams (L1/L5), lucky-bag draws (L1), redemption and prize orders (L2), derived
statuses and risk control (L3), through the services, the open API and the buyer API."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import START
from tests.luckybags.helpers import ADDRESS, Scene
from tests.notify.test_webhooks import Receiver
from xiaodian import scheduler
from xiaodian.context import Ctx
from xiaodian.errors import Conflict
from xiaodian.luckybags import rules as lb_rules
from xiaodian.luckybags import service as lb
from xiaodian.luckybags import sweeps as rules
from xiaodian.luckybags.models import LuckyBag, LuckyBagWin
from xiaodian.luckybags.risk import RedemptionAttempt, RiskVerdict
from xiaodian.notify import service as notify
from xiaodian.notify.models import BuyerMessage, Event, WebhookDelivery
from xiaodian.notify.webhooks import deliver_due
from xiaodian.orders.models import Order, Product
from xiaodian.runtime import Runtime
from xiaodian.signing import verify_webhook


@pytest.fixture
def scene(rt: Runtime) -> Scene:
    return Scene(rt)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _redeem_body(**extra: Any) -> dict[str, Any]:
    return {
        "address": ADDRESS,
        "receiver_name": "小红",
        "receiver_phone": "13912345678",
        **extra,
    }


# ----- L1 / L5 live streams ----------------------------------------------------------------


def pick(seed: str, bag: int, buyers: list[int], winners: int) -> list[int]:
    """L1: the winners the draw of ``bag`` picks (rules.py, the generator passed in)."""
    return lb_rules.pick_winners(lb_rules.draw_rng(seed, bag), buyers, winners)


def test_L1_L5_live_now_and_next_scheduled_are_derived_from_facts_and_now(
    rt: Runtime, shop: Any
) -> None:
    api = shop.api
    start = START + timedelta(hours=1)
    created = api.post(
        "/api/v1/live_streams",
        {
            "title": "双十一宠粉专场",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    live = created.json()
    assert live["state"] == "scheduled" and live["state_label"] == "待开播"
    status = api.get("/api/v1/live_status").json()
    assert status["live_now"] is None and status["next_scheduled"]["id"] == live["id"]

    started = api.post(f"/api/v1/live_streams/{live['id']}/start")
    assert started.json()["state_label"] == "直播中"
    status = api.get("/api/v1/live_status").json()
    assert status["live_now"]["id"] == live["id"] and status["next_scheduled"] is None
    # One live at a time; starting twice is refused with a reason.
    again = api.post(f"/api/v1/live_streams/{live['id']}/start")
    assert again.status_code == 409 and again.json()["code"] == "live_not_startable"

    rt.clock.advance(3600)
    ended = api.post(f"/api/v1/live_streams/{live['id']}/end")
    assert ended.json()["state_label"] == "已结束"
    assert api.get("/api/v1/live_status").json()["live_now"] is None
    # A scheduled stream nobody started is "missed" once its end passed — derived, no sweep.
    later = api.post(
        "/api/v1/live_streams",
        {
            "title": "错过的直播",
            "start": (START + timedelta(hours=2)).isoformat(),
            "end": (START + timedelta(hours=3)).isoformat(),
        },
    ).json()
    assert later["state"] == "scheduled"
    rt.clock.advance(3 * 3600)
    assert api.get(f"/api/v1/live_streams/{later['id']}").json()["state_label"] == "未开播"
    bad = api.post(
        "/api/v1/live_streams",
        {"title": "", "start": START.isoformat(), "end": START.isoformat()},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_live"


def test_L5_douyin_binding_is_unique_and_can_be_unbound(make_shop: Any) -> None:
    a, b = make_shop("甲店"), make_shop("乙店")
    assert a.api.get("/api/v1/douyin_binding").json() == {"douyin_account": None}
    bound = a.api.request("PUT", "/api/v1/douyin_binding", {"account": "jia_official"})
    assert bound.status_code == 200 and bound.json()["douyin_account"] == "jia_official"
    taken = b.api.request("PUT", "/api/v1/douyin_binding", {"account": "jia_official"})
    assert taken.status_code == 409 and taken.json()["code"] == "douyin_account_taken"
    bad = b.api.request("PUT", "/api/v1/douyin_binding", {"account": "含 空格"})
    assert bad.status_code == 422
    assert a.api.request("DELETE", "/api/v1/douyin_binding").json()["douyin_account"] is None
    assert (
        b.api.request("PUT", "/api/v1/douyin_binding", {"account": "jia_official"}).status_code
        == 200
    )


# ----- L1 lucky bags and the draw ----------------------------------------------------------


def test_L1_join_only_while_live_and_before_the_draw(
    rt: Runtime, client: Any, shop: Any, scene: Scene
) -> None:
    product = scene.product(shop.shop_id)
    live = scene.live(shop.shop_id, start_in=600, go_live=False)
    created = shop.api.post(
        "/api/v1/lucky_bags",
        {
            "live_id": live,
            "product_id": product,
            "winners": 1,
            "draw_at": (START + timedelta(minutes=30)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    bag = created.json()
    _, token = scene.buyer()
    join = client.post(f"/buyer/v1/lucky_bags/{bag['id']}/join", headers=_auth(token), json={})
    assert join.status_code == 409 and join.json()["code"] == "live_not_live"
    with rt.unit() as ctx:
        lb.start_live(ctx, shop.shop_id, live)
    for _ in range(2):  # joining twice is one entry
        ok = client.post(
            f"/buyer/v1/lucky_bags/{bag['id']}/join", headers=_auth(token), json={"device_id": "d1"}
        )
        assert ok.status_code == 200, ok.text
    assert shop.api.get(f"/api/v1/lucky_bags/{bag['id']}").json()["participants"] == 1
    rt.clock.advance(30 * 60)
    late = client.post(f"/buyer/v1/lucky_bags/{bag['id']}/join", headers=_auth(token), json={})
    assert late.status_code == 409 and late.json()["code"] == "lucky_bag_closed"
    # A lucky bag needs a prize of this shop and a future draw time.
    bad = shop.api.post(
        "/api/v1/lucky_bags",
        {"live_id": live, "product_id": product, "winners": 0, "draw_at": START.isoformat()},
    )
    assert bad.status_code == 422


def test_L1_draw_at_draw_time_is_seeded_reproducible_and_runs_once(
    rt: Runtime, shop: Any, scene: Scene
) -> None:
    product = scene.product(shop.shop_id)
    live = scene.live(shop.shop_id)
    bag = scene.bag(shop.shop_id, live, product, winners=3, draw_in=900)
    buyers = [scene.buyer(f"粉丝{i}")[0] for i in range(8)]
    for buyer_id in reversed(buyers):  # join order must not matter
        scene.join(bag, buyer_id)
    outsider, _ = scene.buyer("路人")
    with rt.unit() as ctx:
        assert rules.next_draw_due(ctx.session, ctx.now) == START + timedelta(seconds=900)
    report = scheduler.advance(rt, 3600)
    assert report.counts["luckybags.draw"] == {"drawn": 1, "wins": 3}
    expected = pick(rt.settings.luckybags.draw_seed, bag, buyers, 3)
    with rt.unit() as ctx:
        wins = list(ctx.session.scalars(select(LuckyBagWin).order_by(LuckyBagWin.buyer_id)))
        assert [w.buyer_id for w in wins] == expected
        assert outsider not in expected
        # The draw ran exactly at draw time (the scheduler lands on next_due).
        assert all(w.won_at == START + timedelta(seconds=900) for w in wins)
        assert all(w.redeem_until == w.won_at + timedelta(days=7) for w in wins)
        assert ctx.session.get(LuckyBag, bag).participants_at_draw == 8
        events = list(ctx.session.scalars(select(Event).where(Event.type.like("luckybag.%"))))
        assert [e.type for e in events].count("luckybag.won") == 3
        assert {e.rule for e in events if e.type in ("luckybag.won", "luckybag.drawn")} == {"L1"}
        links = list(ctx.session.scalars(select(BuyerMessage).where(BuyerMessage.kind == "link")))
        assert sorted(m.buyer_id for m in links) == expected
        assert links[0].payload["url"].startswith("/buyer/luckybags/wins/")
        assert rules.next_draw_due(ctx.session, ctx.now) is None
    # Idempotent: ticking again draws nothing more.
    assert scheduler.run_tick(rt).counts["luckybags.draw"] == {"drawn": 0, "wins": 0}
    # Reproducible: the same seed and bag id pick the same winners; another seed differs.
    assert pick("xiaodian", bag, list(reversed(buyers)), 3) == pick("xiaodian", bag, buyers, 3)
    draws = {tuple(pick(f"seed{i}", bag, buyers, 3)) for i in range(10)}
    assert len(draws) > 1


def test_L1_fewer_participants_than_winners_and_none_at_all(
    rt: Runtime, shop: Any, scene: Scene
) -> None:
    product = scene.product(shop.shop_id)
    live = scene.live(shop.shop_id)
    few = scene.bag(shop.shop_id, live, product, winners=5)
    empty = scene.bag(shop.shop_id, live, product, winners=5)
    only, _ = scene.buyer()
    scene.join(few, only)
    scene.advance(600)
    with rt.unit() as ctx:
        assert lb.list_wins(ctx.session, shop.shop_id, ctx.now, lucky_bag_id=few)[0].buyer_id == (
            only
        )
        assert lb.list_wins(ctx.session, shop.shop_id, ctx.now, lucky_bag_id=empty) == []
        assert ctx.session.get(LuckyBag, empty).drawn_at is not None


# ----- L2 redemption and the prize order ---------------------------------------------------


def test_L2_redeem_creates_a_zero_yuan_prize_order_in_order_management(
    rt: Runtime, client: Any, shop: Any, scene: Scene
) -> None:
    product = scene.product(shop.shop_id, stock=10)
    buyer, token = scene.buyer()
    win = scene.won(shop.shop_id, buyer, product)
    page = client.get("/buyer/v1/lucky_bag_wins", headers=_auth(token)).json()
    assert [w["status_label"] for w in page] == ["未兑奖"]
    assert page[0]["redeem_url"] == f"/buyer/luckybags/wins/{win.token}"
    now = rt.clock.now()
    done = client.post(
        f"/buyer/v1/lucky_bag_wins/{win.token}/redeem", headers=_auth(token), json=_redeem_body()
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["created"] is True and body["win"]["status_label"] == "已兑奖"
    # Redeeming again answers the same order (a double click is harmless).
    again = client.post(
        f"/buyer/v1/lucky_bag_wins/{win.token}/redeem", headers=_auth(token), json=_redeem_body()
    ).json()
    assert again["created"] is False and again["order_no"] == body["order_no"]

    listed = shop.api.get("/api/v1/orders").json()["items"]
    assert [o["order_no"] for o in listed] == [body["order_no"]]
    order = listed[0]
    assert order["status"] == "awaiting_shipment" and order["status_label"] == "待发货"
    assert (order["paid_fen"], order["goods_fen"], order["payment_route"]) == (0, 0, "prize")
    detail = shop.api.get(f"/api/v1/orders/{order['id']}").json()
    assert detail["ship_by"].startswith((now + timedelta(hours=48)).isoformat()[:19])
    assert detail["address"] == ADDRESS
    with rt.unit() as ctx:
        assert ctx.session.get(Product, product).stock == 9
        types = [e.type for e in ctx.session.scalars(select(Event).order_by(Event.id))]
        assert {"order.placed", "order.paid", "luckybag.redeemed"} <= set(types)
    # Another buyer's token is not theirs.
    _, other = scene.buyer()
    stranger = client.post(
        f"/buyer/v1/lucky_bag_wins/{win.token}/redeem", headers=_auth(other), json=_redeem_body()
    )
    assert stranger.status_code == 404


def test_L2_O6_unshipped_prize_order_is_judged_late_like_any_order(
    rt: Runtime, shop: Any, scene: Scene
) -> None:
    product = scene.product(shop.shop_id, ship_within_hours=24)
    buyer, _ = scene.buyer()
    win = scene.won(shop.shop_id, buyer, product)
    result = scene.redeem(win.token)
    assert result.order is not None
    assert result.order.ship_by == rt.clock.now() + timedelta(hours=24)  # O4 product promise
    scheduler.advance(rt, 25 * 3600)
    with rt.unit() as ctx:
        order = ctx.session.get(Order, result.order.id)
        assert order.violation_count == 1
    violations = shop.api.get("/api/v1/orders/violations").json()["items"]
    assert [v["order_no"] for v in violations] == [result.order.order_no]


def test_L2_redeem_rejects_bad_input_with_reasons_and_no_order(
    client: Any, shop: Any, scene: Scene
) -> None:
    buyer, token = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    bad = client.post(
        f"/buyer/v1/lucky_bag_wins/{win.token}/redeem",
        headers=_auth(token),
        json={"address": "杭", "receiver_name": "", "receiver_phone": "123"},
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "address",
        "receiver_name",
        "receiver_phone",
    }
    assert shop.api.get("/api/v1/orders").json()["items"] == []
    missing = client.post(
        "/buyer/v1/lucky_bag_wins/nope/redeem", headers=_auth(token), json=_redeem_body()
    )
    assert missing.status_code == 404


def test_L2_out_of_stock_prize_leaves_the_win_unredeemed(
    rt: Runtime, shop: Any, scene: Scene
) -> None:
    product = scene.product(shop.shop_id, stock=0)
    buyer, _ = scene.buyer()
    win = scene.won(shop.shop_id, buyer, product)
    with pytest.raises(Conflict) as caught:
        scene.redeem(win.token)
    assert caught.value.code == "out_of_stock"
    with rt.unit() as ctx:
        assert lb.win_status(lb.get_win(ctx.session, shop.shop_id, win.id), ctx.now) == "unredeemed"


# ----- L3 statuses and risk control --------------------------------------------------------


def test_L3_expired_is_derived_from_win_time_and_window_without_any_sweep(
    rt: Runtime, client: Any, shop: Any, scene: Scene
) -> None:
    buyer, token = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    deadline = win.won_at + timedelta(days=7)
    rt.clock.set(deadline - timedelta(seconds=1))
    assert shop.api.get(f"/api/v1/lucky_bag_wins/{win.id}").json()["status_label"] == "未兑奖"
    rt.clock.set(deadline)  # no tick: the status is computed, never stale
    got = shop.api.get(f"/api/v1/lucky_bag_wins/{win.id}").json()
    assert got["status"] == "expired" and got["status_label"] == "已过期"
    by_status = shop.api.get("/api/v1/lucky_bag_wins?status=expired").json()["items"]
    assert [w["id"] for w in by_status] == [win.id]
    assert shop.api.get("/api/v1/lucky_bag_wins?status=unredeemed").json()["items"] == []
    late = client.post(
        f"/buyer/v1/lucky_bag_wins/{win.token}/redeem", headers=_auth(token), json=_redeem_body()
    )
    assert late.status_code == 409 and late.json()["code"] == "redeem_window_closed"
    bad = shop.api.get("/api/v1/lucky_bag_wins?status=whatever")
    assert bad.status_code == 422


def test_L3_sql_status_agrees_with_python_status_for_every_state(
    rt: Runtime, shop: Any, scene: Scene
) -> None:
    product = scene.product(shop.shop_id)
    ok_buyer, _ = scene.buyer()
    bad_buyer, _ = scene.buyer(blocked=True)
    idle_buyer, _ = scene.buyer()
    live = scene.live(shop.shop_id)
    bag = scene.bag(shop.shop_id, live, product, winners=3)
    for b in (ok_buyer, bad_buyer, idle_buyer):
        scene.join(bag, b)
    scene.advance(600)
    scene.redeem(scene.win(shop.shop_id, ok_buyer).token)
    scene.redeem(scene.win(shop.shop_id, bad_buyer).token, address="另一个地址 1 号楼")
    for offset in (0, 7 * 86400 - 1, 7 * 86400, 30 * 86400):
        now = START + timedelta(seconds=600 + offset)
        rt.clock.set(now)
        with rt.unit() as ctx:
            wins = lb.list_wins(ctx.session, shop.shop_id, ctx.now, limit=10)
            python = {w.id: lb.win_status(w, ctx.now).value for w in wins}
            sql = dict(
                ctx.session.execute(
                    select(LuckyBagWin.id, lb.win_status_expr(ctx.now)).where(
                        LuckyBagWin.shop_id == shop.shop_id
                    )
                ).all()
            )
            assert python == sql
            counts = lb.count_wins_by_status(ctx.session, shop.shop_id, ctx.now)
            assert sum(counts.values()) == 3
    assert sorted(python.values()) == ["expired", "failed", "redeemed"]


def test_L3_blocked_buyer_fails_with_reason_recorded_told_to_contact_support(
    rt: Runtime, client: Any, shop: Any, scene: Scene
) -> None:
    with rt.unit() as ctx:
        notify.create_endpoint(
            ctx,
            shop.shop_id,
            url="http://erp.invalid/hook",
            event_types=["luckybag.won", "luckybag.redeemed", "luckybag.redeem_failed"],
        )
    buyer, token = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    scene.block(buyer)
    refused = client.post(
        f"/buyer/v1/lucky_bag_wins/{win.token}/redeem", headers=_auth(token), json=_redeem_body()
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "risk_rejected" and "请联系平台客服" in problem["message_zh"]
    assert problem["win"]["status_label"] == "兑奖失败"
    # Recorded (not rolled back), and stays failed even after the window closes.
    rt.clock.advance(30 * 86400)
    got = shop.api.get(f"/api/v1/lucky_bag_wins/{win.id}").json()
    assert got["status_label"] == "兑奖失败" and got["fail_code"] == "blocked_buyer"
    assert got["fail_reason"] == "买家在平台风控名单中"
    again = client.post(
        f"/buyer/v1/lucky_bag_wins/{win.token}/redeem", headers=_auth(token), json=_redeem_body()
    )
    assert again.status_code == 409 and again.json()["code"] == "redeem_failed"
    inbox = client.get("/buyer/v1/inbox", headers=_auth(token)).json()["items"]
    assert any("请联系平台客服" in m["body"] for m in inbox)
    with rt.unit() as ctx:
        failed = ctx.session.scalars(select(Event).where(Event.type == "luckybag.redeem_failed"))
        assert [e.rule for e in failed] == ["L3"]
        hooks = ctx.session.scalar(select(func.count()).select_from(WebhookDelivery))
        assert hooks == 2  # won + redeem_failed
    assert shop.api.get("/api/v1/orders").json()["items"] == []


def test_L2_X1_successful_redemption_is_delivered_to_the_webhook_signed(
    rt: Runtime, client: Any, shop: Any, scene: Scene
) -> None:
    """Next to the won / redeem_failed deliveries above: a successful redemption's
    luckybag.redeemed event is POSTed, signed, to the shop's subscribed endpoint."""
    rt.settings.webhooks.allow_loopback = True  # S1: the receiver is on 127.0.0.1
    with Receiver() as receiver:
        with rt.unit() as ctx:
            endpoint = notify.create_endpoint(
                ctx,
                shop.shop_id,
                url=receiver.url,
                event_types=["luckybag.won", "luckybag.redeemed", "luckybag.redeem_failed"],
            )
            endpoint_id, secret = endpoint.id, endpoint.secret
        buyer, token = scene.buyer()
        win = scene.won(shop.shop_id, buyer)
        done = client.post(
            f"/buyer/v1/lucky_bag_wins/{win.token}/redeem",
            headers=_auth(token),
            json=_redeem_body(),
        )
        assert done.status_code == 200, done.text
        counts = deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
        assert counts == {"claimed": 2, "delivered": 2, "retrying": 0, "failed": 0}
        received = {h["X-Xiaodian-Event"]: (h, body) for h, body in receiver.received}
    assert set(received) == {"luckybag.won", "luckybag.redeemed"}
    headers, body = received["luckybag.redeemed"]
    assert verify_webhook(
        secret,
        headers["X-Xiaodian-Timestamp"],
        body,
        headers["X-Xiaodian-Signature"],
        now=rt.wall.now().timestamp(),
    )
    event = json.loads(body)
    assert (event["type"], event["rule"], event["shop_id"]) == (
        "luckybag.redeemed",
        "L2",
        shop.shop_id,
    )
    data = event["data"]
    assert (data["win_id"], data["buyer_id"], data["status"]) == (win.id, buyer, "redeemed")
    assert data["order_no"] == done.json()["order_no"] and data["order_id"] is not None
    log = shop.api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json()["items"]
    assert sorted(d["status"] for d in log) == ["delivered", "delivered"]


def test_L3_same_address_or_device_winning_more_than_N_times_is_refused(
    rt: Runtime, shop: Any, scene: Scene
) -> None:
    rt.settings.luckybags.risk_max_wins_per_address = 2
    rt.settings.luckybags.risk_max_wins_per_device = 2
    product = scene.product(shop.shop_id)
    outcomes = []
    for i in range(3):
        buyer, _ = scene.buyer(f"同地址{i}")
        win = scene.won(shop.shop_id, buyer, product)
        # The same address typed differently is the same address.
        address = ADDRESS if i % 2 == 0 else ADDRESS.replace(" ", "")
        outcomes.append(scene.redeem(win.token, address=address).status.value)
    assert outcomes == ["redeemed", "redeemed", "failed"]
    assert scene.win(shop.shop_id, buyer).fail_code == "address_too_frequent"

    device_outcomes = []
    for i in range(3):
        buyer, _ = scene.buyer(f"同设备{i}")
        win = scene.won(shop.shop_id, buyer, product)
        device_outcomes.append(
            scene.redeem(win.token, address=f"上海市浦东新区 {i} 号", device="phone-1").status.value
        )
    assert device_outcomes == ["redeemed", "redeemed", "failed"]
    assert scene.win(shop.shop_id, buyer).fail_code == "device_too_frequent"
    # Outside the look-back window the address counts start again.
    rt.clock.advance(31 * 86400)
    buyer, _ = scene.buyer("一个月后")
    win = scene.won(shop.shop_id, buyer, product)
    assert scene.redeem(win.token).status.value == "redeemed"


def test_L3_risk_control_is_pluggable(rt: Runtime, shop: Any, scene: Scene) -> None:
    class NoNightOwls:
        def check(self, ctx: Ctx, attempt: RedemptionAttempt) -> RiskVerdict:
            return RiskVerdict(False, "custom_rule", "自定义风控规则", "custom rule")

    buyer, _ = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    with rt.unit() as ctx:
        result = lb.redeem(
            ctx,
            win.token,
            address=ADDRESS,
            receiver_name="小红",
            receiver_phone="13912345678",
            policy=NoNightOwls(),
        )
    assert result.status == lb.WinStatus.FAILED
    assert scene.win(shop.shop_id, buyer).fail_reason == "自定义风控规则"


def test_L3_two_parallel_redemptions_create_exactly_one_prize_order(
    pg_only: None, rt: Runtime, shop: Any, scene: Scene
) -> None:
    buyer, _ = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            with rt.unit(f"buyer:{buyer}") as ctx:
                barrier.wait()
                results.append(
                    lb.redeem(
                        ctx,
                        win.token,
                        address=ADDRESS,
                        receiver_name="小红",
                        receiver_phone="13912345678",
                    )
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.order.id for r in results}) == 1
    with rt.unit() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Order)) == 1

"""Console pages 直播 / 福袋 and the buyer's redemption page over HTTP (L1, L2, L3, L5)."""

from __future__ import annotations

from typing import Any

from tests.luckybags.helpers import ADDRESS, Scene
from tests.web.conftest import console_login, page_token
from xiaodian.runtime import Runtime


def test_L5_L1_console_binds_schedules_and_starts_a_live(
    rt: Runtime, client: Any, shop: Any
) -> None:
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/live")
    bound = client.post("/console/live/binding", data={"csrf_token": token, "account": "haowu"})
    assert bound.status_code == 200 and "已绑定抖音号 haowu" in bound.text
    made = client.post(
        "/console/live",
        data={
            "csrf_token": token,
            "title": "周一宠粉专场",
            "start": "2026-11-02T11:00",
            "end": "2026-11-02T13:00",
        },
    )
    assert made.status_code == 200 and "周一宠粉专场" in made.text and "待开播" in made.text
    live_id = shop.api.get("/api/v1/live_streams").json()["items"][0]["id"]
    started = client.post(f"/console/live/{live_id}/start", data={"csrf_token": token})
    assert "直播中" in started.text
    bad = client.post(
        "/console/live", data={"csrf_token": token, "title": "x", "start": "nope", "end": ""}
    )
    assert bad.status_code == 422 and "时间格式不正确" in bad.text


def test_L2_L3_buyer_redemption_page_redeems_once_and_shows_failures(
    rt: Runtime, client: Any, shop: Any
) -> None:
    scene = Scene(rt)
    buyer, _ = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    url = f"/buyer/luckybags/wins/{win.token}"
    page = client.get(url)
    assert page.status_code == 200 and "未兑奖" in page.text
    bad = client.post(url, data={"address": "杭", "receiver_name": "小红", "receiver_phone": "1"})
    assert bad.status_code == 422 and "收货手机号须为11位" in bad.text
    done = client.post(
        url, data={"address": ADDRESS, "receiver_name": "小红", "receiver_phone": "13912345678"}
    )
    assert done.status_code == 200 and "兑奖成功" in done.text and "已兑奖" in done.text
    assert len(shop.api.get("/api/v1/orders").json()["items"]) == 1

    other, _ = scene.buyer(blocked=True)
    failed = scene.won(shop.shop_id, other)
    answer = client.post(
        f"/buyer/luckybags/wins/{failed.token}",
        data={"address": ADDRESS + "2", "receiver_name": "小明", "receiver_phone": "13912345678"},
    )
    assert "兑奖失败" in answer.text and "请联系平台客服" in answer.text
    assert client.get("/buyer/luckybags/wins/unknown").status_code == 404


def test_L3_console_lists_wins_by_derived_status(rt: Runtime, client: Any, shop: Any) -> None:
    scene = Scene(rt)
    buyer, _ = scene.buyer("小红")
    scene.won(shop.shop_id, buyer)
    console_login(client, shop.username, shop.password)
    page = client.get("/console/luckybags")
    assert page.status_code == 200 and "已开奖" in page.text and "未兑奖 1" in page.text
    rt.clock.advance(8 * 86400)
    expired = client.get("/console/luckybags?status=expired")
    assert "已过期 1" in expired.text and "小红" in expired.text

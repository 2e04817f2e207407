"""The lucky-bag redemption page keeps a stable, signed device id (issue 11; L3 same-device).

Before: a request without the device cookie got a new random id, so a client that simply did
not keep cookies was a new "device" on every redemption and the L3 same-device rule never
fired. Now the page hands out a signed id, keeps it, and a redemption needs a genuine one."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.luckybags.helpers import ADDRESS, Scene
from xiaodian.api.app import create_app
from xiaodian.luckybags.models import LuckyBagWin
from xiaodian.luckybags.web import DEVICE_COOKIE
from xiaodian.runtime import Runtime

FORM = {"receiver_name": "小红", "receiver_phone": "13912345678"}


def _cookie(answer: Any) -> str:
    header = answer.headers["set-cookie"]
    assert header.startswith(f"{DEVICE_COOKIE}=") and "HttpOnly" in header
    return header.split(";", 1)[0].split("=", 1)[1].strip('"')


def _redeemed_device(rt: Runtime, win_id: int) -> str | None:
    with rt.unit() as ctx:
        return ctx.session.scalar(select(LuckyBagWin.redeem_device).where(LuckyBagWin.id == win_id))


def test_S9_device_id_is_stable_and_signed(rt: Runtime, client: TestClient, shop: Any) -> None:
    scene = Scene(rt)
    buyer, _ = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    url = f"/buyer/luckybags/wins/{win.token}"
    first = _cookie(client.get(url))
    device_id, _, signature = first.partition(".")
    assert len(device_id) == 16 and len(signature) == 32
    assert _cookie(client.get(url)) == first  # the same id on every visit
    done = client.post(url, data={"address": ADDRESS, **FORM})
    assert done.status_code == 200 and "兑奖成功" in done.text
    assert _redeemed_device(rt, win.id) == device_id


def test_S9_device_id_missing_or_forged_cookie_cannot_redeem(rt: Runtime, shop: Any) -> None:
    scene = Scene(rt)
    buyer, _ = scene.buyer()
    win = scene.won(shop.shop_id, buyer)
    url = f"/buyer/luckybags/wins/{win.token}"
    app = create_app(rt)
    with TestClient(app, raise_server_exceptions=False) as fresh:
        refused = fresh.post(url, data={"address": ADDRESS, **FORM})  # no cookie at all
        assert refused.status_code == 400 and "请刷新兑奖页面" in refused.text
        assert not _redeemed_device(rt, win.id)
        fresh.cookies.clear()
        fresh.cookies.set(
            DEVICE_COOKIE, "0123456789abcdef.00000000000000000000000000000000", path="/buyer/"
        )
        forged = fresh.post(url, data={"address": ADDRESS, **FORM})
        assert forged.status_code == 400
        fresh.cookies.clear()
        fresh.cookies.set(DEVICE_COOKIE, "attacker-chosen", path="/buyer/")
        bare = fresh.post(url, data={"address": ADDRESS, **FORM})
        assert bare.status_code == 400
        assert not _redeemed_device(rt, win.id)
        # The refusal handed out a genuine id: resubmitting from the page works.
        fresh.cookies.clear()
        fresh.cookies.set(DEVICE_COOKIE, _cookie(bare), path="/buyer/luckybags/")
        done = fresh.post(url, data={"address": ADDRESS, **FORM})
        assert done.status_code == 200 and "兑奖成功" in done.text


def test_L3_same_device_rule_holds_for_a_client_that_drops_cookies(rt: Runtime, shop: Any) -> None:
    """Four wins of four buyers, four addresses, one phone that keeps its cookie: the fourth is
    refused (more than 3 per device). A client that drops its cookie on every request is not a
    new device each time: it cannot redeem at all."""
    scene = Scene(rt)
    wins = []
    for n in range(4):
        buyer, _ = scene.buyer(f"买家{n}")
        wins.append(scene.won(shop.shop_id, buyer))
    app = create_app(rt)
    with TestClient(app, raise_server_exceptions=False) as phone:
        answers = []
        for n, win in enumerate(wins):
            url = f"/buyer/luckybags/wins/{win.token}"
            phone.get(url)
            answers.append(phone.post(url, data={"address": f"{ADDRESS}{n}号", **FORM}))
    assert ["兑奖成功" in a.text for a in answers] == [True, True, True, False]
    assert "同一设备" in answers[3].text
    with TestClient(app, raise_server_exceptions=False) as forgetful:
        buyer, _ = scene.buyer("健忘")
        win = scene.won(shop.shop_id, buyer)
        url = f"/buyer/luckybags/wins/{win.token}"
        forgetful.get(url)
        forgetful.cookies.clear()  # drops the cookie before submitting
        answer = forgetful.post(url, data={"address": ADDRESS + "9号", **FORM})
        assert answer.status_code == 400 and not _redeemed_device(rt, win.id)

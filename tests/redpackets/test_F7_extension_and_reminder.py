"""F7 (issue 17): red packets as seed 000 reads in full.

* R6 both halves of "延长的时间不能超过原有效期的时长…延长后的有效期不能超过3天": the extension
  ≤ the original length, and the validity left after it (new end − now) ≤ that length too.
* R6 no limit on how many times by default (the seed sets none); a limit can be configured.
* R7 the reminder is chosen at issuance — on/off and its lead — preset from the shop's default,
  through the service, the open API and the console form.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.config import Settings
from xiaodian.errors import Conflict, ValidationFailed
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify.models import BuyerMessage
from xiaodian.redpackets import service
from xiaodian.redpackets import sweeps as rules
from xiaodian.redpackets.models import RedPacket
from xiaodian.runtime import Runtime

from ..conftest import START
from ..web.conftest import console_login, page_token
from .conftest import World

DAY = 86_400
HOUR = 3_600


def _tick(world: World) -> dict[str, dict[str, int]]:
    return scheduler.run_tick(world.rt, sweeps=rules.SWEEPS).counts


def _reminders(world: World, buyer_id: int) -> list[BuyerMessage]:
    with world.rt.unit() as ctx:
        query = select(BuyerMessage).where(
            BuyerMessage.buyer_id == buyer_id, BuyerMessage.kind == "reminder"
        )
        return list(ctx.session.scalars(query))


def _extend(world: World, packet_id: int, seconds: int) -> RedPacket:
    with world.rt.unit("user:1") as ctx:
        return service.extend(ctx, world.shop_id, packet_id, seconds)


# ----- R6: the validity left after extending ------------------------------------------------


def test_F7_validity_left_after_extending_at_most_the_original_length(world: World) -> None:
    world.fund(100_00)
    a, b = world.issue([world.buyer()[1] for _ in range(2)], 10_00)  # 3 days each
    world.rt.clock.set(START + timedelta(days=2, hours=4))  # type: ignore[attr-defined]
    # 20 h left: 3 more days would leave 3 d 20 h — refused with what is allowed.
    with pytest.raises(ValidationFailed) as refused:
        _extend(world, a, 3 * DAY)
    error = refused.value
    assert error.code == "validity_after_extension_too_long" and error.rule == "R6"
    assert "3天20小时" in error.message_zh and "最多可延长 2天4小时" in error.message_zh
    assert error.field == "extension_seconds"
    assert world.packet(a).expires_at == START + timedelta(days=3)  # unchanged
    # One second more than allowed is refused; exactly the allowed 2 d 4 h is accepted.
    with pytest.raises(ValidationFailed):
        _extend(world, b, 2 * DAY + 4 * HOUR + 1)
    extended = _extend(world, a, 2 * DAY + 4 * HOUR)
    now = START + timedelta(days=2, hours=4)
    assert extended.expires_at == now + timedelta(days=3)  # exactly the original length left
    with world.rt.unit() as ctx:
        assert service.extension_allowed_seconds(world.packet(b), ctx.now) == 2 * DAY + 4 * HOUR
        assert service.extension_allowed_seconds(world.packet(a), ctx.now) == 0


def test_F7_an_expired_packet_gets_at_most_the_original_length_from_now(world: World) -> None:
    world.fund(100_00)
    [pid] = world.issue([world.buyer()[1]], 10_00, validity_seconds=12 * HOUR)
    world.rt.clock.set(START + timedelta(days=1))  # type: ignore[attr-defined]
    with pytest.raises(ValidationFailed) as too_long:  # first half: > the original 12 h
        _extend(world, pid, 12 * HOUR + 1)
    assert too_long.value.code == "extension_too_long"
    packet = _extend(world, pid, 12 * HOUR)
    assert packet.expires_at == START + timedelta(days=1, hours=12)


# ----- R6: how many times ------------------------------------------------------------------


def test_F7_extensions_unlimited_by_default_and_a_limit_can_be_set(world: World) -> None:
    assert Settings().redpackets.max_extensions is None  # default: no limit (seed 000)
    world.fund(100_00)
    [pid] = world.issue([world.buyer()[1]], 10_00)
    for round_ in range(1, 5):  # expire, extend by a day, again and again
        world.rt.clock.set(world.packet(pid).expires_at)  # type: ignore[attr-defined]
        _tick(world)
        assert world.packet(pid).status == "expired"
        assert _extend(world, pid, DAY).extension_count == round_
    # XIAODIAN_REDPACKETS__MAX_EXTENSIONS=4: the fifth is refused with the numbers.
    world.rt.settings.redpackets.max_extensions = 4
    world.rt.clock.set(world.packet(pid).expires_at)  # type: ignore[attr-defined]
    with pytest.raises(Conflict) as limit:
        _extend(world, pid, DAY)
    assert limit.value.code == "extension_limit" and "最多延长 4 次" in limit.value.message_zh
    # The 10 % rule still bounds it: spent down to below 10 %, no more extensions at all.
    world.rt.settings.redpackets.max_extensions = None
    _extend(world, pid, DAY)
    buyer_id = world.packet(pid).buyer_id
    world.checkout(buyer_id, world.product(price_fen=9_01), pid, 9_01)
    world.rt.clock.set(world.packet(pid).expires_at)  # type: ignore[attr-defined]
    with pytest.raises(Conflict) as low:
        _extend(world, pid, DAY)
    assert low.value.code == "remaining_too_low"


def test_F7_max_extensions_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XIAODIAN_REDPACKETS__MAX_EXTENSIONS", "2")
    assert Settings().redpackets.max_extensions == 2


# ----- R7: the reminder chosen at issuance --------------------------------------------------


def test_F7_reminder_off_at_issuance_is_never_sent_even_after_an_extension(world: World) -> None:
    world.fund(100_00)
    buyer_id, dy, _ = world.buyer()
    [pid] = world.issue([dy], 10_00, remind=False)
    packet = world.packet(pid)
    assert packet.remind_enabled is False and packet.remind_at is None
    world.rt.clock.set(START + timedelta(days=2, hours=1))  # type: ignore[attr-defined]
    assert _tick(world)["redpackets.remind"] == {"reminded": 0}
    _extend(world, pid, DAY)
    assert world.packet(pid).remind_at is None
    world.rt.clock.set(START + timedelta(days=3, hours=12))  # type: ignore[attr-defined]
    assert _tick(world)["redpackets.remind"] == {"reminded": 0}
    assert _reminders(world, buyer_id) == []


def test_F7_lead_chosen_at_issuance_is_kept_and_the_shop_default_is_the_preset(
    world: World,
) -> None:
    world.fund(100_00)
    chosen_buyer, chosen_dy, _ = world.buyer()
    _default_buyer, default_dy, _ = world.buyer()
    with world.rt.unit() as ctx:
        service.set_remind_lead_hours(ctx, world.shop_id, 12)  # the shop's default
    [chosen] = world.issue([chosen_dy], 10_00, remind_lead_hours=6)
    [preset] = world.issue([default_dy], 10_00)
    end = START + timedelta(days=3)
    assert world.packet(chosen).remind_at == end - timedelta(hours=6)
    assert world.packet(preset).remind_at == end - timedelta(hours=12)
    # A later change of the shop's default moves only the packet without a lead of its own.
    with world.rt.unit() as ctx:
        service.set_remind_lead_hours(ctx, world.shop_id, 2)
    assert world.packet(chosen).remind_at == end - timedelta(hours=6)
    assert world.packet(preset).remind_at == end - timedelta(hours=2)
    # The chosen lead is sent at its time and again after an extension.
    world.rt.clock.set(end - timedelta(hours=6))  # type: ignore[attr-defined]
    assert _tick(world)["redpackets.remind"] == {"reminded": 1}
    extended = _extend(world, chosen, DAY)
    assert extended.remind_at == extended.expires_at - timedelta(hours=6)
    world.rt.clock.set(extended.expires_at - timedelta(hours=6))  # type: ignore[attr-defined]
    _tick(world)
    assert len(_reminders(world, chosen_buyer)) == 2
    with pytest.raises(ValidationFailed) as bad, world.rt.unit("user:1") as ctx:
        service.issue(
            ctx, world.shop_id, buyer_douyin_ids=[chosen_dy], amount_fen=1_00, remind_lead_hours=0
        )
    assert bad.value.errors[0]["field"] == "remind_lead_hours"


def _fund(rt: Runtime, shop_id: int, amount: int) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop_id, Account.BALANCE, amount, f"fund-f7-{shop_id}")


def _buyers(rt: Runtime, *douyin_ids: str) -> None:
    with rt.unit() as ctx:
        for douyin_id in douyin_ids:
            accounts.create_buyer(ctx, douyin_id=douyin_id, nickname=douyin_id, phone="13812345678")


def test_F7_open_api_issues_with_the_reminder_choice(rt: Runtime, shop: Any) -> None:
    _fund(rt, shop.shop_id, 100_00)
    _buyers(rt, "dy_f7_api_1", "dy_f7_api_2")
    off = shop.api.post(
        "/api/v1/redpackets",
        {"buyer_douyin_ids": ["dy_f7_api_1"], "amount_fen": 1_00, "remind": False},
    )
    assert off.status_code == 201, off.text
    lead = shop.api.post(
        "/api/v1/redpackets",
        {"buyer_douyin_ids": ["dy_f7_api_2"], "amount_fen": 1_00, "remind_lead_hours": 6},
    )
    assert lead.status_code == 201, lead.text
    packets = {p["buyer_id"]: p for p in shop.api.get("/api/v1/redpackets").json()["items"]}
    by_state = sorted((p["remind_enabled"], p["remind_lead_hours"]) for p in packets.values())
    assert by_state == [(False, None), (True, 6)]
    assert [p["remind_at"] is None for p in packets.values()].count(True) == 1
    for bad in ({"remind": "yes"}, {"remind_lead_hours": 0}, {"remind_lead_hours": True}):
        answer = shop.api.post(
            "/api/v1/redpackets", {"buyer_douyin_ids": ["dy_f7_api_1"], "amount_fen": 1, **bad}
        )
        assert answer.status_code == 422, (bad, answer.text)


def test_F7_console_issue_form_presets_the_shop_default_and_takes_the_choice(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    _fund(rt, shop.shop_id, 100_00)
    _buyers(rt, "dy_f7_console_1", "dy_f7_console_2")
    with rt.unit() as ctx:
        service.set_remind_lead_hours(ctx, shop.shop_id, 8)
    console_login(client, shop.username, shop.password)
    form = client.get("/console/redpackets/issue").text
    assert 'name="remind_lead_hours" value="8"' in form
    assert '<option value="on" selected>开启</option>' in form
    token = page_token(client, "/console/redpackets/issue")
    for douyin_id, remind, lead in (
        ("dy_f7_console_1", "off", "8"),
        ("dy_f7_console_2", "on", "5"),
    ):
        done = client.post(
            "/console/redpackets/issue",
            data={
                "csrf_token": token,
                "buyers": douyin_id,
                "amount": "1.00",
                "remind": remind,
                "remind_lead_hours": lead,
            },
        )
        assert done.status_code == 200, done.text
    with rt.unit() as ctx:
        packets = ctx.session.scalars(
            select(RedPacket).where(RedPacket.shop_id == shop.shop_id).order_by(RedPacket.id)
        ).all()
        assert [(p.remind_enabled, p.remind_lead_hours) for p in packets] == [
            (False, 8),
            (True, 5),
        ]
        assert packets[0].remind_at is None
        assert packets[1].remind_at == packets[1].expires_at - timedelta(hours=5)
        off_id, on_id = packets[0].id, packets[1].id
    assert "关闭" in client.get(f"/console/redpackets/{off_id}").text
    detail = client.get(f"/console/redpackets/{on_id}").text
    assert "开启，到期前 5 小时" in detail
    bad = client.post(
        "/console/redpackets/issue",
        data={"csrf_token": token, "buyers": "dy_f7_console_1", "amount": "1.00",
              "remind_lead_hours": "0"},
    )  # fmt: skip
    assert bad.status_code == 422 and "提醒提前时间须为1-720小时" in bad.text

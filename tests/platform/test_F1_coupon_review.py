"""F1 the coupon review queue across shops (seed 004: "我们会对新创建的卡券进行审核，大约需要
30分钟"): machine checks as before; a coupon that passes them is approved at the end of the
review window by the default policy (a setting can require a human); flagged ones wait for an
operator who approves or rejects with reasons; the shop sees status and reasons and no longer
approves its own coupons. Over real HTTP against the real app."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.coupons.helpers import draft
from tests.platform.conftest import OperatorFixture, op_token
from tests.web.conftest import console_login, page_token
from xiaodian import scheduler
from xiaodian.coupons import service as coupons
from xiaodian.coupons.models import CouponStatus
from xiaodian.coupons.sweeps import SWEEPS
from xiaodian.notify.models import Event, Notice
from xiaodian.runtime import Runtime


def _create(rt: Runtime, shop_id: int, **overrides: Any) -> Any:
    with rt.unit("user:1") as ctx:
        return coupons.create_coupon(ctx, shop_id, draft(**overrides))


def _coupon(rt: Runtime, shop_id: int, coupon_id: int) -> Any:
    with rt.unit() as ctx:
        return coupons.get_coupon(ctx.session, shop_id, coupon_id)


def _events(rt: Runtime, type_: str) -> list[Event]:
    with rt.unit() as ctx:
        return list(ctx.session.scalars(select(Event).where(Event.type == type_)))


def test_F1_clean_coupon_is_approved_by_the_default_policy_at_the_end_of_the_window(
    rt: Runtime, shop: Any, op_client: TestClient
) -> None:
    coupon = _create(rt, shop.shop_id)
    assert coupon.status == CouponStatus.REVIEWING and coupon.auto_reasons == []
    assert f'data-coupon-id="{coupon.id}"' not in op_client.get("/operator/coupons").text
    scheduler.advance(rt, 30 * 60 - 1, sweeps=SWEEPS)
    assert _coupon(rt, shop.shop_id, coupon.id).status == CouponStatus.REVIEWING
    scheduler.advance(rt, 1, sweeps=SWEEPS)
    done = _coupon(rt, shop.shop_id, coupon.id)
    assert done.status == CouponStatus.ACTIVE
    assert done.reviewed_at == coupon.created_at + timedelta(minutes=30)
    (reviewed,) = _events(rt, "coupon.auto_reviewed")
    assert reviewed.payload["outcome"] == "pass"
    assert reviewed.payload["decided_by"] == "platform:policy" and reviewed.rule == "C2"


def test_F1_setting_requires_a_human_for_every_coupon(
    rt: Runtime, shop: Any, operator: OperatorFixture
) -> None:
    rt.settings.coupons.require_human_review = True
    coupon = _create(rt, shop.shop_id)
    scheduler.advance(rt, 3 * 3600, sweeps=SWEEPS)
    assert _coupon(rt, shop.shop_id, coupon.id).status == CouponStatus.REVIEWING
    with rt.unit() as ctx:
        from xiaodian.platform import service

        assert [c.id for c, _ in service.coupon_queue(ctx.session)] == [coupon.id]


def test_F1_flagged_coupon_waits_then_an_operator_approves_it_over_http(
    rt: Runtime, make_shop: Any, op_client: TestClient, operator: OperatorFixture
) -> None:
    first, second = make_shop("好物小店"), make_shop("星光小店")
    flagged = _create(rt, first.shop_id, title="全网最低价")
    other = _create(rt, second.shop_id, claim_instructions="加VX号 haowu8888 领取")
    assert flagged.auto_reasons and other.auto_reasons
    scheduler.advance(rt, 3 * 3600, sweeps=SWEEPS)  # flagged: never decided by the machine
    assert _coupon(rt, first.shop_id, flagged.id).status == CouponStatus.REVIEWING
    queue = op_client.get("/operator/coupons")
    assert queue.status_code == 200
    # Across shops, with the machine's reasons beside each.
    for c in (flagged, other):
        assert f'data-coupon-id="{c.id}"' in queue.text
    assert "好物小店" in queue.text and "星光小店" in queue.text
    assert flagged.auto_reasons[0]["message_zh"] in queue.text
    token = op_token(op_client, "/operator/coupons")
    answer = op_client.post(
        f"/operator/coupons/{flagged.id}",
        data={"csrf_token": token, "decision": "approve", "reason": "“最低价”为活动价说明，放行"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert _coupon(rt, first.shop_id, flagged.id).status == CouponStatus.ACTIVE
    (decided,) = _events(rt, "platform.coupon_decided")
    assert decided.shop_id == first.shop_id and decided.rule == "C2"
    assert decided.actor == operator.actor
    assert decided.payload["operator_id"] == operator.operator_id
    assert decided.payload["decision"] == "approve"
    assert decided.payload["machine_flags"] == ["absolute_words"]
    assert f'data-coupon-id="{flagged.id}"' not in op_client.get("/operator/coupons").text


def test_F1_operator_rejects_with_a_reason_and_the_shop_sees_status_and_reasons(
    rt: Runtime, client: TestClient, shop: Any, op_client: TestClient
) -> None:
    flagged = _create(rt, shop.shop_id, title="第一名店")
    console_login(client, shop.username, shop.password)
    waiting = client.get("/console/coupons/review")
    assert waiting.status_code == 200
    assert "等待平台人工审核" in waiting.text
    assert flagged.auto_reasons[0]["message_zh"] in waiting.text
    assert "通过</button>" not in waiting.text  # the shop has no approve button any more
    token = op_token(op_client, "/operator/coupons")
    empty = op_client.post(
        f"/operator/coupons/{flagged.id}",
        data={"csrf_token": token, "decision": "reject", "reason": ""},
    )
    assert empty.status_code == 422 and "驳回时请填写原因" in empty.text
    done = op_client.post(
        f"/operator/coupons/{flagged.id}",
        data={"csrf_token": token, "decision": "reject", "reason": "标题使用绝对化用语"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    # The decision takes effect at the end of the announced ~30 minutes.
    assert _coupon(rt, shop.shop_id, flagged.id).status == CouponStatus.REVIEWING
    scheduler.advance(rt, 30 * 60, sweeps=SWEEPS)
    final = _coupon(rt, shop.shop_id, flagged.id)
    assert final.status == CouponStatus.REJECTED
    assert [r["code"] for r in final.reject_reasons] == ["absolute_words", "human_rejected"]
    with rt.unit() as ctx:
        notice = ctx.session.scalars(select(Notice).where(Notice.shop_id == shop.shop_id)).one()
    assert "审核失败" in notice.title and "标题使用绝对化用语" in notice.body
    api = shop.api.get(f"/api/v1/coupons/{flagged.id}").json()
    assert api["status"] == "rejected"


def test_F1_the_shop_can_no_longer_approve_its_own_coupons(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    flagged = _create(rt, shop.shop_id, title="第一名店")
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/coupons/review")
    console = client.post(
        f"/console/coupons/review/{flagged.id}",
        data={"csrf_token": token, "decision": "approve"},
        follow_redirects=False,
    )
    assert console.status_code in (404, 405)
    api = shop.api.post(f"/api/v1/coupons/{flagged.id}/review", {"decision": "approve"})
    assert api.status_code in (404, 405)
    # The shop's API still shows what is in review, with the reasons.
    listed = shop.api.get("/api/v1/coupons/review-queue").json()
    assert [c["id"] for c in listed] == [flagged.id]
    scheduler.advance(rt, 3 * 3600, sweeps=SWEEPS)
    assert _coupon(rt, shop.shop_id, flagged.id).status == CouponStatus.REVIEWING
    # A shop actor calling the platform's service is refused too.
    from xiaodian.errors import PermissionDenied
    from xiaodian.platform import service

    with rt.unit(f"user:{shop.user_id}") as ctx:
        try:
            service.decide_coupon(ctx, flagged.id, approve=True)
        except PermissionDenied as exc:
            assert exc.code == "operator_only"
        else:
            raise AssertionError("a shop account decided a coupon")

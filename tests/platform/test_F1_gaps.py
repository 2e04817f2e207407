"""F1 gaps (issue 17): an operator lifts a 停业整改 (orders again, the campaigns the sanction
paused restored, a notice, an event naming the operator and O8); ``xiaodian orders decide``
goes through the platform's decision like the console (the sanction takes effect — it used to
only mark the flag); prize orders respect a sanction like ``place_order``; ``xiaodian operator
disable|enable``; the operator login form carries a CSRF token. Real HTTP, real CLI, real DB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests.orders.conftest import Shopper
from tests.platform.conftest import OPERATOR_PASSWORD, OperatorFixture, op_token, operator_login
from xiaodian import scheduler
from xiaodian.accounts.models import Buyer
from xiaodian.api.app import create_app
from xiaodian.coupons import service as coupons
from xiaodian.coupons.models import CampaignStatus
from xiaodian.errors import Conflict
from xiaodian.notify.models import Event, Notice
from xiaodian.orders import sweeps as order_rules
from xiaodian.orders.models import ShopReviewFlag
from xiaodian.orders.prize import create_prize_order
from xiaodian.platform import service
from xiaodian.platform.models import ShopSanction
from xiaodian.runtime import Runtime

DAY = 86400


@pytest.fixture
def cli(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``xiaodian …`` in-process against the test's own database (SQLite or PostgreSQL)."""
    from xiaodian.cli import app
    from xiaodian.config import get_settings

    monkeypatch.setenv("XIAODIAN_DATABASE_URL", rt.settings.database_url)
    monkeypatch.setenv("XIAODIAN_CLOCK_MODE", rt.settings.clock_mode)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def _events(rt: Runtime, type_: str) -> list[Event]:
    with rt.unit() as ctx:
        return list(ctx.session.scalars(select(Event).where(Event.type == type_)))


def _flagged_shop_with_campaigns(rt: Runtime, shop: Any, shopper: Shopper) -> dict[str, int]:
    """O7/O8: an order never shipped, judged three times → the shop is flagged; the shop has
    an online campaign (ends in 30 days) and one ending in 2 days."""
    from tests.coupons.helpers import active_coupon

    coupon_id = active_coupon(rt, shop.shop_id)
    with rt.unit("user:1") as ctx:
        ids = {
            name: coupons.create_campaign(
                ctx,
                shop.shop_id,
                coupons.CampaignDraft(
                    name=name,
                    starts_at=ctx.now,
                    ends_at=ctx.now + timedelta(days=days),
                    coupon_ids=[coupon_id],
                    per_user_limit=1,
                    total_limit=100,
                ),
            ).id
            for name, days in (("long", 30), ("short", 7))
        }
    product_id = shopper.product(shop.shop_id)
    shopper.order(shop.shop_id, product_id)
    scheduler.advance(rt, 5 * DAY, sweeps=order_rules.SWEEPS)
    with rt.unit() as ctx:
        ((flag, _),) = service.review_flags(ctx.session)
    return {**ids, "flag": flag.id, "product": shopper.product(shop.shop_id, title="帆布包")}


def test_F1_operator_lifts_a_suspension_and_campaigns_come_back(
    rt: Runtime, shop: Any, shopper: Shopper, op_client: TestClient, operator: OperatorFixture
) -> None:
    ids = _flagged_shop_with_campaigns(rt, shop, shopper)
    with rt.unit(operator.actor) as ctx:
        service.decide_shop(ctx, ids["flag"], "suspend", "多次发货超时未处理")
    with pytest.raises(Conflict):
        shopper.order(shop.shop_id, ids["product"])
    scheduler.advance(rt, 3 * DAY, sweeps=[])  # "short" ends while the shop is suspended

    # the buyer's shop homepage lists nothing while suspended, and says why (listings hidden)
    with TestClient(create_app(rt)) as buyer_client:
        hidden = buyer_client.get(f"/shop/{shop.shop_id}").text
    assert 'data-testid="shop-sanctioned"' in hidden and "停业整改中" in hidden
    assert 'data-testid="shop-coupon"' not in hidden

    page = op_client.get("/operator/shops")
    assert 'data-testid="lift-suspension"' in page.text
    token = op_token(op_client, "/operator/shops")
    no_reason = op_client.post(f"/operator/shops/{shop.shop_id}/lift", data={"csrf_token": token})
    assert no_reason.status_code == 422
    forged = op_client.post(
        f"/operator/shops/{shop.shop_id}/lift", data={"csrf_token": "x", "reason": "整改完成"}
    )
    assert forged.status_code == 403
    with rt.unit() as ctx:
        assert service.sanction_of(ctx.session, shop.shop_id) == "suspended"
    done = op_client.post(
        f"/operator/shops/{shop.shop_id}/lift",
        data={"csrf_token": token, "reason": "已完成整改，发货流程恢复"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and "done=lifted" in done.headers["location"]
    assert "已解除停业整改" in op_client.get(done.headers["location"]).text

    with rt.unit() as ctx:
        assert service.sanction_of(ctx.session, shop.shop_id) is None
        long = coupons.get_campaign(ctx.session, shop.shop_id, ids["long"])
        short = coupons.get_campaign(ctx.session, shop.shop_id, ids["short"])
        assert (long.status, long.offline_reason) == (CampaignStatus.ONLINE, None)
        assert (short.status, short.offline_reason) == (CampaignStatus.OFFLINE, "ended")
    shopper.order(shop.shop_id, ids["product"])  # orders are taken again
    with TestClient(create_app(rt)) as buyer_client:
        shown = buyer_client.get(f"/shop/{shop.shop_id}").text
    assert 'data-testid="shop-sanctioned"' not in shown
    assert 'data-testid="shop-coupon"' in shown  # the long campaign is listed again
    (event,) = _events(rt, "platform.suspension_lifted")
    assert (event.rule, event.actor, event.payload["operator_id"]) == (
        "O8", operator.actor, operator.operator_id,
    )  # fmt: skip
    assert event.payload["campaigns_restored"] == sorted([ids["long"], ids["short"]])
    assert event.payload["flag_id"] == ids["flag"]
    with rt.unit() as ctx:
        titles = list(
            ctx.session.scalars(select(Notice.title).where(Notice.shop_id == shop.shop_id))
        )
    assert "平台已解除店铺停业整改" in titles

    again = op_client.post(
        f"/operator/shops/{shop.shop_id}/lift", data={"csrf_token": token, "reason": "再次"}
    )
    assert again.status_code == 409 and "未处于停业整改" in again.text


def test_F1_clear_out_cannot_be_lifted(
    rt: Runtime, shop: Any, shopper: Shopper, operator: OperatorFixture
) -> None:
    ids = _flagged_shop_with_campaigns(rt, shop, shopper)
    with rt.unit(operator.actor) as ctx:
        service.decide_shop(ctx, ids["flag"], "clear_out", "长期违规")
    with rt.unit(operator.actor) as ctx, pytest.raises(Conflict) as refused:
        service.lift_suspension(ctx, shop.shop_id, "想恢复")
    assert refused.value.code == "sanction_final" and refused.value.rule == "O8"
    with rt.unit("user:1") as ctx, pytest.raises(Exception) as not_operator:
        service.lift_suspension(ctx, shop.shop_id, "商家自己解除")
    assert getattr(not_operator.value, "code", "") == "operator_only"


def test_F1_cli_orders_decide_applies_the_sanction_as_an_operator(
    rt: Runtime, shop: Any, shopper: Shopper, operator: OperatorFixture, cli: Any
) -> None:
    """The bypass: ``xiaodian orders decide`` marked the flag 停业整改 but the shop kept taking
    orders and its campaigns stayed online. Now it is the platform's decision."""
    ids = _flagged_shop_with_campaigns(rt, shop, shopper)
    nobody = cli("orders", "decide", str(ids["flag"]), "suspend", "--note", "超时")
    assert nobody.exit_code == 2 and "--operator" in nobody.output
    unknown = cli("orders", "decide", str(ids["flag"]), "suspend", "--operator", "ghost")
    assert unknown.exit_code == 2 and "ghost" in unknown.output
    no_reason = cli("orders", "decide", str(ids["flag"]), "suspend", "--operator", "ops1")
    assert no_reason.exit_code == 2 and "原因" in no_reason.output
    with rt.unit() as ctx:
        assert ctx.session.get(ShopReviewFlag, ids["flag"]).status != "decided"
    done = cli(
        "orders", "decide", str(ids["flag"]), "suspend",
        "--note", "多次发货超时未处理", "--operator", operator.username,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    with pytest.raises(Conflict) as refused:
        shopper.order(shop.shop_id, ids["product"])
    assert refused.value.code == "shop_suspended"
    with rt.unit() as ctx:
        sanction = ctx.session.scalars(select(ShopSanction)).one()
        assert (sanction.state, sanction.decided_by) == ("suspended", operator.actor)
        statuses = {
            coupons.get_campaign(ctx.session, shop.shop_id, ids[n]).status
            for n in ("long", "short")
        }
    assert statuses == {CampaignStatus.OFFLINE}
    (event,) = _events(rt, "platform.shop_decided")
    assert event.payload["operator_id"] == operator.operator_id and event.rule == "O8"


def test_F1_prize_order_is_refused_while_the_shop_is_suspended(
    rt: Runtime, shop: Any, shopper: Shopper, operator: OperatorFixture
) -> None:
    ids = _flagged_shop_with_campaigns(rt, shop, shopper)
    buyer_id, _ = shopper.buyer()
    with rt.unit(operator.actor) as ctx:
        service.decide_shop(ctx, ids["flag"], "suspend", "多次发货超时未处理")

    def prize() -> Any:
        with rt.unit(f"buyer:{buyer_id}") as ctx:
            buyer = ctx.session.get(Buyer, buyer_id)
            return create_prize_order(
                ctx, shop.shop_id, buyer, ids["product"], address="杭州市西湖区文三路 1 号",
                receiver_name="张三", receiver_phone="13812345678", source={"win_id": 1},
            )  # fmt: skip

    with pytest.raises(Conflict) as refused:
        prize()
    assert refused.value.code == "shop_suspended" and refused.value.rule == "O8"
    with rt.unit(operator.actor) as ctx:
        service.lift_suspension(ctx, shop.shop_id, "整改完成")
    assert prize().paid_fen == 0


def test_F1_cli_operator_disable_ends_sessions_and_enable_lets_in_again(
    rt: Runtime, operator: OperatorFixture, op_client: TestClient, cli: Any
) -> None:
    assert op_client.get("/operator/", follow_redirects=False).status_code == 200
    done = cli("operator", "disable", operator.username)
    assert done.exit_code == 0, done.output
    assert "1 console session(s) ended" in done.output
    answer = op_client.get("/operator/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/operator/login")
    assert operator_login(op_client, operator.username, OPERATOR_PASSWORD).status_code == 401
    with rt.unit() as ctx, pytest.raises(Exception) as refused:
        service.acting_operator(ctx.session, operator.username)
    assert getattr(refused.value, "code", "") == "operator_disabled"
    assert cli("operator", "disable", "ghost").exit_code == 2
    assert cli("operator", "enable", operator.username).exit_code == 0
    assert operator_login(op_client, operator.username, OPERATOR_PASSWORD).status_code == 303


def test_F1_operator_login_form_carries_a_csrf_token(
    rt: Runtime, operator: OperatorFixture
) -> None:
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        form = client.get("/operator/login")
        assert 'name="csrf_token"' in form.text
        creds = {"username": operator.username, "password": OPERATOR_PASSWORD}
        missing = client.post("/operator/login", data=creds, follow_redirects=False)
        assert missing.status_code == 403
        forged = client.post(
            "/operator/login", data={**creds, "csrf_token": "0" * 64}, follow_redirects=False
        )
        assert forged.status_code == 403
    with TestClient(create_app(rt), raise_server_exceptions=False) as other:
        # A token from another browser (no matching pre-login cookie) is refused too.
        token = op_token(other, "/operator/login")
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        stolen = client.post(
            "/operator/login", data={**creds, "csrf_token": token}, follow_redirects=False
        )
        assert stolen.status_code == 403
        ok = operator_login(client, operator.username, OPERATOR_PASSWORD)
        assert ok.status_code == 303
        assert "xiaodian_operator_login" not in client.cookies  # rotated away on login

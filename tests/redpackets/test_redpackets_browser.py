"""店铺红包 in real Chromium (SPEC §1): issue (R1), list with status filters and totals (R8),
reclaim an expired packet (R5), extend with the refusal message (R6), then extend for real."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.browser import login
from tests.conftest import ShopFixture
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.redpackets import service
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser
DAY = 86_400


def test_R1_R5_R6_R8_console_issue_filter_reclaim_extend(
    browser_page: Any, live_server: str, rt: Runtime, shop: ShopFixture
) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 400_00, "e2e-rp-funds")
        for n in (1, 2, 3):
            accounts.create_buyer(
                ctx, douyin_id=f"dy_e2e_{n}", nickname=f"买家{n}", phone="13812345678"
            )
    page = browser_page
    login(page, live_server, shop.username, shop.password)
    page.click('nav a[data-nav="店铺红包"]')
    page.wait_for_url(f"{live_server}/console/redpackets")

    # R1 发放: three buyers typed in, one unknown → per-row result.
    page.click("[data-testid=issue-link]")
    page.fill("textarea[name=buyers]", "dy_e2e_1\ndy_e2e_2\ndy_e2e_3\nnobody")
    page.fill("input[name=amount]", "100")
    with page.expect_navigation():
        page.click("[data-testid=issue-submit]")
    summary = page.inner_text("[data-testid=issue-summary]")
    assert "成功发放 3 个，失败 1 个" in summary and "¥300.00" in summary
    assert "买家抖音号 nobody 不存在" in page.inner_text("[data-testid=issue-rows]")

    # Use 90.01 of the second buyer's packet so that 9.99 remain (< 10%).
    with rt.unit() as ctx:
        rows = service.list_packets(ctx.session, shop.shop_id, ctx.now, ctx.settings)
        by_buyer = {r.douyin_id: r.packet.id for r in rows}
        product = orders.create_product(
            ctx, shop.shop_id, title="保温杯", price_fen=100_00, stock=10
        )
        buyer = ctx.session.scalars(select(Buyer).where(Buyer.douyin_id == "dy_e2e_2")).one()
        service.checkout(
            ctx,
            buyer,
            shop.shop_id,
            items=[(product.id, 1)],
            address="杭州市西湖区文三路 1 号",
            payment_route="wechat",
            redpacket_id=by_buyer["dy_e2e_2"],
            redpacket_amount_fen=90_01,
        )

    # R8 list: filters by status, totals.
    page.goto(f"{live_server}/console/redpackets?status=valid")
    assert page.locator("[data-testid=packets] tbody tr[data-packet]").count() == 3
    assert page.inner_text("[data-testid=total-issued]") == "¥300.00"
    assert page.inner_text("[data-testid=usage-rate]") == "30.0%"
    assert page.locator("[data-testid=usage-chart] polyline").count() == 1

    rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    page.goto(f"{live_server}/console/redpackets")
    page.click('[data-testid=status-tabs] a[data-status="expired"]')
    page.wait_for_url("**/console/redpackets?status=expired")
    assert page.locator("[data-testid=packets] tbody tr[data-packet]").count() == 3
    assert (
        page.locator(
            "[data-testid=packets] tbody tr[data-packet] [data-testid=status]"
        ).all_inner_texts()
        == ["已过期"] * 3
    )

    # R5 回收 the first buyer's packet from its detail page; a second time is refused.
    page.goto(f"{live_server}/console/redpackets/{by_buyer['dy_e2e_1']}")
    with page.expect_navigation():
        page.click("[data-testid=reclaim]")
    assert "已回收：¥100.00 已退回商家账户余额" in page.inner_text(".flash-ok")
    assert page.inner_text("[data-testid=packet-status]") == "已回收"
    assert page.locator("[data-testid=reclaim]").is_disabled()

    # R6 延长有效期: 9.99 left of 100.00 → refused with the numbers.
    page.goto(f"{live_server}/console/redpackets/{by_buyer['dy_e2e_2']}")
    with page.expect_navigation():
        page.click("[data-testid=extend-submit]")
    # U8: the refusal is on the extend form itself, not in a flash above the page.
    assert (
        page.inner_text("[data-testid=extend-form] [role=alert]")
        == "剩余金额 ¥9.99 低于原金额 ¥100.00 的 10%（¥10.00），不能延长"
    )
    # Longer than the original 3 days → refused; exactly 3 days → 确认修改 succeeds.
    page.goto(f"{live_server}/console/redpackets/{by_buyer['dy_e2e_3']}")
    page.fill("[data-testid=extend-form] input[name=days]", "3")
    page.fill("[data-testid=extend-form] input[name=hours]", "1")
    with page.expect_navigation():
        page.click("[data-testid=extend-submit]")
    assert "不能超过原有效期时长" in page.inner_text(
        "[data-testid=extend-form] [data-field-error=days]"
    )
    assert page.input_value("[data-testid=extend-form] input[name=hours]") == "1"
    page.fill("[data-testid=extend-form] input[name=days]", "3")
    page.fill("[data-testid=extend-form] input[name=hours]", "")
    with page.expect_navigation():
        page.click("[data-testid=extend-submit]")
    assert "修改成功" in page.inner_text(".flash-ok") and "已通知买家" in page.inner_text(
        ".flash-ok"
    )
    assert page.inner_text("[data-testid=packet-status]") == "有效"

    page.goto(f"{live_server}/console/redpackets?status=reclaimed")
    assert page.locator("[data-testid=packets] tbody tr[data-packet]").count() == 1
    page.goto(f"{live_server}/console/funds/balance")
    assert page.inner_text("[data-testid=account-balance]") == "¥200.00"

"""U5 No raw internals, in real Chromium (issue 13): the demo shop's console pages show no
internal code in their rendered text; rule ids are badges with a Chinese tooltip that lead to
规则说明, whose screenshot at 1400 px is kept (XIAODIAN_ARTIFACTS_DIR, else tmp)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.browser import login
from tests.web.internal_codes import internal_codes
from xiaodian.accounts.models import Shop
from xiaodian.aftersales.models import AfterSaleRequest
from xiaodian.demo import DEMO_PASSWORD, DEMO_USER, ensure_demo
from xiaodian.orders.models import Order
from xiaodian.redpackets.models import RedPacket
from xiaodian.runtime import Runtime
from xiaodian.web.rules_text import RULES

pytestmark = pytest.mark.browser

PAGES = (
    "/console/",
    "/console/orders",
    "/console/orders/violations",
    "/console/orders/exports",
    "/console/aftersales?tab=all",
    "/console/aftersales/assistant",
    "/console/redpackets",
    "/console/coupons",
    "/console/coupons/campaigns",
    "/console/coupons/verify",
    "/console/live",
    "/console/luckybags",
    "/console/service",
    "/console/funds/balance",
    "/console/funds/deposit",
    "/console/notices",
    "/console/settings/webhooks",
)


def test_U5_demo_pages_in_chromium_show_labels_and_rule_badges(
    browser: Any, live_server: str, rt: Runtime, tmp_path: Path
) -> None:
    ensure_demo(rt)
    with rt.unit() as ctx:
        s = ctx.session
        shop_id = s.scalars(select(Shop.id)).one()
        after_sale_order = s.scalars(
            select(Order.id).where(Order.shop_id == shop_id, Order.after_sale != "none")
        ).first()
        request_id = s.scalars(
            select(AfterSaleRequest.id).where(AfterSaleRequest.shop_id == shop_id)
        ).first()
        packet_id = s.scalars(select(RedPacket.id).where(RedPacket.shop_id == shop_id)).first()
        details = [
            f"/console/orders/{after_sale_order}",
            f"/console/aftersales/{request_id}",
            f"/console/redpackets/{packet_id}",
        ]
        prize = s.scalars(
            select(Order.id).where(Order.shop_id == shop_id, Order.payment_route == "prize")
        ).first()
    if prize is not None:
        details.append(f"/console/orders/{prize}")
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login(page, live_server, DEMO_USER, DEMO_PASSWORD)
        problems: dict[str, list[str]] = {}
        cited: set[str] = set()
        for path in (*PAGES, *details):
            response = page.goto(f"{live_server}{path}")
            assert response is not None and response.status == 200, path
            found = internal_codes(page.inner_text("body"))
            if found:
                problems[path] = sorted(set(found))
            for badge in page.locator("a.rule-badge").all():
                rule = badge.inner_text().strip()
                title = badge.get_attribute("title") or ""
                assert title.startswith(f"规则 {rule}：") and len(title) > len(rule) + 4, title
                assert badge.get_attribute("aria-label") == title
                cited.add(rule)
        assert not problems, problems
        assert len(cited) >= 5, cited
        if prize is not None:
            page.goto(f"{live_server}/console/orders/{prize}")
            assert "福袋奖品" in page.inner_text("[data-testid=order-facts]")

        # A badge leads to its rule on 规则说明, and every cited rule is listed there.
        page.goto(f"{live_server}{details[0]}")
        badge = page.locator("a.rule-badge").first
        rule = badge.inner_text().strip()
        with page.expect_navigation():
            badge.click()
        assert page.url.endswith(f"/console/rules#{RULES[rule].anchor}")
        assert page.locator(f"dt[data-rule='{rule}']").is_visible()
        for cited_rule in cited:
            assert page.locator(f"dt[data-rule='{cited_rule}']").count() == 1, cited_rule
        assert page.locator("dt[data-rule]").count() == len(RULES)
        page.goto(f"{live_server}/console/rules")
        assert page.title().startswith("规则说明")
        page.screenshot(path=str(out / "U5-rules-1400.png"), full_page=True)
    finally:
        context.close()

"""Accounts in real Chromium (issue 11 S5, issue 13 U2): a sub-account changes its own
password; the main account disables it, which logs its open browser out at once; re-enabling
and resetting the password let it back in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser import login
from tests.conftest import ShopFixture
from xiaodian.accounts import service as accounts
from xiaodian.runtime import Runtime

pytestmark = pytest.mark.browser


def _new_page(browser: Any) -> Any:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 860})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def _submit(page: Any, form: str) -> None:
    with page.expect_navigation():
        page.click(f"{form} button[type=submit]")


def test_S5_sub_account_changes_password_and_main_account_disables_and_resets_it(
    browser: Any, browser_page: Any, live_server: str, rt: Runtime, shop: ShopFixture
) -> None:
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        accounts.create_sub_account(
            ctx,
            accounts.principal_for_user(ctx.session, owner),
            username="kefu01",
            password="sub-pass-123",
            display_name="客服小王",
            permissions=["orders.view"],
        )
    sub = browser_page
    login(sub, live_server, "kefu01", "sub-pass-123")
    assert sub.url == f"{live_server}/console/"

    # The sub-account finds 修改密码 in the menu and changes its own password.
    with sub.expect_navigation():
        sub.click('nav a[data-nav="修改密码"]')
    sub.fill("input[name=current_password]", "sub-pass-123")
    sub.fill("input[name=new_password]", "aaaaaaaaaa")
    sub.fill("input[name=confirm_password]", "aaaaaaaaaa")
    _submit(sub, "[data-testid=change-password]")
    assert "密码不能由同一个字符重复组成" in sub.inner_text("[data-testid=password-error]")
    sub.fill("input[name=current_password]", "sub-pass-123")
    sub.fill("input[name=new_password]", "kefu-new-pass-1")
    sub.fill("input[name=confirm_password]", "kefu-new-pass-1")
    _submit(sub, "[data-testid=change-password]")
    assert "密码已修改" in sub.inner_text(".flash")
    sub.goto(f"{live_server}/console/orders")
    assert sub.url == f"{live_server}/console/orders"

    # The main account disables it in 子账号与权限: the sub-account's next click is a login.
    main = _new_page(browser)
    try:
        login(main, live_server, shop.username, shop.password)
        main.goto(f"{live_server}/console/settings/users")
        main.once("dialog", lambda dialog: dialog.accept())
        with main.expect_navigation():
            main.click("[data-testid=disable-kefu01]")
        card = main.locator("[data-testid=account-kefu01]")
        assert "已停用" in card.inner_text()
        sub.goto(f"{live_server}/console/orders")
        assert "/console/login" in sub.url
        login(sub, live_server, "kefu01", "kefu-new-pass-1")
        assert "已被主账号停用" in sub.inner_text("[data-testid=login-error]")

        # Re-enabled and given a new password by the main account, it logs in again.
        with main.expect_navigation():
            main.click("[data-testid=enable-kefu01]")
        main.fill("[data-testid=reset-password-kefu01]", "reset-pass-77")
        with main.expect_navigation():
            main.click("[data-testid=account-kefu01] .reset-password button[type=submit]")
        assert "已重置子账号 kefu01 的密码" in main.inner_text(".flash")
        login(sub, live_server, "kefu01", "kefu-new-pass-1")
        assert "用户名或密码错误" in sub.inner_text("[data-testid=login-error]")
        login(sub, live_server, "kefu01", "reset-pass-77")
        assert sub.url == f"{live_server}/console/"
    finally:
        main.context.close()


@pytest.mark.parametrize("width", [1400, 390])
def test_U2_account_pages_screenshots(
    browser: Any, live_server: str, rt: Runtime, shop: ShopFixture, width: int, tmp_path: Any
) -> None:
    """U2: 修改密码 and 子账号与权限 (停用/启用/重置密码) at desktop and phone width, kept as
    screenshots (XIAODIAN_ARTIFACTS_DIR, else the test's temporary directory)."""
    with rt.unit() as ctx:
        owner = accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        principal = accounts.principal_for_user(ctx.session, owner)
        sub = accounts.create_sub_account(
            ctx, principal, username="kefu01", password="sub-pass-123", display_name="客服小王"
        )
        accounts.set_active(ctx, principal, sub.id, active=False)
    out = Path(os.environ.get("XIAODIAN_ARTIFACTS_DIR") or tmp_path) / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login(page, live_server, shop.username, shop.password)
        page.goto(f"{live_server}/console/settings/users")
        card = page.locator("[data-testid=account-kefu01]")
        assert "已停用" in card.inner_text()
        assert card.locator("[data-testid=enable-kefu01]").is_visible()
        assert card.locator("text=重置密码").is_visible()
        page.screenshot(path=str(out / f"U2-users-{width}.png"), full_page=True)
        page.goto(f"{live_server}/console/settings/password")
        for label in ("当前密码", "新密码", "确认新密码"):
            assert page.get_by_label(label, exact=True).is_visible()
        page.screenshot(path=str(out / f"U2-password-{width}.png"), full_page=True)
    finally:
        context.close()

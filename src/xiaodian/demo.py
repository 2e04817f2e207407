"""The demo shop: realistic data in every context, created once (running it again is a no-op).

Each context may contribute ``xiaodian/<context>/demo.py`` with ``seed(rt, shop_id, progress)``;
they run in the order of ``xiaodian.contexts.CONTEXTS`` (orders first: the others build on
orders).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select

from xiaodian import contexts
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp, User
from xiaodian.accounts.scopes import APP_SCOPES, LEGACY_APP_SCOPES
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.runtime import Runtime

DEMO_USER = "demo"
DEMO_SUB_USER = "kefu"
DEMO_PASSWORD = "demo12345"
# The demo history reaches 30 days back; its top-ups are made a day before that (U6).
FUNDED_BEFORE = timedelta(days=31)
# M4: the contexts that declare a demo seed in xiaodian.contexts.CONTEXTS, in its order.
CONTEXT_SEEDS = tuple(name.split(".")[1] for name in contexts.modules("demo"))


def ensure_demo(rt: Runtime, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    with rt.unit("demo") as ctx:
        user = ctx.session.scalars(select(User).where(User.username == DEMO_USER)).first()
        if user is not None:
            app = ctx.session.scalars(select(ApiApp).where(ApiApp.shop_id == user.shop_id)).first()
            return _info(app)
    seeds = contexts.load("demo")
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("创建演示店铺 demo shop", total=1 + len(seeds))
        shop_id, app_info = _create_shop(rt)
        progress.advance(task)
        for module in seeds:
            module.seed(rt, shop_id, progress)
            progress.advance(task)
    return app_info


def _create_shop(rt: Runtime) -> tuple[int, dict[str, Any]]:
    with rt.unit("demo") as ctx:
        shop, user = accounts.create_shop(
            ctx,
            name="抖音好物小店",
            registered_name="杭州好物电子商务有限公司",
            username=DEMO_USER,
            password=DEMO_PASSWORD,
            phone="13800138000",
            douyin_account="haowu_official",
        )
        principal = accounts.principal_for_user(ctx.session, user)
        accounts.create_sub_account(
            ctx,
            principal,
            username=DEMO_SUB_USER,
            password=DEMO_PASSWORD,
            display_name="客服小美",
            phone="13900139000",
            permissions=["orders.view", "service.chat", "aftersales.handle"],
        )
        for name, address in (
            ("西湖旗舰店", "杭州市西湖区文三路 100 号"),
            ("滨江体验店", "杭州市滨江区江南大道 88 号"),
        ):
            accounts.create_store(ctx, shop.id, name=name, address=address)
        accounts.add_staff(
            ctx, shop.id, douyin_id="dy_hexiao_01", name="核销员小王", store_ids=None
        )
        # The demo ERP may do everything the open API offers (S2), the simulation controls
        # too when the clock is simulated (S3).
        scopes = APP_SCOPES if rt.simulated else LEGACY_APP_SCOPES
        app = accounts.create_app(ctx, shop.id, "演示 ERP", scopes)
        # U6: the money is there before the history it pays for (orders go back 30 days).
        funded = replace(ctx, now=ctx.now - FUNDED_BEFORE)
        ledger.topup(funded, shop.id, Account.DEPOSIT, 2_000_00, "demo-deposit")
        ledger.topup(funded, shop.id, Account.BALANCE, 5_000_00, "demo-balance")
        notify.notice(
            ctx,
            shop.id,
            category="system",
            title="欢迎使用小店",
            body="演示店铺已创建：保证金 ¥2,000.00，账户余额 ¥5,000.00。",
            rule="X1",
        )
        return shop.id, _info(app)


def _info(app: ApiApp | None) -> dict[str, Any]:
    return {
        "username": DEMO_USER,
        "sub_username": DEMO_SUB_USER,
        "password": DEMO_PASSWORD,
        "app_key": app.app_key if app else "",
        "secret": app.secret if app else "",
        "shop_id": app.shop_id if app else None,  # F8: the buyer pages' /shop/{shop_id}
    }

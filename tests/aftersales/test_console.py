"""Console pages over HTTP: 售后工作台 search and batch (A3), detail reject with 举证 upload
(A4), 售后小助手 for the main account and a granted sub-account only (A2)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.aftersales.conftest import World, png_bytes
from tests.web.conftest import console_login, page_token
from xiaodian.accounts import service as accounts
from xiaodian.ledger.models import Account
from xiaodian.runtime import Runtime


def _sub_account(rt: Runtime, shop: Any, permissions: list[str]) -> None:
    with rt.unit() as ctx:
        main = accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        )
        accounts.create_sub_account(
            ctx,
            main,
            username="as_kefu",
            password="secret-pass-1",
            display_name="客服",
            phone="13900000009",
            permissions=permissions,
        )


def test_A2_console_assistant_main_account_creates_strategy(
    client: TestClient, shop: Any, world: World
) -> None:
    console_login(client, shop.username, shop.password)
    page = client.get("/console/aftersales/assistant")
    assert page.status_code == 200 and "ERP取消发货自动退" in page.text and "未创建" in page.text
    token = page_token(client, "/console/aftersales/assistant")
    saved = client.post(
        "/console/aftersales/assistant",
        data={"csrf_token": token, "code": "small_amount", "enabled": "on", "threshold": "12.34"},
        follow_redirects=True,
    )
    assert "策略已保存" in saved.text and 'value="12.34"' in saved.text
    pid = world.product(shop.shop_id)
    req = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 1_234)
    assert req.status == "refunded" and req.decided_rule == "A2.2"


def test_A2_console_assistant_sub_account_needs_grant(
    client: TestClient, rt: Runtime, shop: Any
) -> None:
    _sub_account(rt, shop, ["aftersales.handle"])
    console_login(client, "as_kefu", "secret-pass-1")
    assert client.get("/console/aftersales").status_code == 200
    assert client.get("/console/aftersales/assistant").status_code == 403
    with rt.unit() as ctx:
        main = accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        )
        sub = next(u for u in accounts.list_users(ctx.session, shop.shop_id) if not u.is_main)
        accounts.grant(ctx, main, sub.id, "aftersales.assistant")
    assert client.get("/console/aftersales/assistant").status_code == 200


def test_A3_A4_console_workbench_batch_and_reject_with_evidence(
    client: TestClient, rt: Runtime, shop: Any, world: World
) -> None:
    pid = world.product(shop.shop_id)
    a = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)], name="李雷"), 100)
    b = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)], name="韩梅梅"), 200)
    c = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)], name="王五"), 300)
    console_login(client, shop.username, shop.password)
    page = client.get("/console/aftersales")
    assert "已发货仅退款待处理 (3)" in page.text and "48小时0分" in page.text
    found = client.get("/console/aftersales?buyer_name=韩")
    assert (
        f'data-request-id="{b.id}"' in found.text and f'data-request-id="{a.id}"' not in found.text
    )
    token = page_token(client, "/console/aftersales")
    done = client.post(
        "/console/aftersales/batch",
        data={"csrf_token": token, "action": "agree", "request_ids": [str(a.id), str(b.id)]},
        follow_redirects=True,
    )
    assert "批量同意退款：成功 2 单，失败 0 单" in done.text
    assert world.request(shop.shop_id, a.id).status == "refunded"
    token = page_token(client, f"/console/aftersales/{c.id}")
    refused = client.post(
        f"/console/aftersales/{c.id}/reject",
        data={"csrf_token": token, "reason": "fresh_food", "note": "已签收七天"},
        headers={"referer": f"http://testserver/console/aftersales/{c.id}"},
    )
    assert refused.status_code == 422
    assert "拒绝售后须选择拒绝原因并上传对应的举证材料" in refused.text
    # U8: the detail page again, the reject form kept (chosen reason, typed note).
    form = refused.text[refused.text.index('data-testid="reject-form"') :]
    form = form[: form.index("</form>")]
    assert '<option value="fresh_food" selected' in form
    assert 'name="note" value="已签收七天"' in form
    assert world.request(shop.shop_id, c.id).status == "pending"
    ok = client.post(
        f"/console/aftersales/{c.id}/reject",
        data={"csrf_token": token, "reason": "fresh_food"},
        files={"files": ("photo.png", png_bytes(), "image/png")},
        follow_redirects=True,
    )
    assert "已拒绝售后申请" in ok.text and "photo.png" in ok.text
    assert world.request(shop.shop_id, c.id).status == "rejected"


def test_A3_A2_4_console_single_operate_route(
    client: TestClient, rt: Runtime, shop: Any, world: World, make_shop: Any
) -> None:
    """The detail page's one-request actions: 同意拒签后退款, 同意退款, a refused repeat and an
    unknown action shown as messages (never a 500), CSRF required, another shop's request 404."""
    pid = world.product(shop.shop_id)
    waiting = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 300)
    agreed = world.apply(shop.shop_id, world.order(shop.shop_id, [(pid, 1)]), 400)
    console_login(client, shop.username, shop.password)

    def act(request_id: int, action: str) -> Any:
        token = page_token(client, f"/console/aftersales/{request_id}")
        return client.post(
            f"/console/aftersales/{request_id}/operate",
            data={"csrf_token": token, "action": action},
            follow_redirects=True,
        )

    done = act(waiting.id, "agree_on_refusal")
    assert done.status_code == 200 and "已同意拒签后退款" in done.text
    assert world.request(shop.shop_id, waiting.id).status == "agreed_on_refusal"
    done = act(agreed.id, "agree")
    assert "已同意退款" in done.text
    refunded = world.request(shop.shop_id, agreed.id)
    assert refunded.status == "refunded" and refunded.decided_rule == "A3"
    again = act(agreed.id, "agree")
    assert again.status_code == 200 and "不能同意退款" in again.text
    unknown = act(agreed.id, "refund_twice")
    assert unknown.status_code == 200 and "未知操作" in unknown.text
    assert world.balance(shop.shop_id, Account.ORDER_ESCROW) == 5_000 * 2 - 400

    no_csrf = client.post(f"/console/aftersales/{waiting.id}/operate", data={"action": "agree"})
    assert no_csrf.status_code in (400, 403)
    assert world.request(shop.shop_id, waiting.id).status == "agreed_on_refusal"
    other = make_shop("别家小店")
    foreign_order = world.order(other.shop_id, [(world.product(other.shop_id), 1)])
    foreign = world.apply(other.shop_id, foreign_order, 100)
    token = page_token(client, f"/console/aftersales/{waiting.id}")
    missing = client.post(
        f"/console/aftersales/{foreign.id}/operate",
        data={"csrf_token": token, "action": "agree"},
        follow_redirects=False,
    )
    assert missing.status_code == 404
    assert world.request(other.shop_id, foreign.id).status == "pending"

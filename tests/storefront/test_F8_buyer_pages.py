"""F8 (issue 17) the buyer's pages over real HTTP against the real app: sign-in with the buyer
token (a hashed cookie session), 店铺主页领券 with the C3/C4 limits refused in Chinese, 我的卡券
with the code and its QR, 申请售后 / 修改 / 撤销, 消息; CSRF on every POST; another buyer's
things are 404."""

from __future__ import annotations

import io
from typing import Any

import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tests.aftersales.conftest import World
from tests.storefront.conftest import BuyerBrowser, campaign, csrf_of, sign_in
from xiaodian.accounts.sessions import token_hash
from xiaodian.coupons.models import Claim
from xiaodian.runtime import Runtime
from xiaodian.storefront.models import BuyerSession


def _claims(rt: Runtime) -> int:
    with rt.unit() as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(Claim)) or 0)


def _claim(buyer: BuyerBrowser, shop_id: int, campaign_id: int, coupon_id: int) -> Any:
    return buyer.post(
        f"/shop/{shop_id}/claim",
        {"campaign_id": str(campaign_id), "coupon_id": str(coupon_id)},
        page=f"/shop/{shop_id}",
    )


def test_F8_homepage_claim_then_my_coupons_show_the_code_and_its_QR(
    rt: Runtime, shop: Any, make_buyer: Any
) -> None:
    campaign_id, coupon_id = campaign(rt, shop.shop_id)
    buyer = make_buyer()
    home = buyer.client.get(f"/shop/{shop.shop_id}")
    assert home.status_code == 200
    assert "进店全场95折" in home.text and "领取" in home.text
    assert "每人限领 1 张" in home.text
    done = _claim(buyer, shop.shop_id, campaign_id, coupon_id)
    assert done.status_code == 303 and done.headers["location"] == "/my/coupons?done=claimed"
    with rt.unit() as ctx:
        (row,) = ctx.session.scalars(select(Claim))
        code, claim_id = row.code, row.id
        assert row.buyer_id == buyer.buyer_id
    mine = buyer.client.get("/my/coupons?done=claimed")
    assert "领取成功" in mine.text
    spaced = " ".join(code[i : i + 4] for i in range(0, len(code), 4))
    assert spaced in mine.text
    assert f'src="/my/coupons/{claim_id}/qr.png"' in mine.text
    qr = buyer.client.get(f"/my/coupons/{claim_id}/qr.png")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.content)))
    assert decoded.text == f"xiaodian://coupon/{code}"
    inbox = buyer.client.get("/my/inbox")
    assert "领券成功：进店全场95折" in inbox.text


def test_F8_claim_limits_are_refused_in_chinese_on_the_homepage(
    rt: Runtime, shop: Any, make_buyer: Any
) -> None:
    campaign_id, coupon_id = campaign(rt, shop.shop_id, per_user=1, total=2)
    first, second, third = make_buyer("甲"), make_buyer("乙"), make_buyer("丙")
    assert _claim(first, shop.shop_id, campaign_id, coupon_id).status_code == 303
    again = _claim(first, shop.shop_id, campaign_id, coupon_id)
    assert again.status_code == 409
    assert "每人限领 1 张，您已领完" in again.text
    assert 'data-testid="buyer-refusal"' in again.text and "per_user_limit" not in again.text
    assert _claim(second, shop.shop_id, campaign_id, coupon_id).status_code == 303
    gone = _claim(third, shop.shop_id, campaign_id, coupon_id)
    assert gone.status_code == 409 and "卡券已领完" in gone.text
    assert _claims(rt) == 2


def test_F8_the_homepage_is_public_but_claiming_needs_a_signed_in_buyer(
    rt: Runtime, shop: Any, client: TestClient
) -> None:
    campaign_id, coupon_id = campaign(rt, shop.shop_id)
    home = client.get(f"/shop/{shop.shop_id}")
    assert home.status_code == 200 and "登录后领取" in home.text
    assert 'action="/shop/' not in home.text  # no claim form without a buyer
    refused = client.post(
        f"/shop/{shop.shop_id}/claim",
        data={"campaign_id": str(campaign_id), "coupon_id": str(coupon_id)},
        follow_redirects=False,
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/my/login?next=/shop/{shop.shop_id}"
    assert client.get("/my/coupons", follow_redirects=False).status_code == 303
    missing = client.get("/shop/999999")
    assert missing.status_code == 404 and "店铺" in missing.text
    assert _claims(rt) == 0


def test_F8_every_post_needs_the_csrf_token(
    rt: Runtime, shop: Any, make_buyer: Any, world: World
) -> None:
    campaign_id, coupon_id = campaign(rt, shop.shop_id)
    buyer = make_buyer()
    forged = buyer.client.post(
        f"/shop/{shop.shop_id}/claim",
        data={"campaign_id": str(campaign_id), "coupon_id": str(coupon_id), "csrf_token": "x"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "页面已过期" in forged.text
    missing = buyer.client.post(
        f"/shop/{shop.shop_id}/claim",
        data={"campaign_id": str(campaign_id), "coupon_id": str(coupon_id)},
        follow_redirects=False,
    )
    assert missing.status_code == 403
    assert _claims(rt) == 0
    pid = world.product(shop.shop_id)
    order_id = world.order(shop.shop_id, [(pid, 1)], buyer_id=buyer.buyer_id)
    req = world.apply(shop.shop_id, order_id, 1_000)
    for action in ("withdraw", "modify", "intervention"):
        answer = buyer.client.post(
            f"/my/aftersales/{req.id}/{action}", data={"amount": "5"}, follow_redirects=False
        )
        assert answer.status_code == 403, action
    assert world.request(shop.shop_id, req.id).status == "pending"
    # the sign-in form too (double submit: the value must equal its own cookie)
    fresh = TestClient(buyer.client.app)
    no_cookie = fresh.post("/my/login", data={"csrf_token": "x", "token": buyer.token})
    assert no_cookie.status_code == 403
    assert "xiaodian_buyer" not in fresh.cookies


def test_F8_the_session_cookie_is_httponly_lax_and_only_its_hash_is_kept(
    rt: Runtime, client: TestClient, make_buyer: Any
) -> None:
    buyer = make_buyer()
    answer = sign_in(client, buyer.token)
    assert answer.status_code == 303
    header = next(
        h for h in answer.headers.get_list("set-cookie") if h.startswith("xiaodian_buyer=")
    )
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header
    cookie = client.cookies["xiaodian_buyer"]
    assert cookie != buyer.token
    with rt.unit() as ctx:
        hashes = set(ctx.session.scalars(select(BuyerSession.token_hash)))
    assert token_hash(cookie) in hashes and cookie not in hashes
    bad = TestClient(client.app)
    wrong = sign_in(bad, "bt_not-a-token")
    assert wrong.status_code == 401 and "买家凭证无效" in wrong.text
    # 退出 ends the session on the server
    out = client.post(
        "/my/logout", data={"csrf_token": csrf_of(client, "/my/coupons")}, follow_redirects=False
    )
    assert out.status_code == 303
    client.cookies.set("xiaodian_buyer", cookie)
    assert client.get("/my/coupons", follow_redirects=False).status_code == 303


def test_F8_demo_sign_in_only_in_a_demo(rt: Runtime, client: TestClient, make_buyer: Any) -> None:
    buyer = make_buyer("演示买家")
    page = client.get("/my/login")
    assert "演示：选择一位买家" not in page.text
    csrf = csrf_of(client, "/my/login")
    refused = client.post("/my/login", data={"csrf_token": csrf, "buyer_id": str(buyer.buyer_id)})
    assert refused.status_code == 403 and "演示登录未开启" in refused.text
    rt.settings.storefront.demo_sign_in = True
    page = client.get("/my/login")
    assert "演示：选择一位买家" in page.text and "演示买家" in page.text
    picked = client.post(
        "/my/login",
        data={"csrf_token": csrf_of(client, "/my/login"), "buyer_id": str(buyer.buyer_id)},
        follow_redirects=False,
    )
    assert picked.status_code == 303
    assert 'data-testid="buyer-name">演示买家<' in client.get("/my/coupons").text


def test_F8_apply_modify_and_withdraw_an_aftersale_on_the_pages(
    rt: Runtime, shop: Any, make_buyer: Any, world: World
) -> None:
    buyer = make_buyer()
    pid = world.product(shop.shop_id, price_fen=5_000)
    order_id = world.order(shop.shop_id, [(pid, 2)], buyer_id=buyer.buyer_id)
    orders_page = buyer.client.get("/my/orders")
    assert f'href="/my/orders/{order_id}/aftersale"' in orders_page.text
    form = buyer.client.get(f"/my/orders/{order_id}/aftersale")
    assert "已发货仅退款：不想要了" in form.text and "最多可退 ¥100.00" in form.text
    ((item_id, _qty),) = world.items(shop.shop_id, order_id)
    path = f"/my/orders/{order_id}/aftersale"
    fields = {"choice": "shipped_refund:no_longer_wanted", f"qty_{item_id}": "2", "note": "不要了"}
    too_much = buyer.post(path, {**fields, "amount": "100.01"}, page=path)
    assert too_much.status_code == 422
    assert "退款金额不能超过 ¥100.00" in too_much.text
    applied = buyer.post(path, {**fields, "amount": "60"}, page=path)
    assert applied.status_code == 303, applied.text[:800]
    request_id = int(applied.headers["location"].split("/")[3].split("?")[0])
    req = world.request(shop.shop_id, request_id)
    assert (req.status, req.amount_fen, req.kind) == ("pending", 6_000, "shipped_refund")
    detail_path = f"/my/aftersales/{request_id}"
    detail = buyer.client.get(detail_path)
    assert "待商家处理" in detail.text and "撤销" in detail.text and "修改" in detail.text
    # no second request while this one is open
    assert f'href="/my/orders/{order_id}/aftersale"' not in buyer.client.get("/my/orders").text
    modified = buyer.post(
        f"{detail_path}/modify",
        {"amount": "80", "reason": "not_delivered", "note": "一直没到"},
        page=detail_path,
    )
    assert modified.status_code == 303
    req = world.request(shop.shop_id, request_id)
    assert (req.amount_fen, req.reason, req.status) == (8_000, "not_delivered", "pending")
    refused = buyer.post(f"{detail_path}/modify", {"amount": "abc"}, page=detail_path)
    assert refused.status_code == 422 and "退款金额格式不正确" in refused.text
    withdrawn = buyer.post(f"{detail_path}/withdraw", {"note": ""}, page=detail_path)
    assert withdrawn.status_code == 303
    assert world.request(shop.shop_id, request_id).status == "withdrawn"
    after = buyer.client.get(withdrawn.headers["location"])
    assert "已撤销售后申请" in after.text and 'data-testid="withdraw"' not in after.text
    late = buyer.post(f"{detail_path}/withdraw", {}, page="/my/orders")
    assert late.status_code == 409 and "不能撤销" in late.text


def test_F8_another_buyers_aftersale_order_and_coupon_are_404(
    rt: Runtime, shop: Any, make_buyer: Any, world: World
) -> None:
    owner, other = make_buyer("甲"), make_buyer("乙")
    campaign_id, coupon_id = campaign(rt, shop.shop_id)
    assert _claim(owner, shop.shop_id, campaign_id, coupon_id).status_code == 303
    with rt.unit() as ctx:
        (claim_id,) = ctx.session.scalars(select(Claim.id))
    pid = world.product(shop.shop_id)
    order_id = world.order(shop.shop_id, [(pid, 1)], buyer_id=owner.buyer_id)
    req = world.apply(shop.shop_id, order_id, 1_000)
    assert owner.client.get(f"/my/aftersales/{req.id}").status_code == 200
    assert other.client.get(f"/my/aftersales/{req.id}").status_code == 404
    assert other.client.get(f"/my/orders/{order_id}/aftersale").status_code == 404
    assert other.client.get(f"/my/coupons/{claim_id}/qr.png").status_code == 404
    for action in ("withdraw", "modify", "intervention"):
        answer = other.post(f"/my/aftersales/{req.id}/{action}", {"amount": "1"})
        assert answer.status_code == 404, action
        assert "售后单" in answer.text
    assert world.request(shop.shop_id, req.id).status == "pending"
    assert f"/my/aftersales/{req.id}" not in other.client.get("/my/orders").text


def test_F8_sign_in_returns_only_to_our_buyer_pages(client: TestClient, make_buyer: Any) -> None:
    buyer = make_buyer()
    for target in ("https://evil.example/x", "//evil.example/x", "/console/", "/shop/\\x"):
        answer = sign_in(TestClient(client.app), buyer.token, target)
        assert answer.status_code == 303 and answer.headers["location"] == "/my/coupons", target
    kept = sign_in(TestClient(client.app), buyer.token, "/shop/7")
    assert kept.headers["location"] == "/shop/7"

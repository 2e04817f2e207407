"""Red packets over HTTP: the signed open API (R1, R5, R6, R8), the buyer checkout (R3), and the
console pages (no browser)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from xiaodian.accounts import service as accounts
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime

from ..web.conftest import console_login, page_token

DAY = 86_400


def _buyer(rt: Runtime, douyin_id: str) -> tuple[int, str]:
    with rt.unit() as ctx:
        buyer, token = accounts.create_buyer(
            ctx, douyin_id=douyin_id, nickname=douyin_id, phone="13812345678"
        )
        return buyer.id, token


def _fund(rt: Runtime, shop_id: int, amount: int) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop_id, Account.BALANCE, amount, f"fund-{shop_id}-{amount}")


def test_R1_R5_R6_R8_open_api_issue_list_reclaim_extend(rt: Runtime, shop: Any) -> None:
    _fund(rt, shop.shop_id, 100_00)
    _buyer(rt, "dy_api_1")
    _buyer(rt, "dy_api_2")
    answer = shop.api.post(
        "/api/v1/redpackets",
        {"buyer_douyin_ids": ["dy_api_1", "nobody", "dy_api_2"], "amount_fen": 10_00},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["issued"], body["rejected"], body["total_fen"]) == (2, 1, 20_00)
    assert body["rows"][1]["code"] == "unknown_buyer"
    first, second = body["rows"][0]["redpacket_id"], body["rows"][2]["redpacket_id"]

    too_much = shop.api.post(
        "/api/v1/redpackets", {"buyer_douyin_ids": ["dy_api_1"], "amount_fen": 90_00}
    )
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "insufficient_balance"
    assert "¥80.00" in too_much.json()["message_zh"]

    listed = shop.api.get("/api/v1/redpackets?status=valid").json()
    assert {p["id"] for p in listed["items"]} == {first, second}
    assert listed["totals"]["issued_fen"] == 20_00

    early = shop.api.post(f"/api/v1/redpackets/{first}/reclaim")
    assert early.status_code == 409 and early.json()["code"] == "not_expired"
    rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    assert shop.api.get("/api/v1/redpackets?status=expired").json()["totals"]["count"] == 2
    done = shop.api.post(f"/api/v1/redpackets/{first}/reclaim")
    assert done.status_code == 200 and done.json()["status"] == "reclaimed"
    again = shop.api.post(f"/api/v1/redpackets/{first}/reclaim")
    assert again.status_code == 409 and again.json()["code"] == "already_reclaimed"

    too_long = shop.api.post(
        f"/api/v1/redpackets/{second}/extend", {"extension_seconds": 3 * DAY + 1}
    )
    assert too_long.status_code == 422 and too_long.json()["code"] == "extension_too_long"
    extended = shop.api.post(f"/api/v1/redpackets/{second}/extend", {"extension_seconds": DAY})
    assert extended.status_code == 200 and extended.json()["status"] == "expiring"

    bulk = shop.api.post("/api/v1/redpackets/reclaim", {"ids": [first, second]}).json()
    assert [r["code"] for r in bulk["results"]] == ["already_reclaimed", "not_expired"]
    detail = shop.api.get(f"/api/v1/redpackets/{second}").json()
    assert [h["kind"] for h in detail["history"]] == ["issue", "expire", "extend"]
    stats = shop.api.get("/api/v1/redpackets/stats?days=3").json()
    assert len(stats["usage"]) == 3
    assert shop.api.request(
        "PUT", "/api/v1/redpackets/settings", {"remind_lead_hours": 12}
    ).json() == {"remind_lead_hours": 12}
    assert shop.api.get("/api/v1/redpackets?status=bogus").status_code == 422
    assert shop.api.get("/api/v1/funds").json()["balance_fen"] == 90_00


def test_R3_buyer_checkout_then_pay_the_rest(rt: Runtime, client: TestClient, shop: Any) -> None:
    _fund(rt, shop.shop_id, 100_00)
    buyer_id, token = _buyer(rt, "dy_checkout")
    _, other_token = _buyer(rt, "dy_other")
    with rt.unit() as ctx:
        product = orders.create_product(
            ctx, shop.shop_id, title="保温杯", price_fen=59_00, stock=10
        ).id
    [row] = shop.api.post(
        "/api/v1/redpackets", {"buyer_douyin_ids": ["dy_checkout"], "amount_fen": 10_00}
    ).json()["rows"]
    pid = row["redpacket_id"]
    auth = {"Authorization": f"Bearer {token}"}
    mine = client.get(f"/buyer/v1/redpackets?shop_id={shop.shop_id}", headers=auth).json()
    assert [(p["id"], p["status"]) for p in mine] == [(pid, "valid")]
    order_body = {
        "items": [{"product_id": product, "qty": 1}],
        "address": "杭州市西湖区文三路 1 号",
        "payment_route": "wechat",
        "redpacket_id": pid,
        "redpacket_amount_fen": 6_00,
    }
    stolen = client.post(
        f"/buyer/v1/shops/{shop.shop_id}/checkout",
        json=order_body,
        headers={"Authorization": f"Bearer {other_token}"},
    )
    assert stolen.status_code == 404
    placed = client.post(f"/buyer/v1/shops/{shop.shop_id}/checkout", json=order_body, headers=auth)
    assert placed.status_code == 201, placed.text
    out = placed.json()
    assert (out["discount_fen"], out["to_pay_fen"], out["redpacket_remaining_fen"]) == (
        6_00,
        53_00,
        4_00,
    )
    paid = client.post(f"/buyer/v1/orders/{out['order_id']}/pay", headers=auth)
    assert paid.status_code == 200 and paid.json()["paid_fen"] == 53_00
    with rt.unit() as ctx:
        assert ledger.balance(ctx.session, shop.shop_id, Account.ORDER_ESCROW) == 59_00
    bad = client.post(
        f"/buyer/v1/shops/{shop.shop_id}/checkout",
        json={**order_body, "redpacket_amount_fen": 5_00},
        headers=auth,
    )
    assert bad.status_code == 409 and bad.json()["code"] == "redpacket_insufficient"
    assert buyer_id


def test_R8_console_list_issue_detail_reclaim_extend(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    _fund(rt, shop.shop_id, 100_00)
    _buyer(rt, "dy_console_1")
    _buyer(rt, "dy_console_2")
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/redpackets/issue")
    result = client.post(
        "/console/redpackets/issue",
        data={
            "csrf_token": token,
            "buyers": "dy_console_1\nnobody",
            "amount": "10.00",
            "validity_days": "3",
        },
        files={"file": ("buyers.csv", "抖音号\ndy_console_2\n".encode(), "text/csv")},
    )
    assert result.status_code == 200, result.text
    assert "成功发放 <strong>2</strong> 个，失败 <strong>1</strong> 个" in result.text
    assert "买家抖音号 nobody 不存在" in result.text

    poor = client.post(
        "/console/redpackets/issue",
        data={"csrf_token": token, "buyers": "dy_console_1", "amount": "500"},
    )
    assert poor.status_code == 409 and "商家账户余额不足" in poor.text

    listing = client.get("/console/redpackets?status=valid")
    assert listing.status_code == 200 and listing.text.count('data-packet="') == 2
    assert 'data-testid="usage-chart"' in listing.text
    with rt.unit() as ctx:
        from xiaodian.redpackets import service

        rows = service.list_packets(ctx.session, shop.shop_id, ctx.now, ctx.settings)
        ids = [r.packet.id for r in rows]
    rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    token = page_token(client, f"/console/redpackets/{ids[0]}")
    client.post(f"/console/redpackets/{ids[0]}/reclaim", data={"csrf_token": token})
    page = client.get(f"/console/redpackets/{ids[0]}").text
    assert "已回收" in page
    refused = client.post(
        f"/console/redpackets/{ids[1]}/extend",
        data={"csrf_token": token, "days": "4"},
        headers={"referer": f"http://testserver/console/redpackets/{ids[1]}"},
    )
    # U8: the detail page again with the reason on the extend form and the typed days kept.
    assert refused.status_code in (409, 422)
    form = refused.text[refused.text.index('data-testid="extend-form"') :]
    form = form[: form.index("</form>")]
    assert "不能超过" in form and 'name="days" inputmode="numeric" size="3" value="4"' in form
    bulk = client.post(
        "/console/redpackets/bulk",
        data={"csrf_token": token, "action": "extend", "days": "1", "ids": [str(i) for i in ids]},
    )
    assert bulk.status_code == 200
    assert "已回收，不能延长有效期" in bulk.text and "已延长" in bulk.text
    assert client.get("/console/redpackets/999999").status_code == 404

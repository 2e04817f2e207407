"""The HTTP surface: signed open API v1/v2, buyer API, staff app API (C1–C7, X1 events)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.coupons.helpers import draft, png
from xiaodian import scheduler
from xiaodian.coupons import sweeps as coupon_rules
from xiaodian.coupons.models import INT_FIELD_MAX
from xiaodian.coupons.schemas import BIGINT_MAX, FEN_MAX
from xiaodian.notify.models import Event
from xiaodian.runtime import Runtime


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _coupon_body(**overrides: Any) -> dict[str, Any]:
    d = draft()
    body = {
        "title": d.title,
        "merchant_name": d.merchant_name,
        "product_image_base64": _b64(d.product_image or b""),
        "logo_base64": _b64(d.logo or b""),
        "condition_kind": "amount_off",
        "threshold_fen": 500_00,
        "amount_off_fen": 30_00,
        "usage_text": "订单满500元可用，立减30元。",
        "validity_kind": "relative",
        "valid_days": 7,
        "service_phone": "13812345678",
        "claim_instructions": "到店出示券码。",
    }
    body.update(overrides)
    return body


def _setup(rt: Runtime, client: TestClient, shop: Any) -> dict[str, Any]:
    store = shop.api.post("/api/v1/stores", {"name": "西湖店"}).json()["id"]
    created = shop.api.post("/api/v1/coupons", _coupon_body())
    assert created.status_code == 201, created.text
    coupon = created.json()
    assert coupon["status"] == "reviewing" and coupon["status_label"] == "审核中"
    queue = shop.api.get("/api/v1/coupons/review-queue").json()
    assert [c["id"] for c in queue] == [coupon["id"]]
    # F1: the shop cannot approve it; the platform's default policy does at the 30-minute mark.
    refused = shop.api.post(f"/api/v1/coupons/{coupon['id']}/review", {"decision": "approve"})
    assert refused.status_code in (404, 405), refused.text
    scheduler.advance(rt, 30 * 60, sweeps=coupon_rules.SWEEPS)
    reviewed = shop.api.get(f"/api/v1/coupons/{coupon['id']}")
    assert reviewed.json()["status"] == "active", reviewed.text
    campaign = shop.api.post(
        "/api/v1/coupons/campaigns",
        {
            "name": "开业领券",
            "starts_at": rt.clock.now().isoformat(),
            "ends_at": rt.clock.now().replace(year=2027).isoformat(),
            "store_ids": [store],
            "coupon_ids": [coupon["id"]],
            "per_user_limit": 1,
            "total_limit": 10,
        },
    )
    assert campaign.status_code == 201, campaign.text
    assert campaign.json()["status"] == "online"
    buyer = client.post("/buyer/v1/register", json={"douyin_id": "dy_b", "nickname": "买家"}).json()
    return {
        "store": store,
        "coupon": coupon,
        "campaign": campaign.json(),
        "buyer": {"Authorization": f"Bearer {buyer['token']}"},
    }


def test_C1_api_lists_every_failing_field_and_garbage_is_422_not_500(shop: Any) -> None:
    bad = shop.api.post(
        "/api/v1/coupons",
        _coupon_body(
            title="一二三四五六七八九十一二三四五六",
            product_image_base64="!!!notbase64",
            logo_base64=_b64(png(133, 132)),
            service_phone="123",
        ),
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields >= {"product_image"}
    bad = shop.api.post(
        "/api/v1/coupons",
        _coupon_body(
            title="一二三四五六七八九十一二三四五六",
            product_image_base64=_b64(b"garbage"),
            logo_base64=_b64(png(133, 132)),
            service_phone="123",
        ),
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "product_image",
        "logo",
        "title",
        "service_phone",
    }
    wrong_type = shop.api.post("/api/v1/coupons", _coupon_body(valid_days="seven"))
    assert wrong_type.status_code == 422


def test_C4_C6_C7_http_flow(rt: Runtime, client: TestClient, shop: Any, make_shop: Any) -> None:
    w = _setup(rt, client, shop)
    listing = client.get(f"/buyer/v1/shops/{shop.shop_id}/coupons").json()
    assert [i["coupon_id"] for i in listing] == [w["coupon"]["id"]]
    image = client.get(listing[0]["product_image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    body = {"campaign_id": w["campaign"]["id"], "coupon_id": w["coupon"]["id"]}
    claimed = client.post(
        f"/buyer/v1/shops/{shop.shop_id}/coupons/claim", json=body, headers=w["buyer"]
    )
    assert claimed.status_code == 201, claimed.text
    code = claimed.json()["code"]
    again = client.post(
        f"/buyer/v1/shops/{shop.shop_id}/coupons/claim", json=body, headers=w["buyer"]
    )
    assert again.status_code == 409 and again.json()["code"] == "per_user_limit_reached"
    qr = client.get(claimed.json()["qr_url"], headers=w["buyer"])
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")

    # C7 prepare → verify (idempotent) → cancel → query.
    prepared = shop.api.post(
        "/api/v2/verification/prepare", {"qr_payload": claimed.json()["qr_payload"]}
    )
    assert prepared.status_code == 200, prepared.text
    p = prepared.json()
    assert p["usable"] and p["usable_store_ids"] == [w["store"]]
    req = {"verify_token": p["verify_token"], "store_id": w["store"], "client_request_id": "pos-1"}
    first = shop.api.post("/api/v2/verification/verify", req)
    assert first.status_code == 200, first.text
    second = shop.api.post("/api/v2/verification/verify", req)
    assert second.json()["id"] == first.json()["id"] and second.json()["replayed"]
    other_request = shop.api.post(
        "/api/v2/verification/verify", {**req, "client_request_id": "pos-2"}
    )
    assert other_request.status_code == 409 and other_request.json()["code"] == "already_verified"
    cancelled = shop.api.post(
        "/api/v2/verification/cancel", {"verification_id": first.json()["id"]}
    )
    assert cancelled.json()["status"] == "cancelled"
    query = shop.api.get(f"/api/v2/verification/claims?code={code}").json()
    assert query["claim"]["status"] == "unused" and len(query["verifications"]) == 1
    by_id = shop.api.get(f"/api/v2/verification/claims/{query['claim']['id']}")
    assert by_id.json()["claim"]["code"] == code

    other = make_shop("别家")
    assert other.api.get(f"/api/v2/verification/claims?code={code}").status_code == 404
    assert (
        other.api.post("/api/v2/verification/verify", {**req, "client_request_id": "x"}).status_code
        == 401
    )

    # C5 staff app: bearer token, verify by code, revoked → refused.
    staff = shop.api.post("/api/v1/staff", {"douyin_id": "dy_staff", "store_ids": None}).json()
    token = shop.api.post(f"/api/v1/coupons/staff/{staff['id']}/token").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/staff/v1/me", headers=auth).json()["douyin_id"] == "dy_staff"
    done = client.post(
        "/staff/v1/coupons/verify", json={"code": code, "store_id": w["store"]}, headers=auth
    )
    assert done.status_code == 200, done.text
    shop.api.post(f"/api/v1/staff/{staff['id']}/revoke")
    refused = client.post(
        "/staff/v1/coupons/verify", json={"code": code, "store_id": w["store"]}, headers=auth
    )
    assert refused.status_code == 403 and refused.json()["code"] == "staff_revoked"
    garbage = client.post(
        "/staff/v1/coupons/verify-scan",
        headers={"Authorization": "Bearer nope"},
        files={"image": ("x.png", b"garbage")},
        data={"store_id": "1"},
    )
    assert garbage.status_code == 401

    with rt.unit() as ctx:
        types = set(ctx.session.scalars(select(Event.type).where(Event.shop_id == shop.shop_id)))
    assert {
        "coupon.created",
        "coupon.approved",
        "campaign.created",
        "coupon.claimed",
        "coupon.verified",
        "coupon.verification_cancelled",
    } <= types


def test_C6_staff_scan_upload_over_http(rt: Runtime, client: TestClient, shop: Any) -> None:
    import io

    from PIL import Image

    from tests.coupons.helpers import picture
    from xiaodian.coupons import service

    w = _setup(rt, client, shop)
    body = {"campaign_id": w["campaign"]["id"], "coupon_id": w["coupon"]["id"]}
    code = client.post(
        f"/buyer/v1/shops/{shop.shop_id}/coupons/claim", json=body, headers=w["buyer"]
    ).json()["code"]
    staff = shop.api.post("/api/v1/staff", {"douyin_id": "dy_s", "store_ids": [w["store"]]}).json()
    auth = {
        "Authorization": "Bearer "
        + shop.api.post(f"/api/v1/coupons/staff/{staff['id']}/token").json()["token"]
    }
    shot = picture(500, 800, (255, 255, 255))
    shot.paste(Image.open(io.BytesIO(service.qr_png(code, 5))).convert("RGB"), (80, 200))
    buffer = io.BytesIO()
    shot.save(buffer, format="PNG")
    bad = client.post(
        "/staff/v1/coupons/verify-scan",
        headers=auth,
        files={"image": ("x.png", b"\x89PNG garbage")},
        data={"store_id": str(w["store"])},
    )
    assert bad.status_code == 422
    ok = client.post(
        "/staff/v1/coupons/verify-scan",
        headers=auth,
        files={"image": ("shot.png", buffer.getvalue(), "image/png")},
        data={"store_id": str(w["store"])},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["channel"] == "scan" and ok.json()["code"] == code


def test_C3_api_limits_and_ids_bounded_422_at_one_over_never_an_int4_overflow(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    """per_user_limit/total_limit are INTEGER columns: 1,000,000,000 is stored, one more is a
    422 naming the field (both languages) before PostgreSQL sees it; ids past BIGINT are 422."""
    w = _setup(rt, client, shop)
    top = INT_FIELD_MAX

    def create(**limits: int) -> Any:
        return shop.api.post(
            "/api/v1/coupons/campaigns",
            {
                "name": "上限活动",
                "starts_at": rt.clock.now().isoformat(),
                "ends_at": rt.clock.now().replace(year=2027).isoformat(),
                "store_ids": None,
                "coupon_ids": [w["coupon"]["id"]],
                **limits,
            },
        )

    at_bound = create(per_user_limit=top, total_limit=top)
    assert at_bound.status_code == 201, at_bound.text
    assert (at_bound.json()["per_user_limit"], at_bound.json()["total_limit"]) == (top, top)
    for name in ("per_user_limit", "total_limit"):
        over = create(**{"per_user_limit": 1, "total_limit": 10, name: top + 1})
        assert over.status_code == 422, over.text
        problem = over.json()
        assert [e["field"] for e in problem["errors"]] == [name]
        assert problem["errors"][0]["message_zh"] and problem["errors"][0]["message_en"]
    patch = shop.api.patch(
        f"/api/v1/coupons/campaigns/{w['campaign']['id']}", {"total_limit": top + 1}
    )
    assert patch.status_code == 422 and patch.json()["errors"][0]["field"] == "total_limit"
    assert (
        shop.api.patch(
            f"/api/v1/coupons/campaigns/{w['campaign']['id']}", {"total_limit": top}
        ).json()["total_limit"]
        == top
    )

    claim = f"/buyer/v1/shops/{shop.shop_id}/coupons/claim"
    past_bigint = {"campaign_id": 2**63, "coupon_id": w["coupon"]["id"]}
    refused = client.post(claim, json=past_bigint, headers=w["buyer"])
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "campaign_id"
    at_bigint = {"campaign_id": 2**63 - 1, "coupon_id": w["coupon"]["id"]}
    assert client.post(claim, json=at_bigint, headers=w["buyer"]).status_code == 404


def test_C1_api_integer_and_fen_fields_bounded_422_never_an_overflow(shop: Any) -> None:
    """valid_days / discount_percent (INTEGER) and fen amounts (BIGINT): one over the bound is
    a 422 naming the field; at the bound the service's own rule answers (422, its message)."""
    cases = [
        ("valid_days", INT_FIELD_MAX, {}),
        ("discount_percent", INT_FIELD_MAX, {"condition_kind": "discount", "discount_cap_fen": 1}),
        ("threshold_fen", FEN_MAX, {}),
    ]
    for name, top, extra in cases:
        over = shop.api.post("/api/v1/coupons", _coupon_body(**extra, **{name: top + 1}))
        assert over.status_code == 422, over.text
        assert [e["field"] for e in over.json()["errors"]] == [name], over.text
        at_bound = shop.api.post("/api/v1/coupons", _coupon_body(**extra, **{name: top}))
        assert at_bound.status_code in (201, 422), at_bound.text
        if at_bound.status_code == 422:  # the rule's own limit (1–365 days, 1–99 %)
            assert at_bound.json()["code"] == "invalid_coupon"
            assert name in {e["field"] for e in at_bound.json()["errors"]}
    store_over = shop.api.post("/api/v1/coupons", _coupon_body(store_ids=[BIGINT_MAX + 1]))
    assert store_over.status_code == 422
    assert store_over.json()["errors"][0]["field"].startswith("store_ids")

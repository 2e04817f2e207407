"""D1 (issue 12): the 抖店 gateway under /doudian accepts every variant REFERENCE.md §1 lists —
param_json in the body or the query, timestamp as unix seconds or ``yyyy-MM-dd HH:mm:ss``
(UTC+8) within the skew window, hmac-sha256 and md5 — and refuses with the platform's codes,
a Chinese sub_msg and HTTP 200. The client is ``DoudianClient`` (tests/doudian/conftest.py),
written from REFERENCE.md alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import ShopFixture


@pytest.mark.parametrize("sign_method", ["hmac-sha256", "md5"])
@pytest.mark.parametrize("timestamp_style", ["unix", "beijing"])
@pytest.mark.parametrize("param_in", ["body", "query"])
def test_D1_every_client_variant_is_accepted(
    shop: ShopFixture, dd: Any, sign_method: str, timestamp_style: str, param_in: str
) -> None:
    client = dd(shop, sign_method=sign_method, timestamp_style=timestamp_style, param_in=param_in)
    token = client.login(shop.shop_id)
    assert token["shop_id"] == str(shop.shop_id)
    data = client.call("order.logisticsCompanyList")
    assert {"id", "name", "code"} <= set(data[0])


def test_D1_envelope_carries_legacy_pair_unless_opted_out(shop: ShopFixture, dd: Any) -> None:
    legacy = dd(shop)
    body = legacy.raw("token.create", {"grant_type": "authorization_self", "shop_id": shop.shop_id})
    assert body["code"] == 10000 and body["msg"] == "success"
    assert body["sub_code"] == "" and body["sub_msg"] == "" and body["log_id"]
    assert body["err_no"] == 0 and body["message"] == "success"
    modern = dd(shop, legacy=False)
    body = modern.raw("token.create", {"grant_type": "authorization_self", "shop_id": shop.shop_id})
    assert body["code"] == 10000
    assert "err_no" not in body and "message" not in body
    refused = modern.raw("order.searchList", {}, token="nope")
    assert refused["code"] == 30001 and "err_no" not in refused


def test_D1_bad_signature_is_40003_with_chinese_sub_msg(shop: ShopFixture, dd: Any) -> None:
    client = dd(shop)
    body = client.raw(
        "token.create",
        {"grant_type": "authorization_self", "shop_id": shop.shop_id},
        secret="not-the-secret",
    )
    assert body["code"] == 40003
    assert body["sub_code"] == "isv.sign-invalid"
    assert "签名" in body["sub_msg"]
    assert body["err_no"] == 40003 and body["message"] == body["sub_msg"]
    # The signature covers param_json as sent: a changed body no longer matches.
    params = {"grant_type": "authorization_self", "shop_id": shop.shop_id}
    ts = client.timestamp()
    good = client.sign("token.create", '{"grant_type":"authorization_self"}', ts)
    forged = client.raw("token.create", params, override={"sign": good, "timestamp": ts})
    assert forged["code"] == 40003


def test_D1_md5_signature_is_not_accepted_as_hmac(shop: ShopFixture, dd: Any) -> None:
    md5 = dd(shop, sign_method="md5")
    params = {"grant_type": "authorization_self", "shop_id": shop.shop_id}
    body = md5.raw("token.create", params, override={"sign_method": "hmac-sha256"})
    assert body["code"] == 40003 and body["sub_code"] == "isv.sign-invalid"


@pytest.mark.parametrize("name", ["sign", "app_key", "timestamp", "method", "v"])
def test_D1_missing_common_parameter_is_40001(shop: ShopFixture, dd: Any, name: str) -> None:
    body = dd(shop).raw("token.create", {"grant_type": "authorization_self"}, drop=(name,))
    assert body["code"] == 40001
    assert body["sub_code"] == f"isv.missing-parameter:{name}"
    assert body["sub_msg"] == f"缺少必选参数：{name}"


@pytest.mark.parametrize("style", ["unix", "beijing"])
def test_D1_timestamp_outside_skew_window_is_refused(
    shop: ShopFixture, dd: Any, rt: Any, style: str
) -> None:
    client = dd(shop, timestamp_style=style)
    params = {"grant_type": "authorization_self", "shop_id": shop.shop_id}
    window = rt.settings.doudian.timestamp_skew_seconds
    inside = client.timestamp(rt.wall.now() - timedelta(seconds=window - 5))
    assert client.raw("token.create", params, timestamp=inside)["code"] == 10000
    outside = client.timestamp(rt.wall.now() + timedelta(seconds=window + 5))
    body = client.raw("token.create", params, timestamp=outside)
    assert body["code"] == 40003 and "timestamp" in body["sub_code"]
    assert "校准" in body["sub_msg"]


def test_D1_beijing_time_is_read_as_utc_plus_8(shop: ShopFixture, dd: Any, rt: Any) -> None:
    """A UTC wall-clock string (8 h off) is outside the window: the form is read as UTC+8."""
    client = dd(shop)
    params = {"grant_type": "authorization_self", "shop_id": shop.shop_id}
    as_utc = rt.wall.now().strftime("%Y-%m-%d %H:%M:%S")
    assert client.raw("token.create", params, timestamp=as_utc)["code"] == 40003


def test_D1_unknown_method_answers_method_not_found(shop: ShopFixture, dd: Any) -> None:
    client = dd(shop)
    client.login(shop.shop_id)
    body = client.raw("order.noSuchMethod", {})
    assert body["code"] == 40003 and body["sub_code"] == "isv.method-not-exist"
    assert body["sub_msg"] == "接口不存在：order.noSuchMethod"


def test_D1_method_must_mirror_the_path(shop: ShopFixture, dd: Any) -> None:
    body = dd(shop).raw(
        "token.create", {"grant_type": "authorization_self"}, path_method="order.searchList"
    )
    assert body["code"] == 40003 and "method" in body["sub_code"]


def test_D1_same_app_signs_both_dialects(shop: ShopFixture, dd: Any) -> None:
    """The app created by ``xiaodian shop app`` (here the fixture's) works on /api/v1 and
    /doudian with the same app_key and secret."""
    assert shop.api.get("/api/v1/funds").status_code == 200
    client = dd(shop)
    client.login(shop.shop_id)
    assert client.call("order.searchList", {"page": 0, "size": 5})["total"] == 0


def test_D1_business_refusal_is_50002_http_200(shop: ShopFixture, dd: Any) -> None:
    client = dd(shop)
    client.login(shop.shop_id)
    body = client.raw("order.orderDetail", {"shop_order_id": "2611020000000000001"})
    assert body["code"] == 50002
    assert body["sub_code"] == "isv.business-failed:not_found"
    assert "不存在" in body["sub_msg"]


def test_D1_bad_param_json_and_bad_values_are_4000x_never_500(shop: ShopFixture, dd: Any) -> None:
    client = dd(shop)
    client.login(shop.shop_id)
    assert client.raw("order.searchList", {"size": 1000})["code"] == 40003
    assert client.raw("order.searchList", {"page": "x"})["code"] == 40003
    assert client.raw("order.orderDetail", {})["code"] == 40001
    assert client.raw("product.detail", {"product_id": "9" * 30})["code"] == 40003
    assert client.raw("order.orderDetail", {"shop_order_id": "abc"})["code"] == 40003


def test_D1_scope_check_is_one_function(shop: ShopFixture) -> None:
    """Each method names its scope (or, for the D4 push URL, the scopes any one of which will
    do); ``app_has_scope`` (S2) decides."""
    from types import SimpleNamespace

    from xiaodian.doudian.methods import METHODS, app_has_scope

    assert {m.scope for m in METHODS.values()} == {
        None,
        "orders",
        "aftersales",
        "shop",
        ("orders", "aftersales", "webhooks"),
    }
    scoped = SimpleNamespace(scopes="orders")
    assert app_has_scope(scoped, "orders")  # type: ignore[arg-type]
    assert not app_has_scope(scoped, "aftersales")  # type: ignore[arg-type]


def test_D1_form_body_and_get_are_read_too(shop: ShopFixture, dd: Any, client: Any) -> None:
    """Some SDKs post a form (param_json among the fields) or call with GET."""
    erp = dd(shop)
    params = '{"grant_type":"authorization_self","shop_id":' + str(shop.shop_id) + "}"
    ts = erp.timestamp()
    query = {
        "app_key": shop.app_key,
        "method": "token.create",
        "v": "2",
        "timestamp": ts,
        "sign_method": "md5",
    }
    erp.sign_method = "md5"
    query["sign"] = erp.sign("token.create", params, ts)
    form = client.post("/doudian/token/create", data={**query, "param_json": params})
    assert form.status_code == 200 and form.json()["code"] == 10000
    got = client.get("/doudian/token/create", params={**query, "param_json": params})
    assert got.status_code == 200 and got.json()["code"] == 10000


def test_D1_gateway_is_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    entry = paths["/doudian/{method_path}"]
    assert {"get", "post"} <= set(entry)
    assert "order.searchList" in entry["post"]["description"]


def test_D1_absent_sign_method_means_md5(shop: ShopFixture, dd: Any) -> None:
    params = {"grant_type": "authorization_self", "shop_id": shop.shop_id}
    md5 = dd(shop, sign_method="md5").raw("token.create", params, drop=("sign_method",))
    assert md5["code"] == 10000
    hmac_signed = dd(shop).raw("token.create", params, drop=("sign_method",))
    assert hmac_signed["code"] == 40003

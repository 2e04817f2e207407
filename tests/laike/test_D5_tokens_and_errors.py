"""D5: client tokens (issued to an existing app, expiring on the product's clock, dead with
the app) and the platform's error envelope (HTTP 200, numbers, Chinese description)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.laike.client import LaikeClient, succeeded
from tests.laike.conftest import Store
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp
from xiaodian.laike.models import ClientToken
from xiaodian.laike.service import app_has_scope
from xiaodian.runtime import Runtime


def _token(client: TestClient, **fields: str) -> dict[str, Any]:
    response = client.post("/douyin/oauth/client_token/", json=fields)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_D5_client_token_for_an_apps_key_and_secret(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    body = _token(
        client, client_key=shop.app_key, client_secret=shop.secret, grant_type="client_credential"
    )
    assert body["message"] == "success"
    assert body["data"]["error_code"] == 0 and body["data"]["description"] == ""
    assert body["data"]["access_token"].startswith("clt.")
    assert body["data"]["expires_in"] == 7200
    with rt.unit() as ctx:  # stored hashed, never in clear
        stored = ctx.session.query(ClientToken).one()
        assert body["data"]["access_token"] not in stored.token_hash
        assert stored.expires_at == rt.clock.now() + timedelta(seconds=7200)

    wrong = _token(
        client, client_key=shop.app_key, client_secret="nope", grant_type="client_credential"
    )
    assert wrong["data"]["error_code"] == 10013 and "access_token" not in wrong["data"]
    unknown = _token(
        client, client_key="ak_unknown", client_secret="x", grant_type="client_credential"
    )
    assert unknown["data"]["error_code"] == 10003
    grant = _token(client, client_key=shop.app_key, client_secret=shop.secret, grant_type="code")
    assert grant["data"]["error_code"] == 10002
    missing = _token(client, client_key=shop.app_key)
    assert (
        missing["data"]["error_code"] == 10002 and "client_secret" in missing["data"]["description"]
    )


def test_D5_client_token_in_the_query_or_a_form_too(client: TestClient, shop: Any) -> None:
    """SDKs differ: some GET with a query string, some POST a form."""
    query = (
        f"/douyin/oauth/client_token/?grant_type=client_credential"
        f"&client_key={shop.app_key}&client_secret={shop.secret}"
    )
    assert client.get(query).json()["data"]["error_code"] == 0
    form = client.post(
        "/douyin/oauth/client_token/",
        data={
            "client_key": shop.app_key,
            "client_secret": shop.secret,
            "grant_type": "client_credential",
        },
    )
    assert form.json()["data"]["access_token"].startswith("clt.")


def test_D5_client_token_expires_on_the_products_clock(
    rt: Runtime, store: Store, laike: LaikeClient
) -> None:
    _claim, code = store.claim()
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(seconds=7199))
    assert succeeded(laike.prepare(code=code, poi_id=store.poi))
    clock.set(clock.now() + timedelta(seconds=1))
    expired = laike.prepare(code=code, poi_id=store.poi)
    assert expired["data"]["error_code"] == 2190008
    assert expired["extra"]["error_code"] == 2190008
    assert "过期" in expired["data"]["description"]
    laike.login()
    assert succeeded(laike.prepare(code=code, poi_id=store.poi))


def test_D5_client_token_lifetime_is_a_setting(rt: Runtime, client: TestClient, shop: Any) -> None:
    rt.settings.laike.client_token_ttl_seconds = 600
    laike = LaikeClient(client, shop.app_key, shop.secret)
    assert laike.fetch_token()["data"]["expires_in"] == 600


def test_D5_revoked_app_loses_its_tokens(
    rt: Runtime, store: Store, laike: LaikeClient, shop: Any
) -> None:
    _claim, code = store.claim()
    with rt.unit() as ctx:
        app = ctx.session.query(ApiApp).filter_by(app_key=shop.app_key).one()
        accounts.revoke_app(ctx, shop.shop_id, app.id)
    refused = laike.prepare(code=code, poi_id=store.poi)
    assert refused["data"]["error_code"] == 2190002
    assert laike.fetch_token()["data"]["error_code"] == 10003


def test_D5_missing_or_bad_access_token_and_parameters(
    client: TestClient, store: Store, laike: LaikeClient
) -> None:
    _claim, code = store.claim()
    bare = client.get(f"/douyin/goodlife/v1/fulfilment/certificate/prepare/?code={code}")
    assert bare.status_code == 200 and bare.json()["data"]["error_code"] == 2190002
    forged = client.get(
        f"/douyin/goodlife/v1/fulfilment/certificate/prepare/?code={code}",
        headers={"access-token": "clt.forged"},
    )
    assert forged.json()["data"]["error_code"] == 2190002
    nothing = laike.prepare(poi_id=store.poi)
    assert nothing["data"]["error_code"] == 2100005 and nothing["data"]["description"]
    unknown = laike.prepare(code="ZZZZ2222ZZZZ", poi_id=store.poi)
    assert (
        unknown["data"]["error_code"] == 2100005 and "券码不存在" in unknown["data"]["description"]
    )
    bad_poi = laike.prepare(code=code, poi_id="not-a-number")
    assert bad_poi["data"]["error_code"] == 2100005
    other_shop_store = laike.prepare(code=code, poi_id="987654")
    assert "门店" in other_shop_store["data"]["description"]
    bad_token = laike.verify("v1.1.2.3.forged", store.poi, ["x"])
    assert bad_token["data"]["error_code"] == 2100005
    huge = laike.get("/goodlife/v1/fulfilment/certificate/get/", order_id=str(10**30))
    assert huge["data"]["error_code"] == 2100005
    bad_code = laike.certificate("not-a-real-encrypted-code")
    assert bad_code["data"]["error_code"] == 2100005
    broken = client.post(
        "/douyin/goodlife/v1/fulfilment/certificate/verify/",
        content=b"{not json",
        headers={"access-token": laike.access_token, "content-type": "application/json"},
    )
    assert broken.status_code == 200 and broken.json()["data"]["error_code"] == 2100005


def test_D5_another_shops_codes_and_records_are_invisible(
    rt: Runtime, client: TestClient, store: Store, make_shop: Any
) -> None:
    claim_id, code = store.claim()
    other = make_shop("别家小店")
    stranger = LaikeClient(client, other.app_key, other.secret).login()
    assert not succeeded(stranger.prepare(code=code, poi_id=store.poi))
    assert not succeeded(stranger.query(order_id=str(claim_id)))
    assert stranger.verify_records()["data"]["total"] == 0


def test_D5_verification_scope_is_required(rt: Runtime, store: Store, laike: LaikeClient) -> None:
    """S2 in the 来客 dialect: an app without the ``verification`` scope is refused (2100007),
    through the same ``app_has_scope`` the native routes' scopes use."""
    _claim, code = store.claim()
    with rt.factory.begin() as session:
        app = session.scalars(select(ApiApp).where(ApiApp.app_key == laike.client_key)).one()
        assert app_has_scope(app, "verification")
        app.scopes = "orders,aftersales"
        assert not app_has_scope(app, "verification")
    refused = laike.prepare(code=code, poi_id=store.poi)
    assert (
        refused["data"]["error_code"] == 2100007
        and "verification" in refused["data"]["description"]
    )


def test_D5_openapi_documents_the_goodlife_gateway(client: TestClient) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a duplicate operation id
        paths = client.get("/openapi.json").json()["paths"]
    cert = "/douyin/goodlife/v1/fulfilment/certificate"
    assert "post" in paths["/douyin/oauth/client_token/"]
    verify = paths[f"{cert}/verify/"]["post"]
    body = verify["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"verify_token", "poi_id", "encrypted_codes"} <= set(body)
    prepare = paths[f"{cert}/prepare/"]["get"]
    names = {p["name"] for p in prepare["parameters"]}
    assert {"code", "encrypted_data", "poi_id", "access-token"} <= names
    for name in ("cancel/", "get/", "query/", "verify_record/query/"):
        assert f"{cert}/{name}" in paths
    assert f"{cert}/verify" not in paths  # the slash-less twins answer but are not listed


def test_D5_expired_client_tokens_are_purged_by_the_tick(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    from xiaodian.scheduler import run_tick

    old = LaikeClient(client, shop.app_key, shop.secret).login()
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(seconds=3600))
    fresh = LaikeClient(client, shop.app_key, shop.secret).login()
    clock.set(clock.now() + timedelta(seconds=3600))  # the first has just expired
    report = run_tick(rt)
    assert report.counts["laike.purge_client_tokens"] == {"purged": 1}
    assert run_tick(rt).counts["laike.purge_client_tokens"] == {"purged": 0}  # idempotent
    with rt.unit() as ctx:
        assert ctx.session.query(ClientToken).count() == 1
    assert old.access_token != fresh.access_token

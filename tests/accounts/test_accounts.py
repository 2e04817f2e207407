"""X2: main account and sub-accounts with explicit grants; staff; API apps; buyers."""

from __future__ import annotations

from typing import Any

import pytest

from xiaodian.accounts import service as accounts
from xiaodian.errors import AuthFailed, Conflict, NotFound, PermissionDenied, ValidationFailed
from xiaodian.runtime import Runtime


def _main(rt: Runtime, shop: Any) -> accounts.Principal:
    with rt.unit() as ctx:
        return accounts.principal_for_user(
            ctx.session, accounts.get_user(ctx.session, shop.shop_id, shop.user_id)
        )


def test_X2_password_login_with_argon2(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        user = accounts.authenticate(ctx.session, shop.username, shop.password)
        assert user.id == shop.user_id and user.password_hash.startswith("$argon2")
        with pytest.raises(AuthFailed):
            accounts.authenticate(ctx.session, shop.username, "wrong-password")
        with pytest.raises(AuthFailed):
            accounts.authenticate(ctx.session, "nobody", "whatever-pass")


def test_X2_sub_account_has_only_explicit_grants(rt: Runtime, shop: Any) -> None:
    main = _main(rt, shop)
    with rt.unit() as ctx:
        sub = accounts.create_sub_account(
            ctx,
            main,
            username="kefu01",
            password="password-1",
            display_name="客服",
            permissions=["orders.view"],
        )
        sub_principal = accounts.principal_for_user(ctx.session, sub)
    assert sub_principal.can("orders.view")
    with pytest.raises(PermissionDenied) as info:
        sub_principal.require("aftersales.assistant")
    assert "主账号授权" in info.value.message_zh
    with rt.unit() as ctx:
        accounts.grant(ctx, main, sub.id, "aftersales.assistant")
        assert accounts.principal_for_user(ctx.session, sub).can("aftersales.assistant")
        accounts.revoke_grant(ctx, main, sub.id, "aftersales.assistant")
        assert not accounts.principal_for_user(ctx.session, sub).can("aftersales.assistant")


def test_X2_only_the_main_account_grants_and_creates_sub_accounts(rt: Runtime, shop: Any) -> None:
    main = _main(rt, shop)
    with rt.unit() as ctx:
        sub = accounts.create_sub_account(
            ctx, main, username="kefu02", password="password-1", display_name="客服", permissions=[]
        )
        sub_principal = accounts.principal_for_user(ctx.session, sub)
    with pytest.raises(PermissionDenied), rt.unit() as ctx:
        accounts.grant(ctx, sub_principal, sub.id, "funds.topup")
    with pytest.raises(PermissionDenied), rt.unit() as ctx:
        accounts.create_sub_account(
            ctx, sub_principal, username="kefu03", password="password-1", display_name="x"
        )


def test_X2_a_main_account_cannot_grant_to_another_shops_user(rt: Runtime, make_shop: Any) -> None:
    a, b = make_shop(), make_shop()
    with pytest.raises(NotFound), rt.unit() as ctx:
        accounts.grant(ctx, _main(rt, a), b.user_id, "orders.view")


def test_X2_account_validation_lists_every_failing_field(rt: Runtime) -> None:
    with pytest.raises(ValidationFailed) as info, rt.unit() as ctx:
        accounts.create_shop(ctx, name="", username="x", password="short", phone="123")
    assert {e["field"] for e in info.value.errors} == {"name", "username", "password", "phone"}


def test_X2_usernames_are_unique(rt: Runtime, shop: Any) -> None:
    with pytest.raises(Conflict), rt.unit() as ctx:
        accounts.create_shop(ctx, name="另一家", username=shop.username, password="password-1")


def test_C5_staff_scope_and_immediate_revoke(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        s1 = accounts.create_store(ctx, shop.shop_id, name="西湖店")
        accounts.create_store(ctx, shop.shop_id, name="滨江店")
        scoped = accounts.add_staff(ctx, shop.shop_id, douyin_id="dy_1", store_ids=[s1.id])
        everywhere = accounts.add_staff(ctx, shop.shop_id, douyin_id="dy_2", store_ids=None)
        assert accounts.staff_store_ids(ctx.session, scoped) == [s1.id]
        assert accounts.staff_store_ids(ctx.session, everywhere) is None
        with pytest.raises(Conflict):
            accounts.add_staff(ctx, shop.shop_id, douyin_id="dy_1", store_ids=None)
        with pytest.raises(ValidationFailed):
            accounts.add_staff(ctx, shop.shop_id, douyin_id="dy_3", store_ids=[])
        revoked = accounts.revoke_staff(ctx, shop.shop_id, scoped.id)
        assert revoked.revoked_at == ctx.now
        # Re-adding after revocation is a new grant of permission.
        accounts.add_staff(ctx, shop.shop_id, douyin_id="dy_1", store_ids=None)


def test_C5_staff_api_and_another_shops_store_is_refused(rt: Runtime, make_shop: Any) -> None:
    a, b = make_shop(), make_shop()
    store_b = b.api.post("/api/v1/stores", {"name": "乙店门店"}).json()
    refused = a.api.post("/api/v1/staff", {"douyin_id": "dy_9", "store_ids": [store_b["id"]]})
    assert refused.status_code == 404
    store_a = a.api.post("/api/v1/stores", {"name": "甲店门店"}).json()
    staff = a.api.post("/api/v1/staff", {"douyin_id": "dy_9", "store_ids": [store_a["id"]]}).json()
    assert staff["store_ids"] == [store_a["id"]]
    revoked = a.api.post(f"/api/v1/staff/{staff['id']}/revoke").json()
    assert revoked["revoked_at"] is not None


def test_X2_buyer_registration_and_token(client: Any) -> None:
    answer = client.post("/buyer/v1/register", json={"douyin_id": "dy_buyer", "nickname": "小王"})
    assert answer.status_code == 201
    token = answer.json()["token"]
    me = client.get("/buyer/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["nickname"] == "小王"
    again = client.post("/buyer/v1/register", json={"douyin_id": "dy_buyer", "nickname": "x"})
    assert again.status_code == 409 and again.json()["code"] == "buyer_exists"


@pytest.mark.postgres_only
def test_X2_processes_starting_together_share_one_installation_secret(
    pg_only: None, rt: Runtime
) -> None:
    import threading

    from xiaodian.db import transaction

    barrier = threading.Barrier(8)
    secrets_seen: list[str] = []

    def start() -> None:
        barrier.wait()
        with transaction(rt.factory) as session:
            secrets_seen.append(accounts.installation_secret(session))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(secrets_seen) == 8 and len(set(secrets_seen)) == 1


def test_X2_each_process_reads_the_one_installation_secret_at_start(tmp_path: Any) -> None:
    """Without XIAODIAN_SECRET_KEY every process (Runtime.create) loads the secret the
    database keeps, once; cookies and C7 verify tokens made by one process verify in another."""
    from xiaodian.config import Settings
    from xiaodian.db import transaction
    from xiaodian.runtime import Runtime

    url = f"sqlite:///{tmp_path / 'secret.db'}"
    first = Runtime.create(Settings(database_url=url))
    second = Runtime.create(Settings(database_url=url))
    assert first.settings.secret_key and first.settings.secret_key == second.settings.secret_key
    with transaction(first.factory) as session:
        assert accounts.installation_secret(session) == first.settings.secret_key
    given = Runtime.create(Settings(database_url=url, secret_key="from-the-environment"))
    assert given.settings.secret_key == "from-the-environment"
    for runtime in (first, second, given):
        runtime.engine.dispose()

"""D5/D6: the whole store-verification loop of a 来客 client (client token → prepare →
verify → cancel → query), driven over HTTP by the independent client in ``client.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.laike.client import LaikeClient, succeeded, verified
from tests.laike.conftest import Store
from xiaodian.coupons.models import Claim, Verification
from xiaodian.runtime import Runtime


def test_D5_whole_loop_token_prepare_verify_cancel_query(
    rt: Runtime, store: Store, laike: LaikeClient
) -> None:
    claim_id, code = store.claim()

    prepared = laike.prepare(code=code, poi_id=store.poi)
    assert succeeded(prepared), prepared
    data = prepared["data"]
    assert data["order_id"] == str(claim_id)
    [cert] = data["certificates"]
    assert cert["certificate_id"] == str(claim_id)
    assert isinstance(cert["encrypted_code"], str) and code not in cert["encrypted_code"]
    assert cert["sku"]["title"] == "进店全场95折"
    assert cert["expire_time"] > cert["start_time"] > 0
    assert set(prepared["extra"]) >= {"logid", "now", "sub_error_code", "sub_description"}
    assert prepared["extra"]["now"] == int(rt.clock.now().timestamp() * 1000)

    done = laike.verify(data["verify_token"], store.poi, [cert["encrypted_code"]])
    assert succeeded(done), done
    [result] = done["data"]["verify_results"]
    assert verified(result), result
    assert result["certificate_id"] == str(claim_id) and result["origin_code"] == code
    assert result["order_id"] == str(claim_id)
    assert result["account_id"] == str(store.shop.shop_id)
    verify_id = result["verify_id"]
    assert isinstance(verify_id, str) and verify_id.isdigit()

    got = laike.certificate(cert["encrypted_code"])
    assert succeeded(got)
    assert got["data"]["certificate"]["status"] == 2
    assert got["data"]["certificate"]["verify"]["verify_id"] == verify_id
    assert got["data"]["certificate"]["verify"]["can_cancel"] is True

    cancelled = laike.cancel(verify_id, str(claim_id))
    assert succeeded(cancelled), cancelled

    by_order = laike.query(order_id=str(claim_id))
    assert succeeded(by_order)
    [again] = by_order["data"]["certificates"]
    assert again["status"] == 1 and "verify" not in again  # usable again (C7)
    by_code = laike.query(encrypted_code=cert["encrypted_code"])
    assert by_code["data"]["certificates"][0]["certificate_id"] == str(claim_id)

    records = laike.verify_records(account_id=str(store.shop.shop_id), cursor="0", size=10)
    assert succeeded(records)
    assert records["data"]["total"] == 1
    [record] = records["data"]["records"]
    assert record["verify_id"] == verify_id and record["status"] == 2  # 已撤销
    assert record["cancel_time"] > 0 and record["can_cancel"] is False

    with rt.unit() as ctx:
        row = ctx.session.get(Verification, int(verify_id))
        assert row is not None and row.status == "cancelled" and row.channel == "laike"
        assert ctx.session.get(Claim, claim_id).status == "unused"  # type: ignore[union-attr]


def test_D5_prepare_from_the_scanned_qr_payload(store: Store, laike: LaikeClient) -> None:
    """The QR payload is ``encrypted_data`` (URL-encoded by the client, as the platform asks)."""
    claim_id, code = store.claim()
    prepared = laike.prepare(encrypted_data=f"xiaodian://coupon/{code}", poi_id=store.poi)
    assert succeeded(prepared), prepared
    assert prepared["data"]["certificates"][0]["certificate_id"] == str(claim_id)
    double = laike.get(
        "/goodlife/v1/fulfilment/certificate/prepare/",
        encrypted_data=quote(f"xiaodian://coupon/{code}", safe=""),
        poi_id=store.poi,
    )
    assert succeeded(double), double


def test_D5_repeating_a_verify_token_is_idempotent(store: Store, laike: LaikeClient) -> None:
    _claim_id, code = store.claim()
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    codes = [data["certificates"][0]["encrypted_code"]]
    first = laike.verify(data["verify_token"], store.poi, codes)
    second = laike.verify(data["verify_token"], store.poi, codes)
    assert succeeded(first) and succeeded(second)
    one, two = first["data"]["verify_results"][0], second["data"]["verify_results"][0]
    assert verified(one) and verified(two)
    assert one["verify_id"] == two["verify_id"]
    assert "重复" in two["msg"]

    # A new prepare of the used code has no certificate to offer: already verified.
    again = laike.prepare(code=code, poi_id=store.poi)
    assert not succeeded(again)
    assert "已" in again["data"]["description"] and "核销" in again["data"]["description"]
    assert again["extra"]["sub_description"] == "already_verified"


def test_D5_result_per_code(rt: Runtime, store: Store, laike: LaikeClient) -> None:
    """The call succeeds (error_code 0) and each code has its own ``result``: a code of
    another prepare is refused, an expired code is listed by prepare and refused by verify."""
    _claim, code = store.claim()
    _other_claim, other_code = store.claim()
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    other = laike.prepare(code=other_code, poi_id=store.poi)["data"]
    mixed = laike.verify(
        data["verify_token"],
        store.poi,
        [other["certificates"][0]["encrypted_code"], data["certificates"][0]["encrypted_code"]],
    )
    assert succeeded(mixed)
    foreign, mine = mixed["data"]["verify_results"]
    assert not verified(foreign) and foreign["msg"]
    assert verified(mine)

    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(days=8))  # validity: 7 days from claim
    _late, late_code = store.claim()
    clock.set(clock.now() - timedelta(days=8))
    # the late claim is valid from "+8 days": not yet valid now
    early = laike.prepare(code=late_code, poi_id=store.poi)
    assert succeeded(early)
    refused = laike.verify(
        early["data"]["verify_token"],
        store.poi,
        [early["data"]["certificates"][0]["encrypted_code"]],
    )
    [result] = refused["data"]["verify_results"]
    assert result["result"] != 0 and "生效" in result["msg"]

    clock.set(clock.now() + timedelta(days=7, seconds=1))  # the first other code expired
    laike.login()  # a week later: the 2-hour client token has long expired
    expired = laike.prepare(code=other_code, poi_id=store.poi)
    assert succeeded(expired)  # listed until cleaned, like the platform
    out = laike.verify(
        expired["data"]["verify_token"],
        store.poi,
        [expired["data"]["certificates"][0]["encrypted_code"]],
    )
    [result] = out["data"]["verify_results"]
    assert result["result"] != 0 and "过期" in result["msg"]


def test_D5_store_outside_the_coupons_scope_is_refused_per_code(
    store: Store, laike: LaikeClient
) -> None:
    _claim, code = store.claim()
    data = laike.prepare(code=code, poi_id=str(store.east))["data"]
    out = laike.verify(
        data["verify_token"], str(store.east), [data["certificates"][0]["encrypted_code"]]
    )
    [result] = out["data"]["verify_results"]
    assert result["result"] != 0 and "滨江店" in result["msg"]


def test_D5_plain_codes_verify_too(store: Store, laike: LaikeClient) -> None:
    claim_id, code = store.claim()
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    out = laike.post(
        "/goodlife/v1/fulfilment/certificate/verify/",
        {"verify_token": data["verify_token"], "poi_id": store.poi, "codes": [code]},
    )
    [result] = out["data"]["verify_results"]
    assert verified(result) and result["certificate_id"] == str(claim_id)


def test_D5_cancel_window_from_the_existing_rules(
    rt: Runtime, store: Store, laike: LaikeClient
) -> None:
    claim_id, code = store.claim()
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    out = laike.verify(data["verify_token"], store.poi, [data["certificates"][0]["encrypted_code"]])
    verify_id = out["data"]["verify_results"][0]["verify_id"]
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(minutes=60, seconds=1))
    laike.login()  # the client token lives 2 h; a fresh one anyway
    got = laike.certificate(data["certificates"][0]["encrypted_code"])
    assert got["data"]["certificate"]["verify"]["can_cancel"] is False
    late = laike.cancel(verify_id, str(claim_id))
    assert not succeeded(late)
    assert "60 分钟" in late["data"]["description"]
    assert late["extra"]["sub_description"] == "cancel_window_passed"
    assert late["data"]["error_code"] == late["extra"]["error_code"] != 0


def test_D5_cancel_inside_the_window_edge(rt: Runtime, store: Store, laike: LaikeClient) -> None:
    claim_id, code = store.claim()
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    out = laike.verify(data["verify_token"], store.poi, [data["certificates"][0]["encrypted_code"]])
    verify_id = out["data"]["verify_results"][0]["verify_id"]
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(minutes=60))
    assert succeeded(laike.cancel(verify_id, str(claim_id)))
    again = laike.cancel(verify_id, str(claim_id))
    assert not succeeded(again) and again["extra"]["sub_description"] == "already_cancelled"
    wrong = laike.cancel(verify_id, str(claim_id + 999))
    assert not succeeded(wrong)


def test_D5_verify_records_page_with_cursor_store_and_time_filters(
    rt: Runtime, store: Store, laike: LaikeClient
) -> None:
    start = int(rt.clock.now().timestamp())
    ids = []
    for _ in range(3):
        _claim, code = store.claim()
        data = laike.prepare(code=code, poi_id=store.poi)["data"]
        out = laike.verify(
            data["verify_token"], store.poi, [data["certificates"][0]["encrypted_code"]]
        )
        ids.append(out["data"]["verify_results"][0]["verify_id"])
        clock: Any = rt.clock
        clock.set(clock.now() + timedelta(minutes=1))
    first = laike.verify_records(cursor="0", size=2, poi_ids=store.poi)
    assert first["data"]["total"] == 3
    assert [r["verify_id"] for r in first["data"]["records"]] == ids[:2]
    rest = laike.verify_records(cursor=first["data"]["records"][-1]["cursor"], size=2)
    assert [r["verify_id"] for r in rest["data"]["records"]] == ids[2:]
    assert laike.verify_records(poi_ids=str(store.east))["data"]["total"] == 0
    window = laike.verify_records(start_time=start + 30, end_time=start + 90)
    assert [r["verify_id"] for r in window["data"]["records"]] == ids[1:2]
    other = laike.verify_records(account_id="999999")
    assert not succeeded(other)


def test_D5_paths_without_trailing_slash_and_get_for_reads(
    client: TestClient, store: Store, laike: LaikeClient
) -> None:
    """Some SDKs drop the trailing slash; the call is the same."""
    _claim, code = store.claim()
    response = client.get(
        f"/douyin/goodlife/v1/fulfilment/certificate/prepare?code={code}&poi_id={store.poi}",
        headers={"access-token": laike.access_token},
    )
    assert response.status_code == 200 and succeeded(response.json())


def test_D5_two_prepares_of_one_code_are_two_requests(store: Store, laike: LaikeClient) -> None:
    """Two store terminals prepare the same code at the same instant: each gets its own
    verify_token, and only the first verify wins — the second is told it is already used."""
    _claim_id, code = store.claim()
    a = laike.prepare(code=code, poi_id=store.poi)["data"]
    b = laike.prepare(code=code, poi_id=store.poi)["data"]
    assert a["verify_token"] != b["verify_token"]
    first = laike.verify(a["verify_token"], store.poi, [a["certificates"][0]["encrypted_code"]])
    second = laike.verify(b["verify_token"], store.poi, [b["certificates"][0]["encrypted_code"]])
    assert verified(first["data"]["verify_results"][0])
    [late] = second["data"]["verify_results"]
    assert not verified(late) and "已" in late["msg"] and "核销" in late["msg"]


def test_D5_verify_token_lives_as_long_as_c7_says(
    rt: Runtime, store: Store, laike: LaikeClient
) -> None:
    _claim_id, code = store.claim()
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    clock: Any = rt.clock
    clock.set(clock.now() + timedelta(seconds=rt.settings.coupons.verify_token_ttl_seconds + 1))
    late = laike.verify(
        data["verify_token"], store.poi, [data["certificates"][0]["encrypted_code"]]
    )
    assert not succeeded(late)
    assert late["extra"]["sub_description"] == "verify_token_expired"
    assert "过期" in late["data"]["description"]

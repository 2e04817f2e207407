"""D5: the ``life_trade_certificate_notify`` push (signed as the platform signs it, sent by
the X1 webhook worker to a real HTTP server) and exactly-once verification under concurrent
requests on PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.laike.client import LaikeClient, push_signature_ok, succeeded, verified
from tests.laike.conftest import Store
from tests.notify.test_webhooks import Receiver, loopback_allowed
from xiaodian.config import Settings
from xiaodian.coupons.models import Verification
from xiaodian.notify import service as notify
from xiaodian.notify.webhooks import deliver_due
from xiaodian.runtime import Runtime
from xiaodian.signing import verify_webhook


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """S1: the receivers here listen on 127.0.0.1, which only the development setting allows."""
    return loopback_allowed(settings)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _verify(laike: LaikeClient, store: Store, code: str) -> dict[str, Any]:
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    out = laike.verify(data["verify_token"], store.poi, [data["certificates"][0]["encrypted_code"]])
    result: dict[str, Any] = out["data"]["verify_results"][0]
    return result


def test_D5_certificate_notify_is_pushed_signed_with_the_client_secret(
    rt: Runtime, store: Store, laike: LaikeClient, receiver: Receiver, shop: Any
) -> None:
    registered = laike.post("/xiaodian/push_url/", {"url": receiver.url})
    assert succeeded(registered), registered
    with Receiver() as native:  # an ordinary xiaodian endpoint keeps xiaodian's format
        with rt.unit() as ctx:
            notify.create_endpoint(ctx, shop.shop_id, url=native.url, event_types=["*"])
        claim_id, code = store.claim()
        result = _verify(laike, store, code)
        assert verified(result)
        assert laike.cancel(result["verify_id"], str(claim_id))["data"]["error_code"] == 0
        deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)

        assert len(receiver.received) == 2
        actions = []
        for headers, body in receiver.received:
            assert push_signature_ok(shop.secret, body, headers["X-Douyin-Signature"])
            assert headers["Msg-Id"]
            message = json.loads(body)
            assert message["event"] == "life_trade_certificate_notify"
            assert message["client_key"] == shop.app_key and message["log_id"]
            content = json.loads(message["content"])  # content is JSON text, as on the platform
            certificate = content["certificate"]
            assert certificate["certificate_id"] == str(claim_id)
            assert certificate["verify_id"] == result["verify_id"]
            assert certificate["poi_id"] == store.poi
            assert isinstance(content["msg_time"], int)
            actions.append(content["action"])
        assert actions == ["verify", "verify_cancel"]
        tampered = receiver.received[0][1].replace(b"verify", b"verifx", 1)
        assert not push_signature_ok(
            shop.secret, tampered, receiver.received[0][0]["X-Douyin-Signature"]
        )

        seen = [json.loads(body)["type"] for _h, body in native.received]
        assert "life_trade_certificate_notify" in seen and "coupon.verified" in seen
        with rt.unit() as ctx:
            secret = notify.list_endpoints(ctx.session, shop.shop_id)[-1].secret
        for headers, body in native.received:
            assert verify_webhook(
                secret,
                headers["X-Xiaodian-Timestamp"],
                body,
                headers["X-Xiaodian-Signature"],
                now=rt.wall.now().timestamp(),
            )


def test_D5_certificate_notify_is_retried_until_the_receiver_answers_200(
    rt: Runtime, store: Store, laike: LaikeClient, shop: Any
) -> None:
    with Receiver(fail_first=1) as flaky:
        assert succeeded(laike.post("/xiaodian/push_url/", {"url": flaky.url}))
        _claim, code = store.claim()
        assert verified(_verify(laike, store, code))
        assert deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)["retrying"] == 1
        wall: Any = rt.wall
        wall.advance(rt.settings.webhooks.backoff_base_seconds)
        assert deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)["delivered"] == 1
        (h1, b1), (h2, b2) = flaky.received
        assert h1["Msg-Id"] == h2["Msg-Id"] and b1 == b2  # the same message: de-duplicable


def test_D5_no_push_event_without_a_registered_push_url(
    rt: Runtime, store: Store, laike: LaikeClient, shop: Any
) -> None:
    _claim, code = store.claim()
    assert verified(_verify(laike, store, code))
    with rt.unit() as ctx:
        types = [e.type for e in notify.list_events(ctx.session, shop.shop_id, limit=100)]
    assert "coupon.verified" in types and "life_trade_certificate_notify" not in types


def _parallel(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.postgres_only
def test_D5_concurrent_double_verify_of_one_token_verifies_exactly_once_on_postgres(
    pg_only: None, rt: Runtime, client: TestClient, store: Store, laike: LaikeClient
) -> None:
    claim_id, code = store.claim()
    data = laike.prepare(code=code, poi_id=store.poi)["data"]
    codes = [data["certificates"][0]["encrypted_code"]]
    outs = _parallel(8, lambda _i: laike.verify(data["verify_token"], store.poi, codes))
    results = [o["data"]["verify_results"][0] for o in outs]
    assert all(succeeded(o) for o in outs)
    assert all(verified(r) for r in results)  # idempotent: every answer is the first result
    assert len({r["verify_id"] for r in results}) == 1
    with rt.unit() as ctx:
        rows = ctx.session.query(Verification).filter_by(claim_id=claim_id).all()
    assert len(rows) == 1


@pytest.mark.postgres_only
def test_D5_concurrent_verifies_of_one_code_from_two_prepares_exactly_once_on_postgres(
    pg_only: None, rt: Runtime, client: TestClient, store: Store, laike: LaikeClient
) -> None:
    claim_id, code = store.claim()
    prepared = [laike.prepare(code=code, poi_id=store.poi)["data"] for _ in range(8)]
    outs = _parallel(
        8,
        lambda i: laike.verify(
            prepared[i]["verify_token"],
            store.poi,
            [prepared[i]["certificates"][0]["encrypted_code"]],
        ),
    )
    results = [o["data"]["verify_results"][0] for o in outs]
    assert sum(1 for r in results if verified(r)) == 1
    assert all("不能重复核销" in r["msg"] for r in results if not verified(r))
    with rt.unit() as ctx:
        rows = ctx.session.query(Verification).filter_by(claim_id=claim_id).all()
    assert len(rows) == 1

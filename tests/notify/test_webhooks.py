"""X1: every domain event goes out as a signed webhook to subscribed endpoints, retried with
exponential backoff; delivery log visible. Delivered to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from xiaodian.config import Settings
from xiaodian.notify import service as notify
from xiaodian.notify.webhooks import backoff_seconds, deliver_due
from xiaodian.runtime import Runtime
from xiaodian.signing import verify_webhook


class Receiver:
    """A real HTTP endpoint that records what it receives and fails the first N requests."""

    def __init__(self, fail_first: int = 0, status: int = 500) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_first, self.status = fail_first, status
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((dict(self.headers), body))
                    failing = len(receiver.received) <= receiver.fail_first
                self.send_response(receiver.status if failing else 200)
                self.end_headers()
                self.wfile.write(b"nope" if failing else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests post to a real receiver on 127.0.0.1: loopback allowed, as in development
    (S1 keeps it refused by default; tests/notify/test_egress.py proves that)."""
    return loopback_allowed(settings)


def loopback_allowed(settings: Settings) -> Settings:
    webhooks = settings.webhooks.model_copy(update={"allow_loopback": True})
    return settings.model_copy(update={"webhooks": webhooks})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _subscribe(
    rt: Runtime, shop_id: int, url: str, types: list[str] | None = None
) -> tuple[int, str]:
    with rt.unit() as ctx:
        endpoint = notify.create_endpoint(ctx, shop_id, url=url, event_types=types)
        return endpoint.id, endpoint.secret


def test_X1_event_is_posted_signed_and_verifiable(
    rt: Runtime, shop: Any, receiver: Receiver
) -> None:
    endpoint_id, secret = _subscribe(rt, shop.shop_id, receiver.url)
    with rt.unit("user:1") as ctx:
        event_id = notify.emit(ctx, shop.shop_id, "order.shipped", {"order_no": "6925"}, rule="O3")
    counts = deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
    assert counts == {"claimed": 1, "delivered": 1, "retrying": 0, "failed": 0}
    headers, body = receiver.received[0]
    assert headers["X-Xiaodian-Event"] == "order.shipped"
    assert verify_webhook(
        secret,
        headers["X-Xiaodian-Timestamp"],
        body,
        headers["X-Xiaodian-Signature"],
        now=rt.wall.now().timestamp(),
    )
    assert not verify_webhook(
        "whsec_wrong",
        headers["X-Xiaodian-Timestamp"],
        body,
        headers["X-Xiaodian-Signature"],
        now=rt.wall.now().timestamp(),
    )
    payload = json.loads(body)
    assert payload["id"] == event_id and payload["data"] == {"order_no": "6925"}
    assert payload["rule"] == "O3" and payload["shop_id"] == shop.shop_id
    log = shop.api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json()["items"]
    assert log[0]["status"] == "delivered" and log[0]["attempts"] == 1


def test_X1_only_subscribed_types_are_sent(rt: Runtime, shop: Any, receiver: Receiver) -> None:
    _subscribe(rt, shop.shop_id, receiver.url, ["redpacket.expired"])
    with rt.unit() as ctx:
        notify.emit(ctx, shop.shop_id, "order.shipped", {}, rule="O3")
        notify.emit(ctx, shop.shop_id, "redpacket.expired", {}, rule="R4")
    deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
    assert [h["X-Xiaodian-Event"] for h, _ in receiver.received] == ["redpacket.expired"]


def test_X1_failed_delivery_retries_with_exponential_backoff(rt: Runtime, shop: Any) -> None:
    rules = rt.settings.webhooks
    with Receiver(fail_first=3) as flaky:
        endpoint_id, _ = _subscribe(rt, shop.shop_id, flaky.url)
        with rt.unit() as ctx:
            notify.emit(ctx, shop.shop_id, "order.closed", {}, rule="O5")
        waits = []
        for attempt in range(1, 5):
            counts = deliver_due(rt.factory, rules, wall=rt.wall)
            assert counts["claimed"] == 1
            row = shop.api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json()["items"][0]
            if attempt < 4:
                assert row["status"] == "pending" and row["last_status_code"] == 500
                wait = backoff_seconds(rules, attempt)
                waits.append(wait)
                # Not due one second before the backoff ends; due at its end.
                rt.wall.advance(wait - 1)  # type: ignore[attr-defined]
                assert deliver_due(rt.factory, rules, wall=rt.wall)["claimed"] == 0
                rt.wall.advance(1)  # type: ignore[attr-defined]
        assert row["status"] == "delivered" and row["attempts"] == 4
        assert waits == [rules.backoff_base_seconds * 2**i for i in range(3)]
        assert len(flaky.received) == 4


def test_X1_delivery_gives_up_after_max_attempts_and_can_be_redelivered(
    rt: Runtime, shop: Any
) -> None:
    rules = rt.settings.webhooks.model_copy(update={"max_attempts": 2, "backoff_base_seconds": 1})
    with Receiver(fail_first=99, status=503) as down:
        endpoint_id, _ = _subscribe(rt, shop.shop_id, down.url)
        with rt.unit() as ctx:
            notify.emit(ctx, shop.shop_id, "order.closed", {}, rule="O5")
        deliver_due(rt.factory, rules, wall=rt.wall)
        rt.wall.advance(5)  # type: ignore[attr-defined]
        assert deliver_due(rt.factory, rules, wall=rt.wall)["failed"] == 1
        rt.wall.advance(3600)  # type: ignore[attr-defined]
        assert deliver_due(rt.factory, rules, wall=rt.wall)["claimed"] == 0
        row = shop.api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries?status=failed").json()[
            "items"
        ][0]
        assert row["attempts"] == 2 and "503" in row["last_error"]
        again = shop.api.post(f"/api/v1/webhook_deliveries/{row['id']}/redeliver")
        assert again.json()["status"] == "pending"
        assert deliver_due(rt.factory, rules, wall=rt.wall)["claimed"] == 1


def test_X1_unreachable_endpoint_is_recorded_not_raised(rt: Runtime, shop: Any) -> None:
    _subscribe(rt, shop.shop_id, "http://127.0.0.1:9/closed-port")
    with rt.unit() as ctx:
        notify.emit(ctx, shop.shop_id, "order.closed", {}, rule="O5")
    counts = deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
    assert counts["retrying"] == 1
    with rt.unit() as ctx:
        row = notify.list_deliveries(ctx.session, shop.shop_id)[0][0]
    assert row.last_status_code is None and "ConnectError" in row.last_error


def test_X1_event_rolled_back_with_its_transaction_is_never_sent(
    rt: Runtime, shop: Any, receiver: Receiver
) -> None:
    _subscribe(rt, shop.shop_id, receiver.url)
    with pytest.raises(RuntimeError), rt.unit() as ctx:
        notify.emit(ctx, shop.shop_id, "order.shipped", {}, rule="O3")
        raise RuntimeError("the operation failed after emitting")
    assert deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)["claimed"] == 0


@pytest.mark.postgres_only
def test_X1_two_workers_deliver_each_event_exactly_once_on_postgres(
    pg_only: None, rt: Runtime, shop: Any, receiver: Receiver
) -> None:
    _subscribe(rt, shop.shop_id, receiver.url)
    with rt.unit() as ctx:
        notify.emit_many(
            ctx, [notify.NewEvent(shop.shop_id, "order.paid", {"n": i}, "O1") for i in range(120)]
        )
    rules = rt.settings.webhooks.model_copy(update={"batch_size": 7})
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        while deliver_due(rt.factory, rules, wall=rt.wall)["claimed"]:
            pass

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [json.loads(body)["data"]["n"] for _, body in receiver.received]
    assert sorted(sent) == list(range(120))  # every event once, none twice


def test_X1_notices_unread_count_and_mark_read(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        for i in range(3):
            notify.notice(ctx, shop.shop_id, category="violation", title=f"发货超时 {i}", rule="O6")
    listing = shop.api.get("/api/v1/notices").json()
    assert listing["unread"] == 3
    shop.api.post(f"/api/v1/notices/{listing['items'][0]['id']}/read")
    assert shop.api.get("/api/v1/notices").json()["unread"] == 2
    assert shop.api.post("/api/v1/notices/read_all").json()["marked"] == 2
    assert shop.api.get("/api/v1/notices?unread_only=true").json()["items"] == []


def test_X1_backoff_is_capped(rt: Runtime) -> None:
    rules = rt.settings.webhooks
    assert backoff_seconds(rules, 30) == rules.backoff_max_seconds
    assert (
        timedelta(seconds=backoff_seconds(rules, 1)).total_seconds() == rules.backoff_base_seconds
    )


def test_X1_in_process_subscribers_run_inside_the_emitting_transaction(
    rt: Runtime, shop: Any
) -> None:
    seen: list[tuple[str, int]] = []

    @notify.subscribe("test.reacted")
    def react(ctx: Any, event: notify.EmittedEvent) -> None:
        seen.append((event.type, event.payload["n"]))
        notify.notice(ctx, event.shop_id, category="system", title=f"reacted {event.payload['n']}")

    try:
        with rt.unit() as ctx:
            notify.emit(ctx, shop.shop_id, "test.reacted", {"n": 1}, rule="X1")
        with pytest.raises(RuntimeError), rt.unit() as ctx:
            notify.emit(ctx, shop.shop_id, "test.reacted", {"n": 2}, rule="X1")
            raise RuntimeError("rolled back together with its reaction")
    finally:
        notify._SUBSCRIBERS.pop("test.reacted", None)
    assert seen == [("test.reacted", 1), ("test.reacted", 2)]
    with rt.unit() as ctx:
        titles = [n.title for n in notify.list_notices(ctx.session, shop.shop_id)]
    assert titles == ["reacted 1"]

"""W3 (issue 18): a webhook delivery is sent by one worker, however slow the receiver and however
long the batch. Real receivers on 127.0.0.1 (loopback allowed, as in development), real
wall-clock time, and — for the race — two workers on PostgreSQL with their own connections."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from tests.notify.receiver import LocalReceiver
from xiaodian.clock import SystemClock
from xiaodian.config import WebhookRules
from xiaodian.notify import service as notify
from xiaodian.notify.webhooks import claim_seconds, deliver_due
from xiaodian.runtime import Runtime


def _setup(rt: Runtime, shop_id: int, url: str, n: int) -> None:
    rt.settings.webhooks.allow_loopback = True
    with rt.unit() as ctx:
        notify.create_endpoint(ctx, shop_id, url=url)
        notify.emit_many(ctx, [notify.NewEvent(shop_id, "order.paid", {"n": i}) for i in range(n)])


def _rows(rt: Runtime, shop_id: int) -> list[Any]:
    with rt.unit() as ctx:
        return [d for d, _ in notify.list_deliveries(ctx.session, shop_id, limit=100)]


def _rules(rt: Runtime, **changes: Any) -> WebhookRules:
    return rt.settings.webhooks.model_copy(update=changes)


@pytest.mark.postgres_only
def test_W3_two_workers_and_a_slow_receiver_send_each_delivery_once(
    pg_only: None, rt: Runtime, shop: Any
) -> None:
    """Issue 18 saw 10 of 60 deliveries sent twice: a batch claim expired while the batch was
    still being sent. Here one pass's batch takes 8 × 1.5 s = 12 s, more than three times a
    claim (3 s deadline + 0.5 s margin): only a claim taken per delivery keeps the other
    worker off a delivery that is still being sent."""
    n = 8
    with LocalReceiver(delay=1.5) as receiver:
        _setup(rt, shop.shop_id, receiver.url, n)
        rules = _rules(rt, timeout_seconds=3.0, claim_margin_seconds=0.5, batch_size=50)
        assert claim_seconds(rules) < n * 1.5
        sent_by: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def worker(name: str) -> None:
            barrier.wait()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                counts = deliver_due(rt.factory, rules, wall=SystemClock())
                sent_by[name] = sent_by.get(name, 0) + counts["claimed"]
                if not any(d.status == "pending" for d in _rows(rt, shop.shop_id)):
                    return
                time.sleep(0.05)

        threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    rows = _rows(rt, shop.shop_id)
    assert len(rows) == n
    assert dict(receiver.per_delivery) == {str(d.id): 1 for d in rows}  # each sent once
    assert {(d.status, d.attempts) for d in rows} == {("delivered", 1)}
    assert sent_by["a"] >= 1 and sent_by["b"] >= 1  # both really worked, side by side


def test_W3_a_delivery_being_sent_cannot_be_claimed_by_another_worker(
    rt: Runtime, shop: Any
) -> None:
    """While worker A waits on a slow receiver, worker B's pass finds nothing to claim; the
    claim lasts the attempt's hard deadline plus the margin, from the moment it is taken."""
    with LocalReceiver(delay=1.5) as receiver:
        _setup(rt, shop.shop_id, receiver.url, 1)
        rules = _rules(rt, timeout_seconds=3.0, claim_margin_seconds=0.5)
        results: list[dict[str, int]] = []
        a = threading.Thread(
            target=lambda: results.append(deliver_due(rt.factory, rules, wall=SystemClock()))
        )
        a.start()
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
        (row,) = _rows(rt, shop.shop_id)
        assert row.status == "pending" and row.attempts == 1  # A's claim, A is sending
        assert row.next_attempt_at is not None and row.last_attempt_at is not None
        assert row.next_attempt_at - row.last_attempt_at == timedelta(seconds=3.5)
        assert deliver_due(rt.factory, rules, wall=SystemClock())["claimed"] == 0  # worker B
        a.join()
    assert results == [{"claimed": 1, "delivered": 1, "retrying": 0, "failed": 0}]
    assert dict(receiver.per_delivery) == {str(row.id): 1}


def test_W3_a_claim_outlives_an_attempt_even_when_the_receiver_never_answers(
    rt: Runtime, shop: Any
) -> None:
    """The claim is only safe because the attempt has a hard end: a receiver that holds the
    request far longer than the deadline is cut off before the claim runs out."""
    with LocalReceiver(delay=6.0) as receiver:
        _setup(rt, shop.shop_id, receiver.url, 1)
        rules = _rules(rt, timeout_seconds=1.0, claim_margin_seconds=0.5)
        started = SystemClock().now()
        counts = deliver_due(rt.factory, rules, wall=SystemClock())
        finished = SystemClock().now()
        (row,) = _rows(rt, shop.shop_id)
    assert counts["retrying"] == 1 and row.last_error == "Timeout"
    assert row.last_attempt_at is not None
    assert finished < row.last_attempt_at + timedelta(seconds=claim_seconds(rules))
    assert finished - started < timedelta(seconds=2)


def test_W3_an_outcome_from_a_claim_that_ran_out_is_not_written(rt: Runtime, shop: Any) -> None:
    """A worker paused past its claim (say, a stopped VM) must not overwrite the outcome of
    the worker that took the delivery over: the outcome is written only under its own claim."""
    from xiaodian.notify import egress
    from xiaodian.notify.webhooks import _claim, _record

    with LocalReceiver() as receiver:
        _setup(rt, shop.shop_id, receiver.url, 1)
    rules = rt.settings.webhooks
    (row,) = _rows(rt, shop.shop_id)
    now = SystemClock().now()
    with rt.unit() as ctx:
        first = _claim(ctx.session, rules, row.id, 0, now)
    assert first is not None
    later = now + timedelta(seconds=claim_seconds(rules) + 1)
    with rt.unit() as ctx:
        assert _claim(ctx.session, rules, row.id, 0, later) is None  # stale view of the row
        second = _claim(ctx.session, rules, row.id, 1, later)
    assert second is not None and second.attempts == 2
    with rt.unit() as ctx:
        assert _record(ctx.session, rules, second, egress.Outcome(200, ""), later) == "delivered"
        late = egress.Outcome(503, "HTTP 503")
        assert _record(ctx.session, rules, first, late, later) is None
    (row,) = _rows(rt, shop.shop_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)

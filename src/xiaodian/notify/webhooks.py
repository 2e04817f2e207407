"""Webhook delivery job (X1): signed POSTs, exponential backoff, at-least-once.

Several workers may run this at once, and each delivery is sent by one of them (issue 18 W3).
A pass reads the due deliveries, then takes them one at a time: a worker *claims* a delivery
with a conditional ``UPDATE`` — only if it is still pending, due, and its ``attempts`` is the
value the worker read — which bumps ``attempts``, stamps ``last_attempt_at`` and pushes
``next_attempt_at`` past the claim. It commits, sends, and records the outcome only if its
claim (``attempts`` and ``last_attempt_at``) is still the row's. The claim lasts the attempt's
hard deadline (``webhooks.timeout_seconds``, enforced by ``egress.post`` on the whole
attempt) plus ``webhooks.claim_margin_seconds``, and starts when that delivery is sent, not
when its batch was read: however slow the receiver and however long the batch, no claim
expires while its delivery is still being sent. A worker that dies mid-call leaves its claim
to expire and the delivery to be retried. Receivers deduplicate on ``X-Xiaodian-Delivery``.

Where the request may go is ``egress``'s business (issue 11 S1): checked and pinned address,
no redirects, and the log keeps the status code and an error class, never the receiver's body.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from xiaodian import contexts
from xiaodian.clock import Clock, SystemClock
from xiaodian.config import WebhookRules
from xiaodian.db import rowcount, transaction
from xiaodian.notify import egress
from xiaodian.notify.models import Event, WebhookDelivery, WebhookEndpoint
from xiaodian.notify.service import event_body
from xiaodian.signing import webhook_signature


@dataclass
class Attempt:
    delivery_id: int
    url: str
    secret: str
    event_type: str
    body: bytes
    attempts: int
    claimed_at: datetime
    # Set when the endpoint speaks another platform's dialect (``register_wire_format``):
    # these headers (with their own signature) replace xiaodian's.
    wire_headers: dict[str, str] = field(default_factory=dict)
    # The dialect's acknowledgement check on the answer body (None: any 2xx is delivered).
    accepts: AnswerCheck | None = None


# A formatter gets (session, endpoint, event) and returns the body and headers to send
# instead of xiaodian's envelope, or None for the usual one (issue 12: platform dialects).
WireFormat = Callable[[Session, WebhookEndpoint, Event], tuple[bytes, dict[str, str]] | None]
# A dialect whose receivers acknowledge in the body (抖店 push: ``{"code": 0}``) gives a check
# of the answer body; a 2xx answer that fails it is retried like a 5xx (issue 12 D4).
AnswerCheck = Callable[[bytes], bool]
_WIRE_FORMATS: dict[str, tuple[WireFormat, AnswerCheck | None]] = {}
# Modules that register formatters, imported before the first claim (M4: the contexts that
# declare a `push` module in xiaodian.contexts.CONTEXTS).
WIRE_MODULES = contexts.modules("push")
_wire_loaded = False


def register_wire_format(
    event_type: str, formatter: WireFormat, *, accepts: AnswerCheck | None = None
) -> None:
    _WIRE_FORMATS[event_type] = (formatter, accepts)


def _wire(
    session: Session, endpoint: WebhookEndpoint, event: Event
) -> tuple[bytes, dict[str, str], AnswerCheck | None]:
    global _wire_loaded
    if not _wire_loaded:
        contexts.load("push")
        _wire_loaded = True
    registered = _WIRE_FORMATS.get(event.type)
    if registered is not None:
        formatter, accepts = registered
        dialect = formatter(session, endpoint, event)
        if dialect is not None:
            return dialect[0], dialect[1], accepts
    body = json.dumps(event_body(event), ensure_ascii=False, separators=(",", ":")).encode()
    return body, {}, None


def backoff_seconds(rules: WebhookRules, attempts: int) -> int:
    """Wait before the next try after ``attempts`` failed tries: base · 2^(attempts−1), capped."""
    return int(
        min(rules.backoff_base_seconds * 2 ** max(attempts - 1, 0), rules.backoff_max_seconds)
    )


def claim_seconds(rules: WebhookRules) -> float:
    """How long a claim lasts: longer than the attempt's hard deadline, by the margin (W3)."""
    return rules.timeout_seconds + rules.claim_margin_seconds


def deliver_due(
    factory: sessionmaker[Session],
    rules: WebhookRules,
    *,
    wall: Clock | None = None,
    resolver: egress.Resolver | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> dict[str, int]:
    """One pass: read due deliveries, then claim, send and record each in turn.

    ``resolver`` and ``tls_context`` default to the system's; tests pass their own."""
    wall = wall or SystemClock()
    with transaction(factory) as session:
        due = _due(session, rules, wall.now())
    counts = {"claimed": 0, "delivered": 0, "retrying": 0, "failed": 0}
    for delivery_id, seen_attempts in due:
        with transaction(factory) as session:
            attempt = _claim(session, rules, delivery_id, seen_attempts, wall.now())
        if attempt is None:  # another worker has it, or it is no longer due
            continue
        counts["claimed"] += 1
        outcome = _send(rules, attempt, wall.now(), resolver, tls_context)
        with transaction(factory) as session:
            result = _record(session, rules, attempt, outcome, wall.now())
        if result is not None:
            counts[result] += 1
    return counts


def _is_due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        WebhookDelivery.status == "pending",
        or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
    )


def _due(session: Session, rules: WebhookRules, now: datetime) -> list[tuple[int, int]]:
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .where(*_is_due(now))
        .order_by(WebhookDelivery.id)
        .limit(rules.batch_size)
    )
    return [(delivery_id, attempts) for delivery_id, attempts in rows]


def _claim(
    session: Session, rules: WebhookRules, delivery_id: int, seen_attempts: int, now: datetime
) -> Attempt | None:
    """Claim one delivery (W3): a conditional UPDATE that only one worker can win — on
    PostgreSQL the loser waits for the winner's commit, re-reads the row, and matches nothing."""
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.attempts == seen_attempts,
            *_is_due(now),
        )
        .values(
            attempts=seen_attempts + 1,
            last_attempt_at=now,
            next_attempt_at=now + timedelta(seconds=claim_seconds(rules)),
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    row = session.execute(
        select(WebhookEndpoint, Event)
        .select_from(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
    ).one()
    endpoint, event = row
    body, wire_headers, accepts = _wire(session, endpoint, event)
    return Attempt(
        delivery_id=delivery_id,
        url=endpoint.url,
        secret=endpoint.secret,
        event_type=event.type,
        body=body,
        attempts=seen_attempts + 1,
        claimed_at=now,
        wire_headers=wire_headers,
        accepts=accepts,
    )


def _send(
    rules: WebhookRules,
    attempt: Attempt,
    now: datetime,
    resolver: egress.Resolver | None,
    tls_context: ssl.SSLContext | None,
) -> egress.Outcome:
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "xiaodian-webhooks/1",
        "X-Xiaodian-Event": attempt.event_type,
        "X-Xiaodian-Delivery": str(attempt.delivery_id),
        "X-Xiaodian-Timestamp": timestamp,
        "X-Xiaodian-Signature": webhook_signature(attempt.secret, timestamp, attempt.body),
    }
    if attempt.wire_headers:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": headers["User-Agent"],
            "X-Xiaodian-Delivery": headers["X-Xiaodian-Delivery"],
            **attempt.wire_headers,
        }
    return egress.post(
        attempt.url,
        attempt.body,
        headers,
        allow_loopback=rules.allow_loopback,
        deadline_seconds=rules.timeout_seconds,
        resolver=resolver,
        tls_context=tls_context,
        answer_ok=attempt.accepts,
    )


def _record(
    session: Session,
    rules: WebhookRules,
    attempt: Attempt,
    outcome: egress.Outcome,
    now: datetime,
) -> str | None:
    """Write the outcome, only while the claim is still ours (else ``None``: a claim that
    outlived its lease, e.g. a worker paused longer than the margin, writes nothing)."""
    values: dict[str, object] = {
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:500],
    }
    if not outcome.error:
        result = "delivered"
        values.update(status="delivered", delivered_at=now)
    elif attempt.attempts >= rules.max_attempts:
        result = "failed"
        values.update(status="failed")
    else:
        result = "retrying"
        values.update(
            next_attempt_at=now + timedelta(seconds=backoff_seconds(rules, attempt.attempts))
        )
    written = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == attempt.delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == attempt.attempts,
            WebhookDelivery.last_attempt_at == attempt.claimed_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result if rowcount(written) == 1 else None

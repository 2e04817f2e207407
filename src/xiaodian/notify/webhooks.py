"""Webhook delivery job (X1): signed POSTs, exponential backoff, at-least-once.

Several workers may run this at once. A worker *claims* due deliveries in a short
transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer) by pushing their
``next_attempt_at`` past a lease, commits, and only then makes the HTTP calls — so no delivery
is sent by two workers, and a worker that dies mid-call leaves its claim to expire and be
retried. Receivers deduplicate on ``X-Xiaodian-Delivery``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from xiaodian.clock import Clock, SystemClock
from xiaodian.config import WebhookRules
from xiaodian.contexts import present
from xiaodian.db import is_postgres, transaction
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
    # Set when the endpoint speaks another platform's dialect (``register_wire_format``):
    # these headers (with their own signature) replace xiaodian's.
    wire_headers: dict[str, str] = field(default_factory=dict)


# A formatter gets (session, endpoint, event) and returns the body and headers to send
# instead of xiaodian's envelope, or None for the usual one (issue 12: platform dialects).
WireFormat = Callable[[Session, WebhookEndpoint, Event], tuple[bytes, dict[str, str]] | None]
_WIRE_FORMATS: dict[str, WireFormat] = {}
# Modules that register formatters, imported before the first claim.
WIRE_MODULES = ("xiaodian.laike.push",)
_wire_loaded = False


def register_wire_format(event_type: str, formatter: WireFormat) -> None:
    _WIRE_FORMATS[event_type] = formatter


def _wire(
    session: Session, endpoint: WebhookEndpoint, event: Event
) -> tuple[bytes, dict[str, str]]:
    global _wire_loaded
    if not _wire_loaded:
        present(WIRE_MODULES)
        _wire_loaded = True
    formatter = _WIRE_FORMATS.get(event.type)
    dialect = formatter(session, endpoint, event) if formatter is not None else None
    if dialect is not None:
        return dialect
    body = json.dumps(event_body(event), ensure_ascii=False, separators=(",", ":")).encode()
    return body, {}


def backoff_seconds(rules: WebhookRules, attempts: int) -> int:
    """Wait before the next try after ``attempts`` failed tries: base · 2^(attempts−1), capped."""
    return int(
        min(rules.backoff_base_seconds * 2 ** max(attempts - 1, 0), rules.backoff_max_seconds)
    )


def deliver_due(
    factory: sessionmaker[Session],
    rules: WebhookRules,
    *,
    wall: Clock | None = None,
    client: httpx.Client | None = None,
) -> dict[str, int]:
    """One pass: claim due deliveries, send them, record outcomes. Returns counts."""
    wall = wall or SystemClock()
    with transaction(factory) as session:
        attempts = _claim(session, rules, wall.now())
    counts = {"claimed": len(attempts), "delivered": 0, "retrying": 0, "failed": 0}
    if not attempts:
        return counts
    own_client = client is None
    http = client or httpx.Client(timeout=rules.timeout_seconds)
    try:
        for attempt in attempts:
            outcome = _send(http, attempt, wall.now())
            with transaction(factory) as session:
                counts[_record(session, rules, attempt, outcome, wall.now())] += 1
    finally:
        if own_client:
            http.close()
    return counts


def _claim(session: Session, rules: WebhookRules, now: datetime) -> list[Attempt]:
    query = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == "pending",
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        )
        .order_by(WebhookDelivery.id)
        .limit(rules.batch_size)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return []
    lease = now + timedelta(seconds=rules.timeout_seconds * 2 + 30)
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(next_attempt_at=lease, attempts=WebhookDelivery.attempts + 1, last_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookEndpoint, Event)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    claimed = []
    for delivery_id, attempts, endpoint, event in rows:
        body, wire_headers = _wire(session, endpoint, event)
        claimed.append(
            Attempt(
                delivery_id=delivery_id,
                url=endpoint.url,
                secret=endpoint.secret,
                event_type=event.type,
                body=body,
                attempts=attempts,
                wire_headers=wire_headers,
            )
        )
    return claimed


def _send(http: httpx.Client, attempt: Attempt, now: datetime) -> tuple[int | None, str]:
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
    try:
        response = http.post(attempt.url, content=attempt.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def _record(
    session: Session,
    rules: WebhookRules,
    attempt: Attempt,
    outcome: tuple[int | None, str],
    now: datetime,
) -> str:
    status_code, error = outcome
    values: dict[str, object] = {"last_status_code": status_code, "last_error": error}
    if not error:
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
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == attempt.delivery_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result

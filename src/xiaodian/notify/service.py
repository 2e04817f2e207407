"""Notices, buyer inbox, domain events and webhook subscriptions (X1).

``emit`` / ``emit_many`` record a domain event (naming the SPEC rule that caused it) and, in
the same transaction, queue one webhook delivery per subscribed endpoint: an event is never
lost between "it happened" and "it will be sent" (transactional outbox).

Contexts also react to each other's events in-process: a context's ``subscribers.py`` marks
functions with ``@subscribe("order.refunded")``; they run inside the emitting transaction, so
the reaction commits or rolls back with the change that caused it.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from xiaodian.context import Ctx
from xiaodian.db import get_owned
from xiaodian.errors import ValidationFailed
from xiaodian.notify.models import BuyerMessage, Event, Notice, WebhookDelivery, WebhookEndpoint


@dataclass(frozen=True)
class NewEvent:
    shop_id: int
    type: str
    payload: dict[str, Any]
    rule: str | None = None


@dataclass(frozen=True)
class EmittedEvent:
    id: int
    shop_id: int
    type: str
    payload: dict[str, Any]
    rule: str | None


Subscriber = Callable[[Ctx, EmittedEvent], None]
_SUBSCRIBERS: dict[str, list[Subscriber]] = {}
# Contexts whose subscribers.py is loaded before the first event is emitted.
SUBSCRIBER_MODULES = (
    "xiaodian.orders.subscribers",
    "xiaodian.aftersales.subscribers",
    "xiaodian.redpackets.subscribers",
    "xiaodian.luckybags.subscribers",
    "xiaodian.coupons.subscribers",
)
_loaded = False


def subscribe(type_: str) -> Callable[[Subscriber], Subscriber]:
    """Register an in-process reaction to a domain event type (runs in the emitting txn)."""

    def register(fn: Subscriber) -> Subscriber:
        handlers = _SUBSCRIBERS.setdefault(type_, [])
        if fn not in handlers:
            handlers.append(fn)
        return fn

    return register


def _load_subscribers() -> None:
    global _loaded
    if _loaded:
        return
    for name in SUBSCRIBER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name and name.startswith(exc.name)):
                raise
    _loaded = True


# ----- in-site notices (站内通知) -----------------------------------------------------------


def notice(
    ctx: Ctx,
    shop_id: int,
    *,
    category: str,
    title: str,
    body: str = "",
    link: str = "",
    rule: str | None = None,
) -> Notice:
    row = Notice(
        shop_id=shop_id,
        category=category,
        title=title[:120],
        body=body,
        link=link,
        rule=rule,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return row


def notice_many(ctx: Ctx, rows: list[dict[str, Any]]) -> int:
    """Bulk notices for sweeps: each dict has shop_id, category, title, body, link, rule."""
    if not rows:
        return 0
    ctx.session.execute(
        insert(Notice),
        [{"body": "", "link": "", "rule": None, **row, "created_at": ctx.now} for row in rows],
    )
    return len(rows)


def list_notices(
    session: Session,
    shop_id: int,
    *,
    unread_only: bool = False,
    before_id: int | None = None,
    limit: int = 20,
) -> list[Notice]:
    query = select(Notice).where(Notice.shop_id == shop_id).order_by(Notice.id.desc()).limit(limit)
    if unread_only:
        query = query.where(Notice.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notice.id < before_id)
    return list(session.scalars(query))


def unread_count(session: Session, shop_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(Notice.shop_id == shop_id, Notice.read_at.is_(None))
        )
        or 0
    )


def mark_read(ctx: Ctx, shop_id: int, notice_id: int | None = None) -> int:
    """Mark one notice (or, with no id, all of the shop's) read; returns how many changed."""
    query = update(Notice).where(Notice.shop_id == shop_id, Notice.read_at.is_(None))
    if notice_id is not None:
        get_notice(ctx.session, shop_id, notice_id)
        query = query.where(Notice.id == notice_id)
    result = ctx.session.execute(query.values(read_at=ctx.now))
    return int(getattr(result, "rowcount", 0) or 0)


def get_notice(session: Session, shop_id: int, notice_id: int) -> Notice:
    row: Notice = get_owned(session, Notice, shop_id, notice_id, ("通知", "Notice"))
    return row


# ----- buyer inbox -------------------------------------------------------------------------


def message_buyer(
    ctx: Ctx,
    *,
    buyer_id: int,
    shop_id: int,
    kind: str,
    title: str,
    body: str = "",
    payload: dict[str, Any] | None = None,
    rule: str | None = None,
) -> BuyerMessage:
    row = BuyerMessage(
        buyer_id=buyer_id,
        shop_id=shop_id,
        kind=kind,
        title=title[:120],
        body=body,
        payload=payload or {},
        rule=rule,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return row


def message_buyers(ctx: Ctx, rows: list[dict[str, Any]]) -> int:
    """Bulk buyer messages for sweeps (e.g. R7 reminders)."""
    if not rows:
        return 0
    ctx.session.execute(
        insert(BuyerMessage),
        [{"body": "", "payload": {}, "rule": None, **row, "created_at": ctx.now} for row in rows],
    )
    return len(rows)


def inbox(
    session: Session,
    buyer_id: int,
    *,
    shop_id: int | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[BuyerMessage]:
    query = (
        select(BuyerMessage)
        .where(BuyerMessage.buyer_id == buyer_id)
        .order_by(BuyerMessage.id.desc())
        .limit(limit)
    )
    if shop_id is not None:
        query = query.where(BuyerMessage.shop_id == shop_id)
    if before_id is not None:
        query = query.where(BuyerMessage.id < before_id)
    return list(session.scalars(query))


# ----- domain events and their webhook fan-out ---------------------------------------------


def emit(
    ctx: Ctx, shop_id: int, type_: str, payload: dict[str, Any], rule: str | None = None
) -> int:
    return emit_many(ctx, [NewEvent(shop_id, type_, payload, rule)])[0]


def emit_many(ctx: Ctx, events: list[NewEvent]) -> list[int]:
    """Record events and queue their webhook deliveries, in the caller's transaction."""
    if not events:
        return []
    session = ctx.session
    rows = session.execute(
        insert(Event).returning(Event.id, sort_by_parameter_order=True),
        [
            {
                "shop_id": e.shop_id,
                "type": e.type,
                "payload": e.payload,
                "rule": e.rule,
                "actor": ctx.actor,
                "occurred_at": ctx.now,
            }
            for e in events
        ],
    ).all()
    ids = [row[0] for row in rows]
    shops = {e.shop_id for e in events}
    endpoints = list(
        session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.shop_id.in_(shops), WebhookEndpoint.active.is_(True)
            )
        )
    )
    if endpoints:
        deliveries = [
            {
                "shop_id": event.shop_id,
                "endpoint_id": endpoint.id,
                "event_id": event_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": None,
                "last_error": "",
                "created_at": ctx.now,
            }
            for event_id, event in zip(ids, events, strict=True)
            for endpoint in endpoints
            if endpoint.shop_id == event.shop_id and subscribes(endpoint.event_types, event.type)
        ]
        if deliveries:
            session.execute(insert(WebhookDelivery), deliveries)
    _dispatch(ctx, ids, events)
    return ids


def _dispatch(ctx: Ctx, ids: list[int], events: list[NewEvent]) -> None:
    _load_subscribers()
    for event_id, event in zip(ids, events, strict=True):
        for handler in _SUBSCRIBERS.get(event.type, ()):
            handler(
                ctx, EmittedEvent(event_id, event.shop_id, event.type, event.payload, event.rule)
            )


def subscribes(event_types: str, type_: str) -> bool:
    return event_types == "*" or f",{type_}," in event_types


def list_events(
    session: Session,
    shop_id: int,
    *,
    type_prefix: str | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[Event]:
    query = select(Event).where(Event.shop_id == shop_id).order_by(Event.id.desc()).limit(limit)
    if type_prefix:
        query = query.where(Event.type.startswith(type_prefix, autoescape=True))
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return list(session.scalars(query))


# ----- webhook endpoints -------------------------------------------------------------------


def create_endpoint(
    ctx: Ctx, shop_id: int, *, url: str, event_types: list[str] | None = None
) -> WebhookEndpoint:
    _check_url(url)
    endpoint = WebhookEndpoint(
        shop_id=shop_id,
        url=url.strip(),
        secret="whsec_" + secrets.token_urlsafe(24),
        event_types=_normalize_types(event_types),
        active=True,
        created_at=ctx.now,
    )
    ctx.session.add(endpoint)
    ctx.session.flush()
    return endpoint


def update_endpoint(
    ctx: Ctx,
    shop_id: int,
    endpoint_id: int,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    endpoint = get_endpoint(ctx.session, shop_id, endpoint_id)
    if url is not None:
        _check_url(url)
        endpoint.url = url.strip()
    if event_types is not None:
        endpoint.event_types = _normalize_types(event_types)
    if active is not None:
        endpoint.active = active
    ctx.session.flush()
    return endpoint


def get_endpoint(session: Session, shop_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint: WebhookEndpoint = get_owned(
        session, WebhookEndpoint, shop_id, endpoint_id, ("Webhook 地址", "Webhook endpoint")
    )
    return endpoint


def list_endpoints(session: Session, shop_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.shop_id == shop_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def list_deliveries(
    session: Session,
    shop_id: int,
    *,
    endpoint_id: int | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[tuple[WebhookDelivery, Event]]:
    query = (
        select(WebhookDelivery, Event)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.shop_id == shop_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return [(d, e) for d, e in session.execute(query)]


def get_delivery(session: Session, shop_id: int, delivery_id: int) -> WebhookDelivery:
    row: WebhookDelivery = get_owned(
        session, WebhookDelivery, shop_id, delivery_id, ("投递记录", "Delivery")
    )
    return row


def redeliver(ctx: Ctx, shop_id: int, delivery_id: int) -> WebhookDelivery:
    """Queue a failed (or delivered) delivery again, now."""
    row = get_delivery(ctx.session, shop_id, delivery_id)
    row.status = "pending"
    row.next_attempt_at = None
    row.attempts = 0
    ctx.session.flush()
    return row


def event_body(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "shop_id": event.shop_id,
        "rule": event.rule,
        "occurred_at": _iso(event.occurred_at),
        "data": event.payload,
    }


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _check_url(url: str) -> None:
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise ValidationFailed(
            "invalid_url", "请填写 http(s) 开头的完整地址", "Give a full http(s) URL", field="url"
        )


def _normalize_types(event_types: list[str] | None) -> str:
    cleaned = sorted({t.strip() for t in (event_types or []) if t.strip()})
    if not cleaned or "*" in cleaned:
        return "*"
    for item in cleaned:
        if "," in item or len(item) > 64:
            raise ValidationFailed(
                "invalid_event_type",
                f"事件类型无效:{item}",
                f"Invalid event type {item}",
                field="event_types",
            )
    return "," + ",".join(cleaned) + ","

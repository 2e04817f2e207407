"""Notices, buyer inbox, domain events and webhook subscriptions (X1).

``emit`` / ``emit_many`` record a domain event (naming the SPEC rule that caused it) and, in
the same transaction, queue one webhook delivery per subscribed endpoint: an event is never
lost between "it happened" and "it will be sent" (transactional outbox).

Contexts also react to each other's events in-process: a context's ``subscribers.py`` marks
functions with ``@subscribe("order.refunded")``; they run inside the emitting transaction, so
the reaction commits or rolls back with the change that caused it.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import TextClause, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from xiaodian import contexts
from xiaodian.context import Ctx
from xiaodian.db import UTCDateTime, get_owned, is_postgres, rowcount
from xiaodian.errors import NotFound, ValidationFailed
from xiaodian.notify import egress
from xiaodian.notify.models import BuyerMessage, Event, Notice, WebhookDelivery, WebhookEndpoint
from xiaodian.timeorder import before, newest_first


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


@dataclass(frozen=True)
class _Stored:
    """An inserted event; ``payload`` is fetched back only for types someone subscribes to."""

    id: int
    shop_id: int
    type: str
    payload: dict[str, Any] | None
    rule: str | None


Subscriber = Callable[[Ctx, EmittedEvent], None]
_SUBSCRIBERS: dict[str, list[Subscriber]] = {}
# Contexts whose subscribers.py is loaded before the first event is emitted (M4: derived from
# xiaodian.contexts.CONTEXTS; a declared module that does not exist is an error).
SUBSCRIBER_MODULES = contexts.modules("subscribers")
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
    contexts.load("subscribers")  # importing a subscribers module registers its handlers
    _loaded = True


# ----- in-site notices (站内通知) -----------------------------------------------------------

# Notices follow grants (issue 11): the permission a sub-account needs to see a notice of each
# category. "system" notices are for everyone; any other category (e.g. "security", S4
# lockouts) only for the main account. A notice whose link opens a 资金 page is about money and
# also needs funds.view.
NOTICE_PERMISSIONS: dict[str, str] = {
    "funds": "funds.view",
    "violation": "orders.view",
    "order": "orders.view",
    "orders": "orders.export",
    "aftersales": "aftersales.handle",
    "redpacket": "redpackets.manage",
    "coupon": "coupons.manage",
    "luckybag": "luckybags.manage",
    "service": "service.chat",
}
NOTICES_FOR_EVERYONE = ("system",)
FUNDS_LINK_PREFIX = "/console/funds"


class Audience(Protocol):
    """Who reads the notices (an ``accounts.Principal``); ``None`` means the whole shop."""

    @property
    def is_main(self) -> bool: ...

    def can(self, permission: str) -> bool: ...


def notice_visible_to(audience: Audience | None, category: str, link: str) -> bool:
    """The rule ``_for_audience`` applies in SQL, for one notice."""
    if audience is None or audience.is_main:
        return True
    needed = NOTICE_PERMISSIONS.get(category)
    if category not in NOTICES_FOR_EVERYONE and (needed is None or not audience.can(needed)):
        return False
    return not (link or "").startswith(FUNDS_LINK_PREFIX) or audience.can("funds.view")


def _for_audience(query: Any, audience: Audience | None) -> Any:
    if audience is None or audience.is_main:
        return query
    categories = [c for c, p in NOTICE_PERMISSIONS.items() if audience.can(p)]
    query = query.where(Notice.category.in_([*categories, *NOTICES_FOR_EVERYONE]))
    if not audience.can("funds.view"):
        query = query.where(~Notice.link.startswith(FUNDS_LINK_PREFIX, autoescape=True))
    return query


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
    principal: Audience | None = None,
) -> list[Notice]:
    """The shop's notices, newest first; with ``principal``, only those it may see."""
    query = (
        select(Notice)
        .where(Notice.shop_id == shop_id)
        .order_by(*newest_first(Notice.created_at, Notice.id))  # U6
        .limit(limit)
    )
    query = _for_audience(query, principal)
    if unread_only:
        query = query.where(Notice.read_at.is_(None))
    if before_id is not None:
        query = query.where(before(Notice.created_at, Notice.id, before_id))
    return list(session.scalars(query))


def unread_count(session: Session, shop_id: int, principal: Audience | None = None) -> int:
    query = select(func.count()).where(Notice.shop_id == shop_id, Notice.read_at.is_(None))
    return int(session.scalar(_for_audience(query, principal)) or 0)


def mark_read(
    ctx: Ctx, shop_id: int, notice_id: int | None = None, principal: Audience | None = None
) -> int:
    """Mark one notice (or, with no id, all of the shop's that ``principal`` may see) read;
    returns how many changed."""
    query = update(Notice).where(Notice.shop_id == shop_id, Notice.read_at.is_(None))
    if notice_id is not None:
        get_notice(ctx.session, shop_id, notice_id, principal)
        query = query.where(Notice.id == notice_id)
    elif principal is not None and not principal.is_main:
        visible = _for_audience(select(Notice.id).where(Notice.shop_id == shop_id), principal)
        query = query.where(Notice.id.in_(visible.scalar_subquery()))
    result = ctx.session.execute(query.values(read_at=ctx.now))
    return rowcount(result)


def get_notice(
    session: Session, shop_id: int, notice_id: int, principal: Audience | None = None
) -> Notice:
    row: Notice = get_owned(session, Notice, shop_id, notice_id, ("通知", "Notice"))
    if not notice_visible_to(principal, row.category, row.link):
        raise NotFound("通知", "Notice", notice_id)
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


@dataclass(frozen=True)
class CardView:
    """A buyer message as it reads now."""

    title: str
    body: str
    payload: dict[str, Any]


# Called with the stored message; answers its current view, or None to show what was stored.
CardResolver = Callable[[Session, BuyerMessage], CardView | None]
_CARD_RESOLVERS: dict[str, CardResolver] = {}


def register_card(card_type: str, resolver: CardResolver) -> None:
    """Let a context render its cards when they are read: a ``card`` message whose payload
    says ``"card": card_type`` refers to a record the context owns (e.g. an order), so the
    buyer sees that record's current state, not a copy taken when the card was sent."""
    _CARD_RESOLVERS[card_type] = resolver


def as_read(session: Session, message: BuyerMessage) -> CardView:
    """The message as the buyer reads it now (cards resolved through their context)."""
    card_type = message.payload.get("card") if message.kind == "card" else None
    resolver = _CARD_RESOLVERS.get(card_type) if isinstance(card_type, str) else None
    view = resolver(session, message) if resolver is not None else None
    return view or CardView(message.title, message.body, message.payload)


# ----- domain events and their webhook fan-out ---------------------------------------------


def emit(
    ctx: Ctx, shop_id: int, type_: str, payload: dict[str, Any], rule: str | None = None
) -> int:
    return emit_many(ctx, [NewEvent(shop_id, type_, payload, rule)])[0]


def emit_many(ctx: Ctx, events: list[NewEvent]) -> list[int]:
    """Record events and queue their webhook deliveries, in the caller's transaction.

    Set-based whatever the count: the batch travels as one JSON parameter that the database
    expands (``jsonb_array_elements`` / ``json_each``), and the fan-out to subscribed
    endpoints is one ``INSERT … SELECT`` joined to ``webhook_endpoints``. Returns the new
    event ids in ascending order; in-process subscribers get each event as it was stored."""
    if not events:
        return []
    _load_subscribers()
    batch = json.dumps(
        [{"s": e.shop_id, "t": e.type, "p": e.payload, "r": e.rule} for e in events],
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    insert_events = _insert_events_pg if is_postgres(ctx.session) else _insert_events_sqlite
    stored = insert_events(ctx, batch, sorted(_SUBSCRIBERS))
    for row in stored:
        if row.payload is not None:
            event = EmittedEvent(row.id, row.shop_id, row.type, row.payload, row.rule)
            for handler in _SUBSCRIBERS.get(row.type, ()):
                handler(ctx, event)
    return [row.id for row in stored]


# A fan-out row per (event, active endpoint of its shop that subscribes to its type).
_FAN_OUT = """
    INSERT INTO webhook_deliveries
        (shop_id, endpoint_id, event_id, status, attempts, next_attempt_at, last_error, created_at)
    SELECT ev.shop_id, w.id, ev.id, 'pending', 0, NULL, '', :now
    FROM {source} AS ev
    JOIN webhook_endpoints AS w
      ON w.shop_id = ev.shop_id AND w.active
     AND (w.event_types = '*' OR instr(w.event_types, ',' || ev.type || ',') > 0)
"""


def _insert_events_pg(ctx: Ctx, batch: str, subscribed: list[str]) -> list[_Stored]:
    statement = _insert_events_pg_statement()
    rows = ctx.session.execute(
        statement, {"batch": batch, "actor": ctx.actor, "now": ctx.now, "subscribed": subscribed}
    )
    return [_Stored(r.id, r.shop_id, r.type, r.payload, r.rule) for r in rows]


@functools.cache
def _insert_events_pg_statement() -> TextClause:
    """Built once: every event of every context goes through it."""
    return text(
        """
        WITH src AS (
            SELECT (e->>'s')::bigint AS shop_id, e->>'t' AS type, (e->'p')::json AS payload,
                   e->>'r' AS rule, n
            FROM jsonb_array_elements(CAST(:batch AS jsonb)) WITH ORDINALITY AS t(e, n)
        ), ev AS (
            INSERT INTO events (shop_id, type, payload, rule, actor, occurred_at)
            SELECT shop_id, type, payload, rule, :actor, :now FROM src ORDER BY n
            RETURNING id, shop_id, type, payload, rule
        ), fan AS ("""
        + _FAN_OUT.format(source="ev").replace(
            "instr(w.event_types, ',' || ev.type || ',')",
            "strpos(w.event_types, ',' || ev.type || ',')",
        )
        + """)
        SELECT id, shop_id, type, rule,
               CASE WHEN type = ANY(CAST(:subscribed AS text[])) THEN payload END AS payload
        FROM ev ORDER BY id
        """
    ).bindparams(bindparam("now", type_=UTCDateTime()))


def _insert_events_sqlite(ctx: Ctx, batch: str, subscribed: list[str]) -> list[_Stored]:
    session = ctx.session
    inserted = session.execute(
        text(
            """
            INSERT INTO events (shop_id, type, payload, rule, actor, occurred_at)
            SELECT json_extract(value, '$.s'), json_extract(value, '$.t'),
                   json_extract(value, '$.p'), json_extract(value, '$.r'), :actor, :now
            FROM json_each(:batch) ORDER BY key
            RETURNING id, shop_id, type, rule, payload
            """
        ).bindparams(bindparam("now", type_=UTCDateTime())),
        {"batch": batch, "actor": ctx.actor, "now": ctx.now},
    ).all()
    rows = sorted(inserted, key=lambda r: r.id)
    # SQLite has one writer (BEGIN IMMEDIATE), so this id range holds exactly this batch.
    source = "(SELECT id, shop_id, type FROM events WHERE id BETWEEN :first AND :last)"
    session.execute(
        text(_FAN_OUT.format(source=source)).bindparams(bindparam("now", type_=UTCDateTime())),
        {"now": ctx.now, "first": rows[0].id, "last": rows[-1].id},
    )
    wanted = set(subscribed)
    return [
        _Stored(
            r.id, r.shop_id, r.type, json.loads(r.payload) if r.type in wanted else None, r.rule
        )
        for r in rows
    ]


def emit_selected(ctx: Ctx, source: str, params: dict[str, Any], types: Sequence[str]) -> int:
    """Record the events a query selects and queue their webhook deliveries, in the caller's
    transaction, without the rows passing through Python (W1: the O8 batch built 20,000
    payloads in Python and sent them back as JSON). One statement on PostgreSQL, three on
    SQLite, whatever the count.

    ``source``: a SELECT (SQL text) of ``shop_id, type, payload, rule`` — ``payload`` a JSON
    object the database builds (``json_build_object`` / ``json_object``) — in the order the
    events are to get their ids; ``params`` its parameters. ``types``: every type it can
    select; none may have an in-process subscriber (``emit_many`` hands those their event).
    Returns the number of events recorded."""
    _load_subscribers()
    handled = sorted(t for t in types if t in _SUBSCRIBERS)
    if handled:
        raise RuntimeError(f"emit_selected: {handled} have subscribers; use emit_many")
    session = ctx.session
    values = {**params, "actor": ctx.actor, "now": ctx.now}
    insert_events = (
        "INSERT INTO events (shop_id, type, payload, rule, actor, occurred_at)"
        f" SELECT src.shop_id, src.type, src.payload, src.rule, :actor, :now FROM ({source}) AS src"
    )
    if is_postgres(session):
        fan_out = _FAN_OUT.format(source="ev").replace(
            "instr(w.event_types, ',' || ev.type || ',')",
            "strpos(w.event_types, ',' || ev.type || ',')",
        )
        statement = (
            f"WITH ev AS ({insert_events} RETURNING id, shop_id, type), fan AS ({fan_out})"
            " SELECT count(*) FROM ev"
        )
        count = session.execute(
            text(statement).bindparams(bindparam("now", type_=UTCDateTime())), values
        ).scalar_one()
        return int(count)
    # SQLite has one writer (BEGIN IMMEDIATE): the ids above the largest before are this batch.
    last = int(session.execute(text("SELECT coalesce(max(id), 0) FROM events")).scalar_one())
    inserted = session.execute(
        text(insert_events).bindparams(bindparam("now", type_=UTCDateTime())), values
    )
    source_rows = "(SELECT id, shop_id, type FROM events WHERE id > :last)"
    session.execute(
        text(_FAN_OUT.format(source=source_rows)).bindparams(bindparam("now", type_=UTCDateTime())),
        {"now": ctx.now, "last": last},
    )
    return rowcount(inserted)


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
    query = (
        select(Event)
        .where(Event.shop_id == shop_id)
        .order_by(*newest_first(Event.occurred_at, Event.id))  # U6
        .limit(limit)
    )
    if type_prefix:
        query = query.where(Event.type.startswith(type_prefix, autoescape=True))
    if before_id is not None:
        query = query.where(before(Event.occurred_at, Event.id, before_id))
    return list(session.scalars(query))


# ----- webhook endpoints -------------------------------------------------------------------


def create_endpoint(
    ctx: Ctx,
    shop_id: int,
    *,
    url: str,
    event_types: list[str] | None = None,
    resolver: egress.Resolver | None = None,
) -> WebhookEndpoint:
    _check_url(ctx, url, resolver)
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
    resolver: egress.Resolver | None = None,
) -> WebhookEndpoint:
    endpoint = get_endpoint(ctx.session, shop_id, endpoint_id)
    if url is not None:
        _check_url(ctx, url, resolver)
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


def _check_url(ctx: Ctx, url: str, resolver: egress.Resolver | None) -> None:
    """S1: only http(s) URLs that name, and resolve to, public addresses (``egress``)."""
    rules = ctx.settings.webhooks
    egress.check_destination(
        url, allow_loopback=rules.allow_loopback, resolver=resolver, timeout=rules.timeout_seconds
    )


def _normalize_types(event_types: list[str] | None) -> str:
    given = {t.strip() for t in (event_types or []) if t.strip()}
    if not given or "*" in given:
        return "*"
    for item in sorted(given):
        if "," in item or len(item) > 64:
            raise ValidationFailed(
                "invalid_event_type",
                f"事件类型无效：{item}",
                f"Invalid event type {item}",
                field="event_types",
            )
    known = event_catalogue()
    unknown = sorted(item for item in given if item not in known)
    if unknown:  # M4: a subscription to a type no context emits would never be delivered
        raise ValidationFailed(
            "unknown_event_type",
            f"没有这种事件类型：{'、'.join(unknown)}",
            f"Unknown event type {', '.join(unknown)}",
            field="event_types",
        )
    return "," + ",".join(sorted({known[item] for item in given})) + ","


@functools.cache
def event_catalogue() -> dict[str, str]:
    """Every event type a webhook may subscribe to → its current name (M4): the types each
    context declares in its ``events.py`` (``EVENT_TYPES``, and ``PLATFORM_EVENT_TYPES`` of
    the 抖店/来客 push dialects), plus old names kept as aliases on input (``ALIASES``, old →
    new) so an ISV subscribing with a renamed type still gets the events."""
    catalogue: dict[str, str] = {}
    for module in contexts.load("events"):
        for type_ in (*module.EVENT_TYPES, *getattr(module, "PLATFORM_EVENT_TYPES", ())):
            catalogue[type_] = type_
        catalogue.update(getattr(module, "ALIASES", {}))
    return catalogue

"""Notices, events, webhooks and buyer messages → API shapes (X1; issue 15 M5: every
context's response mapping lives in its ``mappers.py``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from xiaodian.notify import service
from xiaodian.notify.models import BuyerMessage, Event, Notice, WebhookDelivery, WebhookEndpoint
from xiaodian.notify.schemas import (
    BuyerMessageOut,
    DeliveryOut,
    EndpointCreated,
    EndpointOut,
    EventOut,
    NoticeOut,
)


def notice_out(notice: Notice) -> NoticeOut:
    return NoticeOut.model_validate(notice, from_attributes=True)


def event_out(event: Event) -> EventOut:
    return EventOut.model_validate(event, from_attributes=True)


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    types = ["*"] if endpoint.event_types == "*" else endpoint.event_types.strip(",").split(",")
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        event_types=types,
        active=endpoint.active,
        created_at=endpoint.created_at,
    )


def endpoint_created(endpoint: WebhookEndpoint) -> EndpointCreated:
    """The endpoint with its signing secret (shown once, at creation)."""
    return EndpointCreated(**endpoint_out(endpoint).model_dump(), secret=endpoint.secret)


def delivery_out(d: WebhookDelivery, e: Event) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        endpoint_id=d.endpoint_id,
        event_id=d.event_id,
        event_type=e.type,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        delivered_at=d.delivered_at,
    )


def buyer_message_out(session: Session, message: BuyerMessage) -> BuyerMessageOut:
    """Cards are rendered as they are now (``service.as_read``), not as they were sent."""
    view = service.as_read(session, message)
    return BuyerMessageOut(
        id=message.id,
        shop_id=message.shop_id,
        kind=message.kind,
        title=view.title,
        body=view.body,
        payload=view.payload,
        rule=message.rule,
        created_at=message.created_at,
    )

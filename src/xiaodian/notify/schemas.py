"""API shapes for notices, events, webhooks and the buyer inbox (X1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from xiaodian.strict import RequestModel


class NoticeOut(BaseModel):
    id: int
    category: str
    title: str
    body: str
    link: str
    rule: str | None
    created_at: datetime
    read_at: datetime | None


class NoticesPage(BaseModel):
    items: list[NoticeOut]
    unread: int
    next_before_id: int | None


class EventOut(BaseModel):
    id: int
    type: str
    rule: str | None
    actor: str
    occurred_at: datetime
    payload: dict[str, Any]


class EventsPage(BaseModel):
    items: list[EventOut]
    next_before_id: int | None


class EndpointIn(RequestModel):
    url: str = Field(
        min_length=8,
        max_length=500,
        description="public http(s) URL to POST events to; a URL naming or resolving to a"
        " loopback, private, link-local, CGNAT, unique-local, multicast or cloud-metadata"
        " address is refused (422 webhook_url_forbidden, S1)",
    )
    event_types: list[str] = Field(default_factory=lambda: ["*"], description='["*"] = all')


class EndpointPatch(RequestModel):
    url: str | None = Field(None, max_length=500)
    event_types: list[str] | None = None
    active: bool | None = None


class EndpointOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="verifies X-Xiaodian-Signature — shown once")


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    event_id: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None = Field(description="null = due now")
    last_status_code: int | None
    last_error: str = Field(
        description="error class only, never the receiver's reply: HTTP 503, Timeout,"
        " ConnectError, NetworkError, TLSError, DNSError, ProtocolError, EgressRefused: <reason>"
    )
    delivered_at: datetime | None


class DeliveriesPage(BaseModel):
    items: list[DeliveryOut]
    next_before_id: int | None


class BuyerMessageOut(BaseModel):
    id: int
    shop_id: int
    kind: str
    title: str
    body: str
    payload: dict[str, Any]
    rule: str | None
    created_at: datetime


class InboxPage(BaseModel):
    items: list[BuyerMessageOut]
    next_before_id: int | None

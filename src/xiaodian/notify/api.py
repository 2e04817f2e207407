"""Open API: in-site notices, the event log, webhook endpoints and deliveries; the buyer
inbox (X1)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query

from xiaodian.api.deps import BuyerDep, CtxDep, NoticesApp, PageDep, WebhooksApp
from xiaodian.notify import service
from xiaodian.notify.mappers import (
    buyer_message_out,
    delivery_out,
    endpoint_created,
    endpoint_out,
    event_out,
    notice_out,
)
from xiaodian.notify.schemas import (
    DeliveriesPage,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EventsPage,
    InboxPage,
    NoticeOut,
    NoticesPage,
)

router = APIRouter()
NOTICES: list[str | Enum] = ["notices 站内通知"]
HOOKS: list[str | Enum] = ["webhooks"]


def _next(ids: list[int], limit: int) -> int | None:
    return ids[-1] if len(ids) == limit else None


@router.get("/api/v1/notices", response_model=NoticesPage, tags=NOTICES)
def list_notices(
    ctx: CtxDep,
    principal: NoticesApp,
    page: PageDep,
    unread_only: Annotated[bool, Query()] = False,
) -> NoticesPage:
    rows = service.list_notices(
        ctx.session,
        principal.shop_id,
        unread_only=unread_only,
        before_id=page.before_id,
        limit=page.limit,
    )
    return NoticesPage(
        items=[notice_out(n) for n in rows],
        unread=service.unread_count(ctx.session, principal.shop_id),
        next_before_id=_next([n.id for n in rows], page.limit),
    )


@router.post("/api/v1/notices/{notice_id}/read", response_model=NoticeOut, tags=NOTICES)
def read_notice(notice_id: int, ctx: CtxDep, principal: NoticesApp) -> NoticeOut:
    service.mark_read(ctx, principal.shop_id, notice_id)
    notice = service.get_notice(ctx.session, principal.shop_id, notice_id)
    ctx.session.refresh(notice)
    return notice_out(notice)


@router.post("/api/v1/notices/read_all", tags=NOTICES)
def read_all(ctx: CtxDep, principal: NoticesApp) -> dict[str, int]:
    return {"marked": service.mark_read(ctx, principal.shop_id)}


@router.get("/api/v1/events", response_model=EventsPage, tags=HOOKS)
def list_events(
    ctx: CtxDep,
    principal: WebhooksApp,
    page: PageDep,
    type_prefix: Annotated[str | None, Query(max_length=64)] = None,
) -> EventsPage:
    rows = service.list_events(
        ctx.session,
        principal.shop_id,
        type_prefix=type_prefix,
        before_id=page.before_id,
        limit=page.limit,
    )
    return EventsPage(
        items=[event_out(e) for e in rows],
        next_before_id=_next([e.id for e in rows], page.limit),
    )


@router.get("/api/v1/webhooks", response_model=list[EndpointOut], tags=HOOKS)
def list_endpoints(ctx: CtxDep, principal: WebhooksApp) -> list[EndpointOut]:
    return [endpoint_out(e) for e in service.list_endpoints(ctx.session, principal.shop_id)]


@router.post("/api/v1/webhooks", response_model=EndpointCreated, status_code=201, tags=HOOKS)
def create_endpoint(body: EndpointIn, ctx: CtxDep, principal: WebhooksApp) -> EndpointCreated:
    principal.require("apps.manage")
    endpoint = service.create_endpoint(
        ctx, principal.shop_id, url=body.url, event_types=body.event_types
    )
    return endpoint_created(endpoint)


@router.get("/api/v1/webhooks/{endpoint_id}", response_model=EndpointOut, tags=HOOKS)
def get_endpoint(endpoint_id: int, ctx: CtxDep, principal: WebhooksApp) -> EndpointOut:
    return endpoint_out(service.get_endpoint(ctx.session, principal.shop_id, endpoint_id))


@router.patch("/api/v1/webhooks/{endpoint_id}", response_model=EndpointOut, tags=HOOKS)
def patch_endpoint(
    endpoint_id: int, body: EndpointPatch, ctx: CtxDep, principal: WebhooksApp
) -> EndpointOut:
    principal.require("apps.manage")
    endpoint = service.update_endpoint(
        ctx,
        principal.shop_id,
        endpoint_id,
        url=body.url,
        event_types=body.event_types,
        active=body.active,
    )
    return endpoint_out(endpoint)


@router.get("/api/v1/webhooks/{endpoint_id}/deliveries", response_model=DeliveriesPage, tags=HOOKS)
def list_deliveries(
    endpoint_id: int,
    ctx: CtxDep,
    principal: WebhooksApp,
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
) -> DeliveriesPage:
    service.get_endpoint(ctx.session, principal.shop_id, endpoint_id)
    rows = service.list_deliveries(
        ctx.session,
        principal.shop_id,
        endpoint_id=endpoint_id,
        status=status,
        before_id=page.before_id,
        limit=page.limit,
    )
    items = [delivery_out(d, e) for d, e in rows]
    return DeliveriesPage(items=items, next_before_id=_next([i.id for i in items], page.limit))


@router.post("/api/v1/webhook_deliveries/{delivery_id}/redeliver", tags=HOOKS)
def redeliver(delivery_id: int, ctx: CtxDep, principal: WebhooksApp) -> dict[str, object]:
    principal.require("apps.manage")
    row = service.redeliver(ctx, principal.shop_id, delivery_id)
    return {"id": row.id, "status": row.status}


@router.get("/buyer/v1/inbox", response_model=InboxPage, tags=["buyer 买家"])
def buyer_inbox(ctx: CtxDep, buyer: BuyerDep, page: PageDep) -> InboxPage:
    rows = service.inbox(ctx.session, buyer.id, before_id=page.before_id, limit=page.limit)
    return InboxPage(
        items=[buyer_message_out(ctx.session, m) for m in rows],
        next_before_id=_next([m.id for m in rows], page.limit),
    )

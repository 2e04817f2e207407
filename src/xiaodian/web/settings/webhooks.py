"""设置 → Webhook: endpoints that receive every domain event, signed, with retries (X1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.notify import service as notify
from xiaodian.notify.models import WebhookEndpoint
from xiaodian.web.auth import Console, ConsoleCtx, CsrfForm, flash
from xiaodian.web.labels import label
from xiaodian.web.render import render
from xiaodian.web.session import show_once, take_shown_once

router = APIRouter(prefix="/console/settings/webhooks", include_in_schema=False)

PAGE_SIZE = 20
STATUS_LABELS = {"pending": "待投递", "delivered": "已送达", "failed": "失败"}


@router.get("")
def webhooks_page(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("apps.manage")
    created_id = take_shown_once(request, "webhook")
    created = None
    if created_id is not None:
        endpoints = notify.list_endpoints(console.ctx.session, console.shop_id)
        created = next((e for e in endpoints if e.id == created_id), None)
    return _list_page(request, console, created=created)


@router.post("")
def create_endpoint(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    url: Annotated[str, Form()] = "",
    event_types: Annotated[str, Form()] = "",
) -> Response:
    """Post/redirect/get: the next page shows the signing secret once (a refresh adds nothing)."""
    console.principal.require("apps.manage")
    endpoint = notify.create_endpoint(
        console.ctx, console.shop_id, url=url, event_types=_split_types(event_types)
    )
    flash(request, "已添加 Webhook 地址")
    show_once(request, "webhook", endpoint.id)
    return RedirectResponse("/console/settings/webhooks", status_code=303)


@router.get("/{endpoint_id}")
def endpoint_page(
    endpoint_id: int,
    request: Request,
    console: ConsoleCtx,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """One endpoint and its recent deliveries (status, attempts, last error)."""
    console.principal.require("apps.manage")
    session = console.ctx.session
    endpoint = notify.get_endpoint(session, console.shop_id, endpoint_id)
    rows = notify.list_deliveries(
        session,
        console.shop_id,
        endpoint_id=endpoint.id,
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    page = rows[:PAGE_SIZE]
    return render(
        request,
        "settings/webhook_detail.html",
        endpoint=endpoint,
        types=_types_label(endpoint),
        deliveries=page,
        status_labels=STATUS_LABELS,
        next_before_id=page[-1][0].id if len(rows) > PAGE_SIZE else None,
        first_page=before_id is None,
    )


@router.post("/{endpoint_id}/active")
def set_active(
    endpoint_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    active: Annotated[str, Form()] = "",
) -> Response:
    console.principal.require("apps.manage")
    endpoint = notify.update_endpoint(
        console.ctx, console.shop_id, endpoint_id, active=active == "1"
    )
    flash(request, "已启用" if endpoint.active else "已停用，新事件不再投递到该地址")
    return RedirectResponse("/console/settings/webhooks", status_code=303)


@router.post("/deliveries/{delivery_id}/redeliver")
def redeliver(delivery_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    console.principal.require("apps.manage")
    delivery = notify.redeliver(console.ctx, console.shop_id, delivery_id)
    flash(request, f"投递 #{delivery.id} 已重新排队")
    return RedirectResponse(f"/console/settings/webhooks/{delivery.endpoint_id}", status_code=303)


def _list_page(
    request: Request, console: Console, created: WebhookEndpoint | None = None
) -> Response:
    endpoints = notify.list_endpoints(console.ctx.session, console.shop_id)
    return render(
        request,
        "settings/webhooks.html",
        endpoints=[(endpoint, _types_label(endpoint)) for endpoint in endpoints],
        created=created,
    )


def _split_types(text: str) -> list[str]:
    """'order.paid, order.shipped' or one per line; empty means every event."""
    return [part for part in text.replace("\n", ",").replace(",", ",").split(",") if part.strip()]


def _types_label(endpoint: WebhookEndpoint) -> str:
    if endpoint.event_types == "*":
        return "全部事件"
    # U5: each subscribed type by its Chinese label (the codes stay in the API and the form)
    return "、".join(label(part, "event_type") for part in endpoint.event_types.split(",") if part)

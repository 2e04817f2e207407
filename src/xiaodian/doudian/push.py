"""抖店 message push (消息推送) on the X1 webhook machinery (issue 12, D4).

An app registers a push URL (``xiaodian.push_url``, a signed call through the 抖店 gateway, or
设置 → 抖店授权码 in the console): that makes a webhook endpoint subscribed to the 抖店 message
event types below, linked to the app (``doudian_push_endpoints``). ``subscribers.py`` turns
order and after-sale events into those messages; the webhook worker sends them — with its
retries, per-delivery claims (W3), egress rules (S1) and delivery log — in the platform's
format, built here:

* body: a JSON array of messages ``[{"tag": "101", "msg_id": "…", "data": "<JSON text>"}]``
  (one message per delivery; ``msg_id`` is the same on every retry — de-duplicate on it);
* headers ``app-id`` (the app key) and ``event-sign = hex(MD5(app_key + body + app_secret))``
  (as REFERENCE.md §1 and the public receiver ``zsmhub/doudian-sdk`` ``message/doudian_sign.go``
  have it);
* delivered only when the receiver answers ``{"code": 0, …}``; any other answer (a 200 with
  another body included) is retried with the usual backoff.

Tags follow the public SDK's message structs (``zsmhub/doudian-sdk`` ``message/``), which
disagree with REFERENCE.md on the 20x tail: 206 is 退款成功 (RefundSuccess), 207 售后关闭
(RefundClosed) and 208 买家修改售后申请 (RefundModified); REFERENCE.md had 207 success and 208
closed. 104 (logistics changed) and 105 (address changed) exist in the table but xiaodian has
no such change, so they are never sent.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.accounts.models import ApiApp
from xiaodian.accounts.scopes import app_has_scope
from xiaodian.context import Ctx
from xiaodian.doudian.models import DoudianPushEndpoint
from xiaodian.notify import service as notify
from xiaodian.notify.models import Event, WebhookEndpoint
from xiaodian.notify.webhooks import register_wire_format

# tag → event type (the platform's message names; they are the event types in the delivery log)
ORDER_TAGS: dict[str, str] = {
    "100": "doudian_trade_TradeCreate",
    "101": "doudian_trade_TradePaid",
    "102": "doudian_trade_TradeSellerShip",
    "103": "doudian_trade_TradeSuccess",
    "104": "doudian_trade_TradeLogisticsChanged",
    "105": "doudian_trade_TradeAddressChanged",
    "106": "doudian_trade_TradeCanceled",
}
REFUND_TAGS: dict[str, str] = {
    "200": "doudian_refund_RefundCreated",
    "201": "doudian_refund_RefundAgreed",
    "202": "doudian_refund_ReturnApplyAgreed",
    "203": "doudian_refund_BuyerReturnGoods",
    "204": "doudian_refund_RefundRefused",
    "205": "doudian_refund_ReturnApplyRefused",
    "206": "doudian_refund_RefundSuccess",
    "207": "doudian_refund_RefundClosed",
    "208": "doudian_refund_RefundModified",
}
TAGS: dict[str, str] = {**ORDER_TAGS, **REFUND_TAGS}
TAG_OF: dict[str, str] = {event: tag for tag, event in TAGS.items()}

# Which app scopes may receive a family of tags: the data's own scope, or ``webhooks`` (an app
# that may subscribe to every native event may have them in this dialect too).
ORDER_SCOPES = ("orders", "webhooks")
REFUND_SCOPES = ("aftersales", "webhooks")
REGISTER_SCOPES = ("orders", "aftersales", "webhooks")
# ``session.info`` key of the subscribers' per-shop memo of pushing apps.
PUSH_APPS_MEMO = "doudian_push_apps"


def scopes_for(tag: str) -> tuple[str, ...]:
    return ORDER_SCOPES if tag in ORDER_TAGS else REFUND_SCOPES


def may_receive(app: ApiApp, tag: str) -> bool:
    return any(app_has_scope(app, scope) for scope in scopes_for(tag))


def event_sign(app_key: str, body: bytes, app_secret: str) -> str:
    """``hex(MD5(app_key + body + app_secret))`` — the ``event-sign`` header."""
    digest = hashlib.md5(app_key.encode() + body + app_secret.encode(), usedforsecurity=False)
    return digest.hexdigest()


def acknowledged(answer: bytes) -> bool:
    """The receiver took the messages: a JSON object whose ``code`` is 0."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    code = parsed.get("code")
    return code in (0, "0") and not isinstance(code, bool)


# ----- registration ------------------------------------------------------------------------


def register_push(
    ctx: Ctx, app: ApiApp, url: str, tags: list[str] | None
) -> tuple[WebhookEndpoint, list[str]]:
    """The app's push endpoint for ``url`` (S1-checked by ``create_endpoint``): created, or —
    when this app already pushes to this URL — its tags replaced and re-activated. ``tags``
    None means every tag the app's scopes allow; the caller checks a given list."""
    ctx.session.info.pop(PUSH_APPS_MEMO, None)
    chosen = sorted(tags if tags is not None else [t for t in TAGS if may_receive(app, t)])
    types = [TAGS[t] for t in chosen]
    url = url.strip()
    existing = ctx.session.scalar(
        select(WebhookEndpoint)
        .join(DoudianPushEndpoint, DoudianPushEndpoint.endpoint_id == WebhookEndpoint.id)
        .where(
            DoudianPushEndpoint.app_id == app.id,
            WebhookEndpoint.shop_id == app.shop_id,
            WebhookEndpoint.url == url,
        )
    )
    if existing is not None:
        endpoint = notify.update_endpoint(
            ctx, app.shop_id, existing.id, event_types=types, active=True
        )
        return endpoint, chosen
    endpoint = notify.create_endpoint(ctx, app.shop_id, url=url, event_types=types)
    ctx.session.add(
        DoudianPushEndpoint(endpoint_id=endpoint.id, app_id=app.id, shop_id=app.shop_id)
    )
    ctx.session.flush()
    return endpoint, chosen


def push_endpoints(session: Session, shop_id: int) -> list[tuple[WebhookEndpoint, ApiApp]]:
    rows = session.execute(
        select(WebhookEndpoint, ApiApp)
        .join(DoudianPushEndpoint, DoudianPushEndpoint.endpoint_id == WebhookEndpoint.id)
        .join(ApiApp, ApiApp.id == DoudianPushEndpoint.app_id)
        .where(DoudianPushEndpoint.shop_id == shop_id)
        .order_by(WebhookEndpoint.id)
    )
    return [(endpoint, app) for endpoint, app in rows]


def tags_of(endpoint: WebhookEndpoint) -> list[str]:
    return [tag for tag, event in TAGS.items() if notify.subscribes(endpoint.event_types, event)]


# ----- the wire format ---------------------------------------------------------------------


def message(event: Event) -> dict[str, Any]:
    """One message of the array: the event's payload is ``{"tag", "data"}``."""
    payload: dict[str, Any] = event.payload
    tag = str(payload.get("tag") or TAG_OF.get(event.type, ""))
    return {
        "tag": tag,
        "msg_id": f"{event.occurred_at:%Y%m%d%H%M%S}{event.id:013d}{tag}",
        "data": json.dumps(payload.get("data", {}), ensure_ascii=False, separators=(",", ":")),
    }


def push_format(
    session: Session, endpoint: WebhookEndpoint, event: Event
) -> tuple[bytes, dict[str, str]] | None:
    link = session.get(DoudianPushEndpoint, endpoint.id)
    if link is None:
        return None  # a native endpoint subscribed to these types: xiaodian's envelope
    app = session.get(ApiApp, link.app_id)
    if app is None:
        return None
    body = json.dumps([message(event)], ensure_ascii=False, separators=(",", ":")).encode()
    return body, {"app-id": app.app_key, "event-sign": event_sign(app.app_key, body, app.secret)}


for _event_type in TAGS.values():
    register_wire_format(_event_type, push_format, accepts=acknowledged)

"""D5: how a ``life_trade_certificate_notify`` delivery looks on the wire when its endpoint
was registered as a 来客 push URL (``laike_push_endpoints``); other endpoints get xiaodian's
own envelope. Registered with the X1 webhook worker (``notify.webhooks``), which keeps doing
the sending, retries and delivery log.

Body ``{"event", "client_key", "content" (JSON text), "log_id"}``; headers
``X-Douyin-Signature = hex(SHA1(client_secret + body))`` and ``Msg-Id`` (the same for every
retry of one message: de-duplicate on it). The receiver answers HTTP 200.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy.orm import Session

from xiaodian.accounts.models import ApiApp
from xiaodian.laike.models import PushEndpoint
from xiaodian.laike.service import CERTIFICATE_EVENT
from xiaodian.notify.models import Event, WebhookEndpoint
from xiaodian.notify.webhooks import register_wire_format


def douyin_signature(client_secret: str, body: bytes) -> str:
    return hashlib.sha1(client_secret.encode() + body).hexdigest()


def certificate_notify(
    session: Session, endpoint: WebhookEndpoint, event: Event
) -> tuple[bytes, dict[str, str]] | None:
    link = session.get(PushEndpoint, endpoint.id)
    if link is None:
        return None
    app = session.get(ApiApp, link.app_id)
    if app is None:
        return None
    message = {
        "event": event.type,
        "client_key": app.app_key,
        "content": json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")),
        "log_id": event.occurred_at.strftime("%Y%m%d%H%M%S") + f"{event.id:020X}",
    }
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Msg-Id": f"life_trade_certificate_notify-{event.id}",
        "X-Douyin-Signature": douyin_signature(app.secret, body),
    }
    return body, headers


register_wire_format(CERTIFICATE_EVENT, certificate_notify)

"""消息 → 演示手机 (issue 17 F3): the SMS a demo "sent" to the logged-in account's phone.

Served only while the 演示手机 is the SMS provider and a demo is running (simulated clock or
``XIAODIAN_SMS__DEMO_PHONE``): the route is not even registered otherwise, so the menu hides it.
It lists only the messages sent to this account's own verification phone — never beside the
download, so the export permission alone does not hand over the code.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from xiaodian.errors import XiaodianError
from xiaodian.notify import sms
from xiaodian.orders.export.service import verification_phone
from xiaodian.web.auth import ConsoleCtx
from xiaodian.web.render import render

router = APIRouter(prefix="/console/demo-phone", include_in_schema=False)

SHOWN = 20


@router.get("")
def demo_phone_page(request: Request, console: ConsoleCtx) -> Response:
    session = console.ctx.session
    try:
        phone = verification_phone(session, console.principal)
    except XiaodianError:
        phone = ""
    messages = sms.outbox(session, console.shop_id, phone, limit=SHOWN) if phone else []
    return render(request, "demo_phone.html", phone=phone, messages=messages)

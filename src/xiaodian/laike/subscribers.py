"""D5: verifications and their cancellations (C6/C7) become ``life_trade_certificate_notify``
events for shops that registered a 来客 push URL. The event's payload is the platform's
``content``; ``push.py`` wraps and signs it when the X1 webhook worker sends it."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, select

from xiaodian.context import Ctx
from xiaodian.coupons.models import Verification
from xiaodian.laike import service
from xiaodian.laike.models import PushEndpoint
from xiaodian.notify.service import EmittedEvent, emit, subscribe


def _wanted(ctx: Ctx, shop_id: int) -> bool:
    """Whether the shop registered a 来客 push URL — asked on every verification, so read
    on every event (a URL registered a moment ago counts), with a statement built once and
    run without the ORM (issue 16: building it per event cost more CPU than running it)."""
    return (
        ctx.session.connection().execute(_wanted_query(), {"shop_id": shop_id}).first() is not None
    )


@functools.cache
def _wanted_query() -> Any:
    table = PushEndpoint.__table__
    return select(table.c.endpoint_id).where(table.c.shop_id == bindparam("shop_id")).limit(1)


def _content(ctx: Ctx, action: str, row: Verification) -> dict[str, Any]:
    certificate: dict[str, Any] = {
        "order_id": str(row.claim_id),
        "certificate_id": str(row.claim_id),
        "encrypted_code": service.encrypted_code(ctx, row.shop_id, row.claim_id),
        "verify_id": str(row.id),
        "poi_id": str(row.store_id),
        "account_id": str(row.shop_id),
        "verify_time": int(row.verified_at.timestamp()),
    }
    if row.cancelled_at is not None:
        certificate["cancel_time"] = int(row.cancelled_at.timestamp())
    return {"action": action, "msg_time": int(ctx.now.timestamp()), "certificate": certificate}


def _notify(ctx: Ctx, event: EmittedEvent, action: str, rule: str) -> None:
    if not _wanted(ctx, event.shop_id):
        return
    row = ctx.session.get(Verification, int(event.payload["verification_id"]))
    if row is None:
        return
    emit(ctx, event.shop_id, service.CERTIFICATE_EVENT, _content(ctx, action, row), rule=rule)


@subscribe("coupon.verified")
def verified(ctx: Ctx, event: EmittedEvent) -> None:
    _notify(ctx, event, "verify", "C6")


@subscribe("coupon.verification_cancelled")
def cancelled(ctx: Ctx, event: EmittedEvent) -> None:
    _notify(ctx, event, "verify_cancel", "C7")

"""D4: order and after-sale events become 抖店 push messages for shops where a live app
registered a push URL. The message's ``data`` is built here, when the change happens (the
state it describes), with the fields of the public SDK's message structs (``zsmhub/doudian-sdk``
``message/``): ids as numbers (int64 there), times unix seconds, money in fen; the after-sale
messages' ``update_time`` is RFC 3339 text (``time.Time`` there). ``push.py`` wraps and signs
it when the webhook worker sends it.

Mapping (SPEC rule of the change → tag):

* ``order.placed`` → 100, ``order.paid`` → 101, ``order.shipped`` (O3) → 102,
  ``order.completed`` → 103, ``order.closed`` (O5) and a full refund that closes an unshipped
  order (``order.refunded`` with status closed) → 106;
* ``aftersale.created`` (A1) → 200, ``agreed`` / ``agreed_on_refusal`` → 201,
  ``agreed_return`` → 202, ``return_shipped`` → 203, ``rejected`` → 205 for a return request
  refused before the goods came back, else 204, ``refunded`` → 206, ``withdrawn`` /
  ``closed`` → 207, ``modified`` → 208.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from xiaodian.accounts.models import ApiApp
from xiaodian.aftersales.models import AfterSaleRequest, RequestKind, RequestStatus
from xiaodian.context import Ctx
from xiaodian.doudian import enums, mappers
from xiaodian.doudian.gateway import UTC8
from xiaodian.doudian.models import DoudianPushEndpoint
from xiaodian.doudian.push import PUSH_APPS_MEMO, TAGS, may_receive
from xiaodian.notify.models import WebhookEndpoint
from xiaodian.notify.service import EmittedEvent, emit, subscribe
from xiaodian.orders.models import Order, OrderItem, OrderStatus

BIZ_SHOP = 2  # biz: 2 小店


def _wanted(ctx: Ctx, shop_id: int, tag: str) -> bool:
    """Some live app of the shop pushes this tag to an active endpoint. Looked up once per
    shop and session (a sweep closing thousands of orders asks once per shop); registering a
    push URL drops the memo (``push.register_push``)."""
    memo: dict[int, list[ApiApp]] = ctx.session.info.setdefault(PUSH_APPS_MEMO, {})
    if shop_id not in memo:
        memo[shop_id] = list(
            ctx.session.scalars(
                select(ApiApp)
                .join(DoudianPushEndpoint, DoudianPushEndpoint.app_id == ApiApp.id)
                .join(WebhookEndpoint, WebhookEndpoint.id == DoudianPushEndpoint.endpoint_id)
                .where(
                    DoudianPushEndpoint.shop_id == shop_id,
                    WebhookEndpoint.active.is_(True),
                    ApiApp.revoked_at.is_(None),
                )
            )
        )
    return any(may_receive(app, tag) for app in memo[shop_id])


def _push(ctx: Ctx, shop_id: int, tag: str, data: dict[str, Any], rule: str | None) -> None:
    emit(ctx, shop_id, TAGS[tag], {"tag": tag, "data": data}, rule=rule)


def _number(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _item_ids(ctx: Ctx, order: Order) -> list[int]:
    return list(
        ctx.session.scalars(
            select(OrderItem.id).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
        )
    )


def _order_data(ctx: Ctx, order: Order) -> dict[str, Any]:
    return {
        "biz": BIZ_SHOP,
        "order_status": enums.ORDER_STATUS.get(order.status, 1),
        "order_type": enums.ORDINARY_ORDER,
        "p_id": _number(order.order_no),
        "s_ids": _item_ids(ctx, order),
        "shop_id": order.shop_id,
    }


def _order(ctx: Ctx, event: EmittedEvent) -> Order | None:
    order_id = event.payload.get("order_id")
    return ctx.session.get(Order, int(order_id)) if order_id is not None else None


def _order_message(ctx: Ctx, event: EmittedEvent, tag: str) -> None:
    if not _wanted(ctx, event.shop_id, tag):
        return
    order = _order(ctx, event)
    if order is None:
        return
    ctx.session.refresh(order)
    data = _order_data(ctx, order)
    now = mappers.ts(ctx.now)
    if tag == "100":
        data["create_time"] = mappers.ts(order.created_at)
    elif tag == "101":
        data.update(
            pay_amount=order.paid_fen,
            pay_time=mappers.ts(order.paid_at) or now,
            pay_type=enums.PAY_TYPE.get(order.payment_route, 1),
        )
    elif tag == "102":
        code, _name = mappers.company(order)
        company_id = next((str(i) for i, c, _carrier in enums.COMPANIES if c == code), "")
        data.update(
            logistics_msg={
                "express_company_id": company_id,
                "logistics_code": order.tracking_no or "",
            },
            receiver_msg={
                "addr": order.address,
                "name": order.buyer_name,
                "tel": order.buyer_phone,
            },
            update_time=mappers.ts(order.shipped_at) or now,
        )
    elif tag == "103":
        data["complete_time"] = mappers.ts(order.completed_at) or now
    elif tag == "106":
        data.update(
            cancel_reason=order.close_reason or "",
            cancel_time=mappers.ts(order.closed_at) or now,
        )
    _push(ctx, event.shop_id, tag, data, event.rule)


@subscribe("order.placed")
def order_placed(ctx: Ctx, event: EmittedEvent) -> None:
    _order_message(ctx, event, "100")


@subscribe("order.paid")
def order_paid(ctx: Ctx, event: EmittedEvent) -> None:
    _order_message(ctx, event, "101")


@subscribe("order.shipped")
def order_shipped(ctx: Ctx, event: EmittedEvent) -> None:
    _order_message(ctx, event, "102")


@subscribe("order.completed")
def order_completed(ctx: Ctx, event: EmittedEvent) -> None:
    _order_message(ctx, event, "103")


@subscribe("order.closed")
def order_closed(ctx: Ctx, event: EmittedEvent) -> None:
    _order_message(ctx, event, "106")


@subscribe("order.refunded")
def order_refunded(ctx: Ctx, event: EmittedEvent) -> None:
    if event.payload.get("status") == OrderStatus.CLOSED:
        _order_message(ctx, event, "106")


# ----- after-sales -------------------------------------------------------------------------

TIME_FIELD: dict[str, str] = {
    "200": "apply_time",
    "201": "agree_time",
    "202": "agree_time",
    "203": "return_time",
    "204": "refuse_time",
    "205": "refuse_time",
    "206": "success_time",
    "207": "close_time",
    "208": "modify_time",
}
ACTION_TAG: dict[str, str] = {
    "created": "200",
    "agreed": "201",
    "agreed_on_refusal": "201",
    "agreed_return": "202",
    "return_shipped": "203",
    "rejected": "204",
    "refunded": "206",
    "withdrawn": "207",
    "closed": "207",
    "modified": "208",
}


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC8).isoformat(timespec="seconds")


def _refund_tag(action: str, req: AfterSaleRequest, from_status: str | None) -> str:
    tag = ACTION_TAG[action]
    if (
        tag == "204"
        and req.kind == RequestKind.RETURN_REFUND
        and from_status == RequestStatus.PENDING
    ):
        return "205"  # the return application itself refused
    return tag


def _refund_message(ctx: Ctx, event: EmittedEvent, action: str) -> None:
    req = ctx.session.get(AfterSaleRequest, int(event.payload["request_id"]))
    if req is None:
        return
    tag = _refund_tag(action, req, event.payload.get("from_status"))
    if not _wanted(ctx, event.shop_id, tag):
        return
    order = ctx.session.get(Order, req.order_id)
    if order is None:
        return
    items = [int(i["order_item_id"]) for i in req.items if "order_item_id" in i]
    data: dict[str, Any] = {
        "aftersale_id": req.id,
        "aftersale_status": mappers.aftersale_status(req),
        "aftersale_type": enums.AFTERSALE_TYPE.get(req.kind, 0),
        "p_id": _number(order.order_no),
        "s_id": items[0] if items else 0,
        "shop_id": req.shop_id,
        "reason_code": 0,
        "refund_amount": req.amount_fen,
        "refund_post_amount": 0,
        "refund_voucher_num": 0,
        TIME_FIELD[tag]: mappers.ts(ctx.now),
        "update_time": _rfc3339(req.updated_at or ctx.now),
    }
    _push(ctx, event.shop_id, tag, data, event.rule)


def _on(action: str) -> None:
    @subscribe(f"aftersale.{action}")
    def handler(ctx: Ctx, event: EmittedEvent) -> None:
        _refund_message(ctx, event, action)


for _action in ACTION_TAG:
    _on(_action)

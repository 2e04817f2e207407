"""Mappers: xiaodian's orders, after-sale requests and products in the 抖店 field names
(issue 12, D3). Field names and JSON types follow the public SDK's response structs
(``zsmhub/doudian-sdk`` ``api/<method>/response``): order ids are strings, ``shop_id`` and
``product_id`` numbers where the SDK has int64, times unix seconds, money in fen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xiaodian.aftersales.models import AfterSaleRequest, Evidence, RequestHistory, RequestStatus
from xiaodian.aftersales.reasons import BUYER_REASONS, REJECT_REASONS
from xiaodian.doudian import enums
from xiaodian.doudian.gateway import UTC8
from xiaodian.orders.carriers import find_carrier
from xiaodian.orders.models import AfterSale, Order, OrderItem, Product
from xiaodian.orders.prize import PRIZE_ROUTE
from xiaodian.orders.service import mask_phone


def ts(when: datetime | None) -> int:
    return int(when.timestamp()) if when is not None else 0


def trade_type(order: Order) -> int:
    return enums.TRADE_LUCKY_BAG if order.payment_route == PRIZE_ROUTE else enums.TRADE_ORDINARY


def _region(name: str = "") -> dict[str, str]:
    return {"id": "", "name": name}


def _addr(detail: str) -> dict[str, Any]:
    return {
        "province": _region(),
        "city": _region(),
        "town": _region(),
        "street": _region(),
        "detail": detail,
        "encrypt_detail": "",
    }


def _order_after_sale(order: Order) -> dict[str, int]:
    states: dict[str, tuple[int, int]] = {
        AfterSale.NONE: (0, 0),
        AfterSale.IN_PROGRESS: (6, enums.REFUND_PENDING),
        AfterSale.REFUND_AGREED: (12, enums.REFUNDING),
        AfterSale.REFUNDED: (12, enums.REFUND_SUCCESS),
        AfterSale.PARTIALLY_REFUNDED: (12, enums.REFUND_SUCCESS),
    }
    status, refund = states.get(order.after_sale, (0, 0))
    return {"after_sale_status": status, "after_sale_type": 0, "refund_status": refund}


def _carrier_name(code: str | None) -> str:
    found = find_carrier(code or "")
    return found.name if found is not None else ""


def company(order: Order) -> tuple[str, str]:
    """(platform company code, company name) of the order's carrier."""
    found = find_carrier(order.carrier or "")
    if found is None:
        return "", ""
    return enums.COMPANY_CODE_BY_CARRIER.get(found.code, found.code), found.name


def _common(order: Order, update_time: datetime | None) -> dict[str, Any]:
    status = enums.ORDER_STATUS.get(order.status, 1)
    trade = trade_type(order)
    return {
        "order_type": enums.ORDINARY_ORDER,
        "order_type_desc": enums.ORDER_TYPE_DESC[enums.ORDINARY_ORDER],
        "trade_type": trade,
        "trade_type_desc": enums.TRADE_TYPE_DESC[trade],
        "order_status": status,
        "order_status_desc": enums.ORDER_STATUS_DESC[status],
        "main_status": status,
        "main_status_desc": enums.ORDER_STATUS_DESC[status],
        "pay_time": ts(order.paid_at),
        "order_expire_time": 0,
        "finish_time": ts(order.completed_at),
        "create_time": ts(order.created_at),
        "update_time": ts(update_time or order.created_at),
        "cancel_reason": order.close_reason or "",
        "b_type": enums.B_TYPE_DOUYIN,
        "b_type_desc": enums.B_TYPE_DESC[enums.B_TYPE_DOUYIN],
        "pay_type": enums.PAY_TYPE.get(order.payment_route, 1),
        "post_tel": order.buyer_phone,
        "encrypt_post_tel": "",
        "post_receiver": order.buyer_name,
        "encrypt_post_receiver": "",
        "post_addr": _addr(order.address),
        "mask_post_receiver": (order.buyer_name[:1] + "*") if order.buyer_name else "",
        "mask_post_tel": mask_phone(order.buyer_phone),
        "mask_post_addr": _addr(order.address[:6] + "****" if order.address else ""),
        "exp_ship_time": ts(order.ship_by),
        "ship_time": ts(order.shipped_at),
    }


def sku_order(order: Order, item: OrderItem, update_time: datetime | None) -> dict[str, Any]:
    return {
        **_common(order, update_time),
        "order_id": str(item.id),
        "parent_order_id": order.order_no,
        "order_level": 3,
        "biz": 2,
        "biz_desc": "小店",
        "order_amount": item.amount_fen,
        "pay_amount": item.amount_fen if order.paid_at else 0,
        "post_amount": 0,
        "promotion_amount": 0,
        "goods_type": 0,
        "product_id": item.product_id,
        "product_id_str": str(item.product_id),
        "product_name": item.title,
        "product_pic": "",
        "sku_id": item.product_id,
        "spec": [],
        "origin_amount": item.unit_price_fen,
        "item_num": item.qty,
        "sum_amount": item.unit_price_fen * item.qty,
        "after_sale_info": _order_after_sale(order),
        "code": "",
        "out_sku_id": "",
        "out_product_id": "",
    }


def shop_order(
    order: Order,
    items: list[OrderItem],
    update_time: datetime | None,
    shop_name: str,
) -> dict[str, Any]:
    """One order as order.searchList's ``shop_order_list[]`` and order.orderDetail's
    ``shop_order_detail`` have it."""
    code, name = company(order)
    logistics = []
    if order.tracking_no:
        logistics.append(
            {
                "tracking_no": order.tracking_no,
                "company": code,
                "company_name": name,
                "ship_time": ts(order.shipped_at),
                "delivery_id": "",
                "product_info": [
                    {
                        "product_name": item.title,
                        "price": item.unit_price_fen,
                        "outer_sku_id": "",
                        "sku_id": item.product_id,
                        "sku_specs": [],
                        "product_count": item.qty,
                        "product_id": item.product_id,
                        "sku_order_id": str(item.id),
                        "product_id_str": str(item.product_id),
                    }
                    for item in items
                ],
            }
        )
    return {
        **_common(order, update_time),
        "shop_id": order.shop_id,
        "shop_name": shop_name,
        "open_id": "",
        "order_id": order.order_no,
        "order_level": 2,
        "biz": 2,
        "biz_desc": "小店",
        "buyer_words": "",
        "seller_words": "",
        "seller_remark_stars": 0,
        "order_amount": order.goods_fen,
        "pay_amount": order.paid_fen,
        "post_amount": 0,
        "post_insurance_amount": 0,
        "modify_amount": 0,
        "modify_post_amount": 0,
        "promotion_amount": order.discount_fen,
        "promotion_shop_amount": order.discount_fen,
        "promotion_platform_amount": 0,
        "promotion_talent_amount": 0,
        "promotion_pay_amount": 0,
        "promotion_redpack_amount": 0,
        "total_promotion_amount": order.discount_fen,
        "logistics_info": logistics,
        "sku_order_list": [sku_order(order, item, update_time) for item in items],
        "doudian_open_id": f"buyer{order.buyer_id}",
    }


# ----- after-sales -------------------------------------------------------------------------


def aftersale_status(req: AfterSaleRequest) -> int:
    if req.status == RequestStatus.REJECTED and req.return_tracking_no:
        return enums.REJECTED_AFTER_RETURN
    return enums.AFTERSALE_STATUS.get(req.status, 6)


def refund_status(req: AfterSaleRequest) -> int:
    if req.status == RequestStatus.REFUNDED:
        return enums.REFUND_SUCCESS
    if req.status == RequestStatus.AGREED:
        return enums.REFUND_FAILED if req.refund_error else enums.REFUNDING
    return enums.REFUND_PENDING


def _refund_route_type(order: Order) -> int:
    return enums.REFUND_NOT_NEEDED if order.paid_fen == 0 else enums.REFUND_ORIGINAL_ROUTE


def _reason_text(req: AfterSaleRequest) -> str:
    reason = BUYER_REASONS.get(req.kind, {}).get(req.reason)
    return reason.label if reason is not None else req.reason


def _qty(req: AfterSaleRequest) -> int:
    return sum(int(i.get("qty", 0)) for i in req.items)


def aftersale_list_item(
    req: AfterSaleRequest, order: Order, items: list[OrderItem]
) -> dict[str, Any]:
    """afterSale.List ``items[]``: ``aftersale_info``, ``order_info``, ``text_part``."""
    kind = enums.AFTERSALE_TYPE[req.kind]
    status = aftersale_status(req)
    code, name = company(order)
    chosen = {int(i["order_item_id"]): int(i["qty"]) for i in req.items}
    return {
        "aftersale_info": {
            "aftersale_id": str(req.id),
            "aftersale_order_type": 2,
            "aftersale_type": kind,
            "aftersale_status": status,
            "related_id": order.order_no,
            "apply_time": ts(req.applied_at),
            "update_time": ts(req.updated_at),
            "status_deadline": ts(req.due_at),
            "refund_amount": req.amount_fen,
            "refund_post_amount": 0,
            "aftersale_num": _qty(req),
            "part_type": 0 if req.amount_fen >= order.paid_fen else 1,
            "aftersale_refund_type": _refund_route_type(order),
            "refund_type": enums.REFUND_BY_ASSISTANT if req.decided_strategy else 0,
            "arbitrate_status": 0,
            "create_time": ts(req.applied_at),
            "refund_status": refund_status(req),
            "return_logistics_code": req.return_tracking_no or "",
            "return_logistics_company_name": _carrier_name(req.return_carrier),
            "remark": req.reject_note or "",
            "got_pkg": 1 if order.shipped_at else 0,
            "order_logistics": (
                [
                    {
                        "tracking_no": order.tracking_no,
                        "company_name": name,
                        "company_code": code,
                        "logistics_time": ts(order.shipped_at),
                        "logistics_state": 0,
                    }
                ]
                if order.tracking_no
                else []
            ),
            "is_agree_refuse_sign": 1 if req.status == RequestStatus.AGREED_ON_REFUSAL else 2,
        },
        "order_info": {
            "shop_order_id": order.order_no,
            "order_flag": 0,
            "related_order_info": [
                {
                    "sku_order_id": str(item.id),
                    "order_status": enums.ORDER_STATUS.get(order.status, 2),
                    "pay_amount": item.amount_fen,
                    "post_amount": 0,
                    "item_num": item.qty,
                    "create_time": ts(order.created_at),
                    "product_name": item.title,
                    "product_id": item.product_id,
                    "product_image": "",
                    "logistics_code": order.tracking_no or "",
                    "aftersale_item_num": chosen[item.id],
                    "price": item.unit_price_fen,
                }
                for item in items
                if item.id in chosen
            ],
        },
        "text_part": {
            "aftersale_status_text": enums.AFTERSALE_STATUS_DESC.get(status, ""),
            "aftersale_type_text": enums.AFTERSALE_TYPE_DESC[kind],
            "reason_text": _reason_text(req),
            "logistics_text": "已发货" if order.shipped_at else "未发货",
        },
    }


def aftersale_detail(
    req: AfterSaleRequest,
    order: Order,
    items: list[OrderItem],
    evidence: list[Evidence],
    history: list[RequestHistory],
) -> dict[str, Any]:
    """afterSale.Detail ``data``: ``process_info`` and ``order_info`` (ids numeric there, as
    the SDK's struct has them)."""
    kind = enums.AFTERSALE_TYPE[req.kind]
    status = aftersale_status(req)
    code, name = company(order)
    chosen = {int(i["order_item_id"]): int(i["qty"]) for i in req.items}
    buyer_images = [e.filename for e in evidence if e.party == "buyer"]
    return {
        "process_info": {
            "after_sale_info": {
                "after_sale_id": req.id,
                "after_sale_status": status,
                "after_sale_status_desc": enums.AFTERSALE_STATUS_DESC.get(status, ""),
                "refund_type": _refund_route_type(order),
                "refund_type_text": "原路退回" if order.paid_fen else "无需退款",
                "refund_status": refund_status(req),
                "refund_total_amount": req.amount_fen,
                "refund_post_amount": 0,
                "apply_time": ts(req.applied_at),
                "update_time": ts(req.updated_at),
                "reason": _reason_text(req),
                "reason_code": 0,
                "after_sale_type": kind,
                "after_sale_type_text": enums.AFTERSALE_TYPE_DESC[kind],
                "reason_remark": req.note,
                "evidence": buyer_images,
                "after_sale_apply_count": _qty(req),
                "need_return_count": _qty(req) if kind == 0 else 0,
                "real_refund_amount": req.amount_fen if req.status == RequestStatus.REFUNDED else 0,
                "got_pkg": 1 if order.shipped_at else 0,
                "status_deadline": ts(req.due_at),
                "part_type": 0 if req.amount_fen >= order.paid_fen else 1,
                "refund_fail_reason": req.refund_error or "",
                "store_id": "",
                "store_name": "",
                "after_sale_order_type": 2,
            },
            "logistics_info": {
                "order": (
                    [
                        {
                            "tracking_no": order.tracking_no,
                            "company_name": name,
                            "company_code": code,
                            "logistics_time": ts(order.shipped_at),
                            "logistics_state": 0,
                        }
                    ]
                    if order.tracking_no
                    else []
                ),
                "return": (
                    {
                        "tracking_no": req.return_tracking_no,
                        "company_code": enums.COMPANY_CODE_BY_CARRIER.get(
                            req.return_carrier or "", req.return_carrier or ""
                        ),
                        "company_name": "",
                        "logistics_time": 0,
                    }
                    if req.return_tracking_no
                    else None
                ),
            },
            "record_logs_list": [
                {
                    "operator": h.actor,
                    "time": h.at.astimezone(UTC8).strftime("%Y-%m-%d %H:%M:%S"),
                    "text": h.note or h.action,
                    "images": [],
                    "action": h.action,
                    "role": 2 if h.actor.startswith(("user:", "app:")) else 1,
                    "all_evidence": [],
                }
                for h in history
            ],
        },
        "order_info": {
            "shop_order_id": int(order.order_no),
            "sku_order_infos": [
                {
                    "sku_order_id": item.id,
                    "order_status": enums.ORDER_STATUS.get(order.status, 2),
                    "pay_amount": item.amount_fen,
                    "post_amount": 0,
                    "item_quantity": item.qty,
                    "create_time": ts(order.created_at),
                    "product_name": item.title,
                    "product_id": item.product_id,
                    "product_image": "",
                    "sku_id": item.product_id,
                    "item_sum_amount": item.unit_price_fen * item.qty,
                    "sku_pay_amount": item.amount_fen,
                    "promotion_amount": 0,
                    "pay_type": enums.PAY_TYPE.get(order.payment_route, 1),
                    "after_sale_item_count": chosen[item.id],
                }
                for item in items
                if item.id in chosen
            ],
        },
    }


def reject_reasons() -> list[dict[str, Any]]:
    return [
        {
            "reject_reason_code": enums.REJECT_REASON_CODE[key],
            "reason": reason.label,
            "evidence_description": reason.hint,
            "evidence_need": "Y" if reason.min_evidence > 0 else "N",
            "image": "",
            "order_type": -1,
            "pkg": -1,
        }
        for key, reason in REJECT_REASONS.items()
    ]


# ----- products ----------------------------------------------------------------------------


def _check_status(product: Product) -> int:
    return enums.CHECK_BANNED if product.banned_at is not None else enums.CHECK_APPROVED


def _status(product: Product) -> int:
    """U1: 下线 once the merchant delisted it, else 在线 (a ban shows in check_status)."""
    return enums.PRODUCT_OFFLINE if product.delisted_at is not None else enums.PRODUCT_ONLINE


def _updated(product: Product) -> datetime:
    return max(t for t in (product.created_at, product.banned_at, product.updated_at) if t)


def product_list_item(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "status": _status(product),
        "check_status": _check_status(product),
        "market_price": product.price_fen,
        "discount_price": product.price_fen,
        "img": "",
        "name": product.title,
        "product_type": 0,
        "spec_id": product.id,
        "create_time": ts(product.created_at),
        "update_time": ts(_updated(product)),
        "description": "",
        "outer_product_id": "",
        "is_package_product": False,
    }


def product_detail(product: Product, ship_within_hours: int) -> dict[str, Any]:
    def fmt(when: datetime) -> str:
        return when.astimezone(UTC8).strftime("%Y-%m-%d %H:%M:%S")

    return {
        "product_id": product.id,
        "product_id_str": str(product.id),
        "outer_product_id": "",
        "name": product.title,
        "description": "",
        "delivery_method": max(1, -(-ship_within_hours // 24)),
        "status": _status(product),
        "check_status": _check_status(product),
        "spec_id": product.id,
        "draft_status": 0,
        "create_time": fmt(product.created_at),
        "update_time": fmt(_updated(product)),
        "pic": [],
        "img": "",
        "market_price": product.price_fen,
        "discount_price": product.price_fen,
        "product_type": 0,
        "presell_type": 0,
        "spec_prices": [
            {
                "sku_id": product.id,
                "outer_sku_id": "",
                "spec_detail_ids": [],
                "stock_num": product.stock,
                "price": product.price_fen,
                "code": "",
                "sku_type": 0,
            }
        ],
        "specs": [],
    }

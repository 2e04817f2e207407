"""The 抖店 platform's enumerations, and how xiaodian's states read in them (issue 12, D3).

Values are the platform's as the public SDK (``zsmhub/doudian-sdk``, generated from the
platform's API descriptions) and ``REFERENCE.md`` give them. Where a xiaodian state has no
exact platform counterpart, the nearest one is chosen and the choice is written here.
"""

from __future__ import annotations

from typing import Final

from xiaodian.aftersales.models import RequestKind, RequestStatus
from xiaodian.orders.models import OrderStatus

# ----- envelope codes (REFERENCE.md §1 "Response envelope") ----------------------------------

OK: Final = 10000
TOKEN_INVALID: Final = 30001  # access_token 不存在 / 无效
TOKEN_EXPIRED: Final = 30002  # access_token 已过期
MISSING_PARAMETER: Final = 40001  # 缺少必选参数
INVALID_PARAMETER: Final = 40003  # 参数或签名不合法
BUSINESS_ERROR: Final = 50002  # 业务处理失败

MSG: Final[dict[int, str]] = {
    OK: "success",
    TOKEN_INVALID: "access_token不合法",
    TOKEN_EXPIRED: "access_token已过期",
    MISSING_PARAMETER: "缺少必选参数",
    INVALID_PARAMETER: "参数不合法",
    BUSINESS_ERROR: "业务处理失败",
}

# ----- order_status (订单状态) ----------------------------------------------------------------

ORDER_STATUS_DESC: Final[dict[int, str]] = {
    1: "待支付",
    105: "已支付",
    2: "备货中",
    101: "部分发货",
    3: "已发货",
    4: "已取消",
    5: "已完成",
}

# xiaodian ships an order whole (one tracking number, O3), so 101 部分发货 never occurs, and a
# paid order is awaiting shipment at once, so it reads 2 备货中 rather than 105 已支付.
ORDER_STATUS: Final[dict[str, int]] = {
    OrderStatus.PENDING_PAYMENT: 1,
    OrderStatus.AWAITING_SHIPMENT: 2,
    OrderStatus.SHIPPED: 3,
    OrderStatus.CLOSED: 4,
    OrderStatus.COMPLETED: 5,
}

# combine_status filter: the platform's code → xiaodian statuses it selects.
ORDER_STATUS_FILTER: Final[dict[int, tuple[str, ...]]] = {
    1: (OrderStatus.PENDING_PAYMENT,),
    105: (),
    2: (OrderStatus.AWAITING_SHIPMENT,),
    101: (),
    3: (OrderStatus.SHIPPED,),
    4: (OrderStatus.CLOSED,),
    5: (OrderStatus.COMPLETED,),
}

# ----- order_type / trade_type / b_type / pay_type ------------------------------------------

ORDER_TYPE_DESC: Final[dict[int, str]] = {
    0: "普通订单",
    2: "虚拟商品订单",
    4: "电子券",
    5: "三方核销",
}
ORDINARY_ORDER: Final = 0

TRADE_TYPE_DESC: Final[dict[int, str]] = {0: "普通", 5: "0元单", 11: "0元抽奖（超级福袋）"}
TRADE_ORDINARY: Final = 0
TRADE_LUCKY_BAG: Final = 11  # a redeemed lucky-bag prize order (L2)

B_TYPE_DESC: Final[dict[int, str]] = {2: "抖音", 11: "抖音极速版"}
B_TYPE_DOUYIN: Final = 2

# pay_type: 0 货到付款 1 微信 2 支付宝 3 小程序 4 银行卡 5 余额 7 无需支付(0元单) …
PAY_TYPE: Final[dict[str, int]] = {
    "wechat": 1,
    "alipay": 2,
    "bank_card": 4,
    "douyin_pay": 5,
    "prize": 7,
}

# ----- after-sales --------------------------------------------------------------------------

AFTERSALE_TYPE: Final[dict[str, int]] = {
    RequestKind.RETURN_REFUND: 0,  # 退货退款
    RequestKind.SHIPPED_REFUND: 1,  # 已发货仅退款
    RequestKind.UNSHIPPED_REFUND: 2,  # 未发货仅退款
}
AFTERSALE_TYPE_DESC: Final[dict[int, str]] = {
    0: "退货退款",
    1: "已发货仅退款",
    2: "未发货仅退款",
    3: "换货",
}
KIND_BY_TYPE: Final[dict[int, str]] = {v: k for k, v in AFTERSALE_TYPE.items()}

AFTERSALE_STATUS_DESC: Final[dict[int, str]] = {
    6: "待商家同意",
    7: "待买家退货",
    11: "待商家二次同意",
    12: "售后成功",
    27: "商家一次拒绝",
    28: "售后失败",
    29: "商家二次拒绝",
}

# 拒签后退款 (A2.4) stays 6 on the platform with is_agree_refuse_sign = 1; an agreed request
# whose refund is still being paid is 12 with refund_status 2 (退款中).
AFTERSALE_STATUS: Final[dict[str, int]] = {
    RequestStatus.PENDING: 6,
    RequestStatus.AGREED_ON_REFUSAL: 6,
    RequestStatus.AWAITING_RETURN: 7,
    RequestStatus.BUYER_RETURNED: 11,
    RequestStatus.AGREED: 12,
    RequestStatus.REFUNDED: 12,
    RequestStatus.REJECTED: 27,
    RequestStatus.WITHDRAWN: 28,
    RequestStatus.CLOSED: 28,
}
REJECTED_AFTER_RETURN: Final = 29

# refund_status: 1 待退款 2 退款中 3 退款成功 4 退款失败
REFUND_PENDING, REFUNDING, REFUND_SUCCESS, REFUND_FAILED = 1, 2, 3, 4

# aftersale_refund_type (the SDK's name; REFERENCE.md calls this enumeration refund_type):
# 0 原路退回 1 线下 2 备用金 3 保证金 4 无需退款.
REFUND_ORIGINAL_ROUTE, REFUND_NOT_NEEDED = 0, 4
# refund_type in afterSale.List (退款方式): 2 售后小助手 when a strategy (A2) decided.
REFUND_BY_ASSISTANT: Final = 2

# afterSale.operate ``type``: 201/202 refund-only; 101/102 the return request; 111/112 the
# refund after the goods came back.
AGREE_REFUND, REFUSE_REFUND = 201, 202
AGREE_RETURN, REFUSE_RETURN = 101, 102
AGREE_AFTER_RETURN, REFUSE_AFTER_RETURN = 111, 112
OPERATE_TYPES: Final[dict[int, tuple[str, frozenset[str]]]] = {
    AGREE_REFUND: (
        "agree",
        frozenset({RequestKind.SHIPPED_REFUND, RequestKind.UNSHIPPED_REFUND}),
    ),
    REFUSE_REFUND: (
        "reject",
        frozenset({RequestKind.SHIPPED_REFUND, RequestKind.UNSHIPPED_REFUND}),
    ),
    AGREE_RETURN: ("agree", frozenset({RequestKind.RETURN_REFUND})),
    REFUSE_RETURN: ("reject", frozenset({RequestKind.RETURN_REFUND})),
    AGREE_AFTER_RETURN: ("agree", frozenset({RequestKind.RETURN_REFUND})),
    REFUSE_AFTER_RETURN: ("reject", frozenset({RequestKind.RETURN_REFUND})),
}
# Which request status each return-flow type acts on (refund-only types act on any status the
# after-sales service accepts).
OPERATE_STATUS: Final[dict[int, str]] = {
    AGREE_RETURN: RequestStatus.PENDING,
    REFUSE_RETURN: RequestStatus.PENDING,
    AGREE_AFTER_RETURN: RequestStatus.BUYER_RETURNED,
    REFUSE_AFTER_RETURN: RequestStatus.BUYER_RETURNED,
}

# reject_reason_code ↔ xiaodian's rejection reasons (aftersales/reasons.py, A4).
REJECT_REASON_CODE: Final[dict[str, int]] = {
    "fresh_food": 101,
    "customized": 102,
    "signed_intact": 103,
    "agreed_with_buyer": 104,
    "other": 199,
}
REJECT_REASON_BY_CODE: Final[dict[int, str]] = {v: k for k, v in REJECT_REASON_CODE.items()}

# evidence[].type: 1 图片 2 视频 3 音频 4 文字
EVIDENCE_TYPES: Final[dict[int, str]] = {1: "image", 2: "video", 3: "audio", 4: "text"}

# ----- products (product.detail / product.listV2) -------------------------------------------

PRODUCT_ONLINE: Final = 0  # status 0 在线
PRODUCT_OFFLINE: Final = 1  # status 1 下线 (U1 下架: delisted by the merchant)
CHECK_APPROVED, CHECK_BANNED = 3, 5  # check_status 3 审核通过, 5 封禁 (O8 商品封禁)

# ----- logistics (order.logisticsCompanyList ids) -------------------------------------------

# The platform names carriers by pinyin codes; each maps onto a carrier of orders/carriers.py
# (whose own codes are accepted too).
COMPANIES: Final[tuple[tuple[int, str, str], ...]] = (
    (7, "shunfeng", "SF"),
    (15, "zhongtong", "ZTO"),
    (12, "yuantong", "YTO"),
    (14, "yunda", "YUNDA"),
    (13, "shentong", "STO"),
    (16, "ems", "EMS"),
    (110, "jd", "JD"),
)
CARRIER_BY_COMPANY_CODE: Final[dict[str, str]] = {code: carrier for _, code, carrier in COMPANIES}
COMPANY_CODE_BY_CARRIER: Final[dict[str, str]] = {carrier: code for _, code, carrier in COMPANIES}

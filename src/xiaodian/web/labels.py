"""One registry of the Chinese labels the console shows for internal codes (issue 13, U5).

A merchant never meets an English code: every enum value of every context is shown through
this registry — in templates with the ``label`` filter (``{{ order.payment_route|label(
"payment_route") }}``), actors with ``actor`` (``user:1`` → the account's name, ``buyer:16`` →
the buyer's nickname, sweeps → 系统, the operator → 平台), status transitions with
``transition`` (``none → in_progress`` → 无售后 → 售后中) and rule ids with ``rule_badge`` (a
small badge whose tooltip names the rule in Chinese and links to 规则说明, ``/console/rules``).

``GROUPS`` maps a group name to ``{code: label}``; ``ENUM_VALUES`` maps the same names to the
values the contexts define (their enums, literal types and registries), so a test can walk
every value and fail when one has no label. The group tables reuse the contexts' own label
dicts where they exist, so a context keeps one place for its wording.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, get_args

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from xiaodian.aftersales.logistics import EVENT_LABELS as CARRIER_EVENT_LABELS
from xiaodian.aftersales.models import (
    INTERCEPTION_LABELS,
    KIND_LABELS,
    PACKAGE_LABELS,
    STRATEGY_LABELS,
    PackageStatus,
    RequestKind,
    RequestStatus,
    StrategyCode,
)
from xiaodian.aftersales.models import STATUS_LABELS as AFTERSALE_STATUS_LABELS
from xiaodian.aftersales.schemas import Action as AftersaleAction
from xiaodian.coupons.models import CampaignStatus, ClaimStatus, CouponStatus
from xiaodian.ledger.models import ACCOUNT_LABELS, Account
from xiaodian.luckybags.service import LIVE_STATE_LABELS, WIN_STATUS_LABELS, LiveState, WinStatus
from xiaodian.notify.service import NOTICE_PERMISSIONS, NOTICES_FOR_EVERYONE
from xiaodian.orders.carriers import CARRIERS
from xiaodian.orders.export.models import EXPORT_STATUS_LABELS, ExportStatus
from xiaodian.orders.models import (
    AFTER_SALE_LABELS,
    FALLBACK_ROUTE,
    PAYMENT_ROUTES,
    PENALTY_LABELS,
    STATUS_LABELS,
    AfterSale,
    OrderStatus,
    PenaltyStatus,
)
from xiaodian.orders.prize import PRIZE_ROUTE
from xiaodian.orders.schemas import ViolationState
from xiaodian.orders.service import REVIEW_DECISIONS
from xiaodian.redpackets.models import DISPLAY_LABELS, DisplayStatus, PacketStatus
from xiaodian.service.models import CHANNELS as CONVERSATION_CHANNELS
from xiaodian.web.rules_text import RULES

# ----- the groups ---------------------------------------------------------------------------

PAYMENT_ROUTE_LABELS: dict[str, str] = {
    **PAYMENT_ROUTES,
    FALLBACK_ROUTE: "平台余额",
    PRIZE_ROUTE: "福袋奖品",
}
VIOLATION_LABELS: dict[str, str] = {
    "none": "无违规",
    "violated": "有发货超时",
    "max_judged": "已判定3次",
}
CARRIER_LABELS: dict[str, str] = {c.code: c.name for c in CARRIERS}
REDPACKET_STATUS_LABELS: dict[str, str] = {
    **DISPLAY_LABELS,
    PacketStatus.ACTIVE: "有效",
}
# 红包记录 (redpacket_logs.kind)
REDPACKET_LOG_LABELS: dict[str, str] = {
    "issue": "发放",
    "spend": "下单抵扣",
    "return_packet": "退回红包",
    "return_balance": "退回商家余额",
    "expire": "过期作废",
    "reclaim": "回收",
    "extend": "延长有效期",
    "remind": "到期提醒",
    "order_done": "订单完成",
}
VERIFICATION_STATUS_LABELS: dict[str, str] = {"verified": "已核销", "cancelled": "已撤销"}
VERIFICATION_CHANNEL_LABELS: dict[str, str] = {
    "code": "输入券码（核销人员）",
    "scan": "扫码（核销人员）",
    "console": "电脑输入券码",
    "console_scan": "电脑上传二维码",
    "api_v2": "核销接口v2",
}
# 收支明细 (ledger_txns.kind)
LEDGER_KIND_LABELS: dict[str, str] = {
    "balance_topup": "充值",
    "deposit_topup": "充值",
    "order_payment": "订单支付",
    "order_refund": "订单退款",
    "refund": "退款",
    "late_shipment_penalty": "违规扣款",
    "interception_fee": "拦截费用",
    "redpacket_issue": "红包发放",
    "redpacket_spend": "红包抵扣",
    "redpacket_reclaim": "红包回收",
    "redpacket_refund_packet": "退款退回红包",
    "redpacket_refund_balance": "退款退回商家余额",
}
NOTICE_CATEGORY_LABELS: dict[str, str] = {
    "funds": "资金",
    "violation": "违规",
    "order": "订单",
    "orders": "订单导出",
    "aftersales": "售后",
    "redpacket": "红包",
    "coupon": "卡券",
    "luckybag": "福袋",
    "service": "客服",
    "system": "系统",
    "security": "账号安全",
}
DELIVERY_STATUS_LABELS: dict[str, str] = {
    "pending": "待投递",
    "delivered": "已送达",
    "failed": "失败",
}
BUYER_MESSAGE_LABELS: dict[str, str] = {
    "text": "文字",
    "link": "链接",
    "card": "卡片",
    "reminder": "提醒",
}
AFTERSALE_ACTION_LABELS: dict[str, str] = {
    "created": "买家申请售后",
    "agree": "同意退款",
    "agreed": "同意退款",
    "reject": "拒绝",
    "rejected": "拒绝售后",
    "agree_on_refusal": "同意拒签后退款",
    "agreed_on_refusal": "同意拒签后退款",
    "agreed_return": "同意退货",
    "confirm_return": "确认收货",
    "return_shipped": "买家已寄回",
    "approve_change": "同意买家的修改或撤销",
    "decline_change": "不同意买家的修改或撤销",
    "change_requested": "买家申请修改或撤销",
    "change_declined": "商家不同意修改或撤销",
    "modified": "修改售后",
    "withdrawn": "撤销售后",
    "refunded": "退款成功",
    "refund_failed": "退款失败",
    "reopened": "重新打开",
    "closed": "订单已全额退款",
    "strategy_saved": "保存售后小助手策略",
    "interception_requested": "发起快递拦截",
    "interception_failed": "快递拦截失败",
    "intercepted_offline": "线下联系快递拦截",
    "erp_cancel_not_applied": "ERP 取消发货未自动退款",
    "intervention_requested": "买家申请平台介入",
}
PACKAGE_EVENT_LABELS: dict[str, str] = {
    **CARRIER_EVENT_LABELS,
    "created": "已揽收",
    "intercepted": "拦截成功",
    "interception_requested": "发起快递拦截",
    "interception_failed": "拦截失败",
    "interception_fee_collected": "扣除拦截费",
    "interception_fee_unpaid": "拦截费待支付",
    "shipment_cancelled": "ERP 取消发货",
    "intercepted_offline": "线下拦截成功",
}
# Event types (notify.events.type): subject + what happened.
EVENT_TYPE_LABELS: dict[str, str] = {
    "order.placed": "订单已创建",
    "order.paid": "订单已支付",
    "order.shipped": "订单已发货",
    "order.completed": "订单已完成",
    "order.closed": "订单已关闭",
    "order.refunded": "订单已退款",
    "order.refund_agreed": "订单已同意退款",
    "order.late_judged": "发货超时判定",
    "order.penalty_deducted": "扣除保证金",
    "order.penalty_waived": "违规不扣款",
    "orders.export.created": "订单导出已创建",
    "orders.export.completed": "订单导出已完成",
    "orders.export.failed": "订单导出失败",
    "orders.export.downloaded": "订单导出已下载",
    "product.created": "商品已创建",
    "product.banned": "商品已封禁",
    "product.unbanned": "商品已解封",
    "product.updated": "商品已编辑",
    "product.listed": "商品已上架",
    "product.delisted": "商品已下架",
    "product.stock_adjusted": "商品库存已调整",
    "aftersale.platform_overturned": "平台介入：改判退款",
    "platform.coupon_decided": "平台已审核卡券",
    "platform.product_unbanned": "平台已解封商品",
    "platform.shop_decided": "平台已处理店铺",
    "platform.aftersale_intervened": "平台已介入售后",
    "platform.suspension_lifted": "平台已解除停业整改",
    "shop.review_flagged": "店铺提交平台审核",
    "shop.review_decided": "平台审核已处理",
    "shop.douyin_bound": "绑定抖音号",
    "shop.douyin_unbound": "解除绑定抖音号",
    "redpacket.issued": "红包已发放",
    "redpacket.spent": "红包已使用",
    "redpacket.returned": "红包已退回",
    "redpacket.expired": "红包已过期",
    "redpacket.reclaimed": "红包已回收",
    "redpacket.extended": "红包已延长有效期",
    "redpacket.reminded": "红包到期提醒",
    "redpacket.order_completed": "红包订单已完成",
    "redpacket.settings_updated": "红包提醒设置已更新",
    "live.scheduled": "直播已创建",
    "live.started": "直播已开播",
    "live.ended": "直播已结束",
    "luckybag.created": "福袋已创建",
    "luckybag.drawn": "福袋已开奖",
    "luckybag.won": "福袋中奖",
    "luckybag.redeemed": "福袋已兑奖",
    "luckybag.redeem_failed": "福袋兑奖失败",
    "coupon.created": "卡券已创建",
    "coupon.auto_reviewed": "卡券机器审核",
    "coupon.review_decided": "卡券人工审核",
    "coupon.approved": "卡券审核通过",
    "coupon.rejected": "卡券审核失败",
    "coupon.claimed": "卡券已领取",
    "coupon.verified": "卡券已核销",
    "coupon.verification_cancelled": "卡券核销已撤销",
    "campaign.created": "卡券活动已创建",
    "campaign.updated": "卡券活动已更新",
    "campaign.online": "卡券活动已上线",
    "campaign.offline": "卡券活动已下线",
    "staff.token_issued": "核销人员登录",
    "service.conversation_started": "客服会话开始",
    "service.order_card_sent": "发送订单卡片",
    "service.redeem_link_sent": "发送兑奖链接",
    "service.live_link_sent": "发送直播链接",
    "service.live_preview_sent": "发送直播预告",
    **{f"aftersale.{k}": f"售后：{v}" for k, v in AFTERSALE_ACTION_LABELS.items()},
    **{f"package.{k}": f"包裹：{v}" for k, v in PACKAGE_EVENT_LABELS.items()},
}

GROUPS: dict[str, Mapping[str, str]] = {
    "order_status": STATUS_LABELS,
    "after_sale": AFTER_SALE_LABELS,
    "penalty": PENALTY_LABELS,
    "violation": VIOLATION_LABELS,
    "review_decision": REVIEW_DECISIONS,
    "payment_route": PAYMENT_ROUTE_LABELS,
    "carrier": CARRIER_LABELS,
    "export_status": EXPORT_STATUS_LABELS,
    "aftersale_kind": KIND_LABELS,
    "aftersale_status": AFTERSALE_STATUS_LABELS,
    "aftersale_action": AFTERSALE_ACTION_LABELS,
    "strategy": STRATEGY_LABELS,
    "package": PACKAGE_LABELS,
    "package_event": PACKAGE_EVENT_LABELS,
    "interception": {k: v for k, v in INTERCEPTION_LABELS.items() if k},
    "redpacket_status": REDPACKET_STATUS_LABELS,
    "redpacket_log": REDPACKET_LOG_LABELS,
    "live_state": LIVE_STATE_LABELS,
    "win_status": WIN_STATUS_LABELS,
    "coupon_status": CouponStatus.LABELS,
    "campaign_status": CampaignStatus.LABELS,
    "claim_status": ClaimStatus.LABELS,
    "verification_status": VERIFICATION_STATUS_LABELS,
    "verification_channel": VERIFICATION_CHANNEL_LABELS,
    "conversation_channel": CONVERSATION_CHANNELS,
    "ledger_account": ACCOUNT_LABELS,
    "ledger_kind": LEDGER_KIND_LABELS,
    "notice_category": NOTICE_CATEGORY_LABELS,
    "delivery_status": DELIVERY_STATUS_LABELS,
    "buyer_message": BUYER_MESSAGE_LABELS,
    "event_type": EVENT_TYPE_LABELS,
}

# ----- the values the contexts define ---------------------------------------------------------


def _values(*sources: Iterable[Any]) -> frozenset[str]:
    return frozenset(str(v) for source in sources for v in source)


def _class_values(cls: type) -> list[str]:
    return [v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)]


ENUM_VALUES: dict[str, frozenset[str]] = {
    "order_status": _values(OrderStatus),
    "after_sale": _values(AfterSale),
    "penalty": _values(PenaltyStatus),
    "violation": _values(get_args(ViolationState)),
    "review_decision": _values(REVIEW_DECISIONS),
    "payment_route": _values(PAYMENT_ROUTES, (FALLBACK_ROUTE, PRIZE_ROUTE)),
    "carrier": _values(c.code for c in CARRIERS),
    "export_status": _values(ExportStatus),
    "aftersale_kind": _values(RequestKind),
    "aftersale_status": _values(RequestStatus),
    "aftersale_action": _values(get_args(AftersaleAction)),
    "strategy": _values(StrategyCode),
    "package": _values(PackageStatus),
    "package_event": _values(CARRIER_EVENT_LABELS),
    "interception": _values(k for k in INTERCEPTION_LABELS if k),
    "redpacket_status": _values(DisplayStatus, PacketStatus),
    "live_state": _values(LiveState),
    "win_status": _values(WinStatus),
    "coupon_status": _values(_class_values(CouponStatus)),
    "campaign_status": _values(_class_values(CampaignStatus)),
    "claim_status": _values(_class_values(ClaimStatus)),
    "conversation_channel": _values(CONVERSATION_CHANNELS),
    "ledger_account": _values(Account),
    "notice_category": _values(NOTICE_PERMISSIONS, NOTICES_FOR_EVERYONE),
}


def label(value: Any, group: str) -> str:
    """The Chinese label of ``value`` in ``group``; an unknown value is shown as it is (the
    U5 tests fail on any value a context defines without a label)."""
    if value is None or value == "":
        return ""
    return GROUPS[group].get(str(value), str(value))


# ----- actors ---------------------------------------------------------------------------------

# Actors without an id: the carrier's tracking events; everything else (sweeps, the CLI,
# seeds, the demo, the 抖店 gateway) is the system.
NAMED_ACTORS: dict[str, str] = {"carrier": "快递公司", "operator": "平台"}
ACTOR_KIND_LABELS: dict[str, str] = {
    "user": "商家账号",
    "app": "开放平台应用",
    "buyer": "买家",
    "staff": "核销人员",
    "operator": "平台",
}


def actor_refs(actors: Iterable[str]) -> dict[str, set[int]]:
    """``{"user": {1, 2}, "buyer": {16}}`` for the actors that name a row."""
    refs: dict[str, set[int]] = {}
    for actor in actors:
        kind, _, ident = (actor or "").partition(":")
        if kind in ("user", "app", "buyer", "staff") and ident.isdigit():
            refs.setdefault(kind, set()).add(int(ident))
    return refs


def actor_names(session: Any, shop_id: int, actors: Iterable[str]) -> dict[str, str]:
    """The display names of the actors that name an account, app, buyer or verifier of the
    shop (one query per kind); pass the result to ``render`` as ``actor_names``."""
    from sqlalchemy import select

    from xiaodian.accounts.models import ApiApp, Buyer, Staff, User

    names: dict[str, str] = {}
    refs = actor_refs(actors)
    if refs.get("user"):
        for uid, name, username in session.execute(
            select(User.id, User.display_name, User.username).where(
                User.shop_id == shop_id, User.id.in_(refs["user"])
            )
        ):
            names[f"user:{uid}"] = name or username
    if refs.get("app"):
        for aid, name in session.execute(
            select(ApiApp.id, ApiApp.name).where(
                ApiApp.shop_id == shop_id, ApiApp.id.in_(refs["app"])
            )
        ):
            names[f"app:{aid}"] = f"应用「{name}」"
    if refs.get("buyer"):
        for bid, nickname in session.execute(
            select(Buyer.id, Buyer.nickname).where(Buyer.id.in_(refs["buyer"]))
        ):
            names[f"buyer:{bid}"] = f"买家 {nickname}"
    if refs.get("staff"):
        for sid, name in session.execute(
            select(Staff.id, Staff.name).where(
                Staff.shop_id == shop_id, Staff.id.in_(refs["staff"])
            )
        ):
            names[f"staff:{sid}"] = f"核销人员 {name}" if name else "核销人员"
    return names


def actor_label(actor: str | None, names: Mapping[str, str] | None = None) -> str:
    """``user:1`` → the account's name, ``buyer:16`` → 买家 + nickname, sweeps → 系统,
    ``operator``/``operator:x`` → 平台; an id without a known name → its kind in Chinese."""
    actor = actor or "system"
    if names and actor in names:
        return names[actor]
    if actor in NAMED_ACTORS:
        return NAMED_ACTORS[actor]
    kind = actor.partition(":")[0]
    if kind in ACTOR_KIND_LABELS:
        return ACTOR_KIND_LABELS[kind]
    return "系统"


@pass_context
def _actor_filter(context: Context, actor: str | None) -> str:
    return actor_label(actor, context.get("actor_names"))


# ----- transitions ----------------------------------------------------------------------------

_ARROW = re.compile(r"\b([a-z][a-z_]*)\s*(?:→|->)\s*([a-z][a-z_]*)\b")
_ROUTE_IN_PARENS = re.compile(r"([(（])([a-z_]+)([)）])")
_TRANSITION_GROUPS = ("after_sale", "order_status", "aftersale_status", "package")


def _code_label(code: str, groups: Iterable[str]) -> str:
    if code == "none":
        return "无"
    for group in groups:
        if code in GROUPS[group]:
            return GROUPS[group][code]
    return code


def transition(text: str | None, *groups: str) -> str:
    """``售后状态:none → in_progress`` → ``售后状态:无 → 售后中`` — rewrites the ASCII codes
    on either side of an arrow, and a payment route in brackets (``全额退款后关闭(alipay)``):
    history notes written before U5 carry them."""
    if not text:
        return ""
    use = groups or _TRANSITION_GROUPS
    text = _ARROW.sub(lambda m: f"{_code_label(m[1], use)} → {_code_label(m[2], use)}", text)
    # 全额退款后关闭（alipay） → 全额退款后关闭（支付宝）
    return _ROUTE_IN_PARENS.sub(
        lambda m: (
            m[1] + label(m[2], "payment_route") + m[3] if m[2] in PAYMENT_ROUTE_LABELS else m[0]
        ),
        text,
    )


# ----- rule badges ----------------------------------------------------------------------------

RULES_PATH = "/console/rules"


def rule_anchor(rule_id: str) -> str:
    return rule_id.lower().replace(".", "-")


def rule_title(rule_id: str) -> str:
    rule = RULES.get(rule_id)
    return rule.name_zh if rule is not None else ""


def rule_badge(rule_id: str | None) -> Markup:
    """A small badge for a rule id: its tooltip (``title``) and accessible text name the rule
    in Chinese; it links to the rule on 规则说明."""
    if not rule_id:
        return Markup("")
    name = rule_title(rule_id)
    text = f"规则 {rule_id}：{name}" if name else f"规则 {rule_id}"
    return Markup(
        '<a class="tag rule-badge" href="{href}#{anchor}" title="{text}" aria-label="{text}"'
        ' data-rule="{rule}">{rule}</a>'
    ).format(href=RULES_PATH, anchor=rule_anchor(rule_id), text=text, rule=escape(rule_id))


def install(env: Any) -> None:
    """Register the filters and globals on the console's Jinja environment."""
    env.filters["label"] = label
    env.filters["actor"] = _actor_filter
    env.filters["transition"] = transition
    env.globals["rule_badge"] = rule_badge

"""飞鸽 customer-service console: conversations and the agent's context panel (L4, L5).

The panel is one decision, made here and only here, so the API, the console page and the
server-side checks of every action agree:

* L4 — the 中奖福袋 button shows only for a conversation entered through 抖音 or 抖音极速版
  and only when the shop has run lucky bags. It lists the buyer's wins in this shop with
  their status; 发送兑奖链接 is enabled for 未兑奖 (window open), 发送订单 for 已兑奖.
  Worded as seed 001's FAQ (F6, issue 17): a win past its window still reads 未兑奖, with
  发送兑奖链接 disabled and the "?" hint 已超过兑奖时间; 兑奖失败 is disabled too, its "?"
  hint giving the risk-control reason and 请联系平台客服.
* L4 — an order card sent to the buyer is re-read from the order whenever it is read (the
  buyer's inbox through notify's card resolver, the chat here), so it always shows the
  order's current status, carrier and tracking number, and (F6) the logistics progress
  运输中 / 派送中 / 已签收 from the packages the after-sales context tracks
  (``aftersales/logistics.py``), as seed 001 promises: "消费者自主查询发货状态、物流状态".
* L5 — for a shop bound to one Douyin account (人店一体) the chat input offers 直播链接 when
  the shop is live now, 直播预告 (the next scheduled live) otherwise; unbound shops see
  neither.

Every action re-runs the same decision on the server and refuses what the panel disables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer, Shop
from xiaodian.aftersales import logistics
from xiaodian.aftersales.models import MOVING, PACKAGE_LABELS, Package, PackageStatus
from xiaodian.context import Ctx
from xiaodian.db import get_owned
from xiaodian.errors import Conflict, NotFound, ValidationFailed
from xiaodian.luckybags import service as luckybags
from xiaodian.luckybags.models import LiveStream, LuckyBag, LuckyBagWin
from xiaodian.luckybags.service import WIN_STATUS_LABELS, WinStatus
from xiaodian.notify import service as notify
from xiaodian.notify.models import BuyerMessage
from xiaodian.orders import service as orders
from xiaodian.orders.carriers import find_carrier
from xiaodian.orders.models import STATUS_LABELS, Order
from xiaodian.service.models import CHANNELS, LUCKY_BAG_CHANNELS, ChatMessage, Conversation

HINT_EXPIRED = "已超过兑奖时间"  # seed 001: 未兑奖 but no 发送兑奖链接 — past the window
MAX_TEXT = 1000


# ----- conversations -----------------------------------------------------------------------


def start_conversation(
    ctx: Ctx, buyer: Buyer, shop_id: int, *, channel: str, text: str = ""
) -> Conversation:
    """A buyer opens (or re-opens) a conversation with a shop through an entry channel."""
    if channel not in CHANNELS:
        raise ValidationFailed(
            "invalid_channel",
            f"不支持的进线渠道 {channel}",
            f"Unknown channel {channel}; one of {', '.join(CHANNELS)}",
            field="channel",
        )
    accounts.get_shop(ctx.session, shop_id)
    conversation = ctx.session.scalars(
        select(Conversation).where(
            Conversation.shop_id == shop_id,
            Conversation.buyer_id == buyer.id,
            Conversation.channel == channel,
        )
    ).first()
    if conversation is None:
        conversation = Conversation(
            shop_id=shop_id,
            buyer_id=buyer.id,
            channel=channel,
            started_at=ctx.now,
            last_message_at=ctx.now,
        )
        ctx.session.add(conversation)
        ctx.session.flush()
        notify.emit(
            ctx,
            shop_id,
            "service.conversation_started",
            {"conversation_id": conversation.id, "buyer_id": buyer.id, "channel": channel},
        )
    if text.strip():
        buyer_says(ctx, buyer, conversation.id, text)
    return conversation


def buyer_conversation(session: Session, buyer_id: int, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.buyer_id != buyer_id:
        raise NotFound("会话", "Conversation", conversation_id)
    return conversation


def buyer_says(ctx: Ctx, buyer: Buyer, conversation_id: int, text: str) -> ChatMessage:
    conversation = buyer_conversation(ctx.session, buyer.id, conversation_id)
    return _add_message(ctx, conversation, "buyer", "text", _text(text), {})


def get_conversation(session: Session, shop_id: int, conversation_id: int) -> Conversation:
    conversation: Conversation = get_owned(
        session, Conversation, shop_id, conversation_id, ("会话", "Conversation")
    )
    return conversation


def list_conversations(
    session: Session, shop_id: int, *, before_id: int | None = None, limit: int = 50
) -> list[tuple[Conversation, Buyer]]:
    query = (
        select(Conversation, Buyer)
        .join(Buyer, Buyer.id == Conversation.buyer_id)
        .where(Conversation.shop_id == shop_id)
        .order_by(Conversation.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Conversation.id < before_id)
    return [(c, b) for c, b in session.execute(query)]


def messages(session: Session, conversation: Conversation, limit: int = 200) -> list[ChatMessage]:
    rows = session.scalars(
        select(ChatMessage)
        .where(
            ChatMessage.shop_id == conversation.shop_id,
            ChatMessage.conversation_id == conversation.id,
        )
        .order_by(ChatMessage.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def agent_says(ctx: Ctx, shop_id: int, conversation_id: int, text: str) -> ChatMessage:
    conversation = get_conversation(ctx.session, shop_id, conversation_id)
    message = _add_message(ctx, conversation, "agent", "text", _text(text), {})
    notify.message_buyer(
        ctx,
        buyer_id=conversation.buyer_id,
        shop_id=shop_id,
        kind="text",
        title="商家客服回复",
        body=message.body,
        payload={"conversation_id": conversation.id},
    )
    return message


def _text(text: str) -> str:
    text = (text or "").strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise ValidationFailed(
            "invalid_message",
            f"消息须为1-{MAX_TEXT}个字符",
            f"A message is 1–{MAX_TEXT} characters",
            field="text",
        )
    return text


def _add_message(
    ctx: Ctx,
    conversation: Conversation,
    sender: str,
    kind: str,
    body: str,
    payload: dict[str, Any],
) -> ChatMessage:
    message = ChatMessage(
        shop_id=conversation.shop_id,
        conversation_id=conversation.id,
        sender=sender,
        kind=kind,
        body=body,
        payload=payload,
        actor=ctx.actor,
        created_at=ctx.now,
    )
    ctx.session.add(message)
    conversation.last_message_at = ctx.now
    ctx.session.flush()
    return message


# ----- the context panel (L4, L5) ----------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str  # send_redeem_link | send_order_card
    label: str
    enabled: bool
    hint: str = ""


@dataclass(frozen=True)
class WinRow:
    win: LuckyBagWin
    bag_title: str
    product_title: str
    status: WinStatus
    action: Action
    order_no: str | None = None

    @property
    def status_label(self) -> str:
        """Seed 001: a win past its window reads 未兑奖 here (its hint says why it cannot be
        sent); the lucky-bag pages keep 已过期 as their filter."""
        if self.status == WinStatus.EXPIRED:
            return WIN_STATUS_LABELS[WinStatus.UNREDEEMED]
        return WIN_STATUS_LABELS[self.status]


@dataclass(frozen=True)
class LiveEntry:
    kind: str  # live_link | live_preview
    label: str  # 直播链接 | 直播预告
    enabled: bool
    live: LiveStream | None
    hint: str = ""


@dataclass(frozen=True)
class Panel:
    conversation: Conversation
    buyer: Buyer
    channel_label: str
    lucky_bag_button: bool
    wins: list[WinRow] = field(default_factory=list)
    live_entry: LiveEntry | None = None


def failed_hint(reason: str) -> str:
    """F6: the "?" hint of a 兑奖失败 win — the risk-control reason, then whom to contact."""
    reason = reason.strip().rstrip("。")
    if not reason:
        return f"兑奖失败：命中平台风控。{luckybags.SUPPORT_HINT}"
    return f"兑奖失败：{reason}。{luckybags.SUPPORT_HINT}"


def win_action(status: WinStatus, fail_reason: str = "") -> Action:
    """L4: what the agent can do for a win in this status, and why not."""
    if status == WinStatus.UNREDEEMED:
        return Action("send_redeem_link", "发送兑奖链接", True)
    if status == WinStatus.REDEEMED:
        return Action("send_order_card", "发送订单", True)
    if status == WinStatus.FAILED:
        return Action("send_redeem_link", "发送兑奖链接", False, failed_hint(fail_reason))
    return Action("send_redeem_link", "发送兑奖链接", False, HINT_EXPIRED)


def lucky_bag_button(session: Session, conversation: Conversation) -> bool:
    """L4: 抖音 / 抖音极速版 entry AND the shop has run lucky bags."""
    return conversation.channel in LUCKY_BAG_CHANNELS and luckybags.has_lucky_bags(
        session, conversation.shop_id
    )


def live_entry(session: Session, shop: Shop, now: datetime) -> LiveEntry | None:
    """L5: 直播链接 when live now, else 直播预告; nothing for a shop not bound 人店一体."""
    if not shop.douyin_account:
        return None
    live = luckybags.live_now(session, shop.id, now)
    if live is not None:
        return LiveEntry("live_link", "直播链接", True, live)
    upcoming = luckybags.next_scheduled(session, shop.id, now)
    if upcoming is None:
        return LiveEntry("live_preview", "直播预告", False, None, "暂无待开播的直播")
    return LiveEntry("live_preview", "直播预告", True, upcoming)


def panel(session: Session, shop_id: int, conversation_id: int, now: datetime) -> Panel:
    conversation = get_conversation(session, shop_id, conversation_id)
    buyer = accounts.get_buyer(session, conversation.buyer_id)
    shop = accounts.get_shop(session, shop_id)
    button = lucky_bag_button(session, conversation)
    rows: list[WinRow] = []
    if button:
        for win in luckybags.list_wins(session, shop_id, now, buyer_id=buyer.id, limit=200):
            rows.append(_win_row(session, win, now))
    return Panel(
        conversation=conversation,
        buyer=buyer,
        channel_label=CHANNELS.get(conversation.channel, conversation.channel),
        lucky_bag_button=button,
        wins=rows,
        live_entry=live_entry(session, shop, now),
    )


def _win_row(session: Session, win: LuckyBagWin, now: datetime) -> WinRow:
    bag = session.get(LuckyBag, win.lucky_bag_id)
    product = orders.get_product(session, win.shop_id, win.product_id)
    status = luckybags.win_status(win, now)
    order = luckybags.win_order(session, win)
    return WinRow(
        win=win,
        bag_title=bag.title if bag is not None else "",
        product_title=product.title,
        status=status,
        action=win_action(status, win.fail_reason),
        order_no=order.order_no if order is not None else None,
    )


# ----- actions (server-side checks mirror the panel) ---------------------------------------


def _win_for_action(
    ctx: Ctx, shop_id: int, conversation_id: int, win_id: int
) -> tuple[Conversation, LuckyBagWin, WinStatus]:
    conversation = get_conversation(ctx.session, shop_id, conversation_id)
    if not lucky_bag_button(ctx.session, conversation):
        raise Conflict(
            "lucky_bags_unavailable",
            "仅当消费者通过抖音或抖音极速版进线、且本店铺参加过福袋活动时，才能查看中奖福袋",
            "Lucky bags are shown only for Douyin / Douyin Lite conversations of shops that "
            "ran lucky bags",
            rule="L4",
        )
    win = luckybags.get_win(ctx.session, shop_id, win_id)
    if win.buyer_id != conversation.buyer_id:
        raise NotFound("中奖记录", "Win", win_id)
    return conversation, win, luckybags.win_status(win, ctx.now)


def _refuse(status: WinStatus, wanted: str, fail_reason: str = "") -> Conflict:
    action = win_action(status, fail_reason)
    if status == WinStatus.FAILED:
        return Conflict(
            "redeem_failed", action.hint, "Risk control refused; contact support", rule="L4"
        )
    if status == WinStatus.EXPIRED:
        return Conflict(
            "redeem_window_closed", HINT_EXPIRED, "The redemption window has closed", rule="L4"
        )
    return Conflict(
        "action_not_allowed",
        f"中奖记录为{WIN_STATUS_LABELS[status]}，请使用「{action.label}」",
        f"The win is {status.value}; use {action.name} instead of {wanted}",
        rule="L4",
    )


def send_redeem_link(ctx: Ctx, shop_id: int, conversation_id: int, win_id: int) -> ChatMessage:
    """L4 发送兑奖链接: only for 未兑奖 with the window open."""
    conversation, win, status = _win_for_action(ctx, shop_id, conversation_id, win_id)
    if status != WinStatus.UNREDEEMED:
        raise _refuse(status, "send_redeem_link", win.fail_reason)
    product = orders.get_product(ctx.session, shop_id, win.product_id)
    url = luckybags.redeem_path(win.token)
    payload = {
        "url": url,
        "win_id": win.id,
        "product_title": product.title,
        "redeem_until": win.redeem_until.isoformat(),
    }
    message = _add_message(ctx, conversation, "agent", "redeem_link", "兑奖链接", payload)
    notify.message_buyer(
        ctx,
        buyer_id=conversation.buyer_id,
        shop_id=shop_id,
        kind="link",
        title=f"兑奖链接：{product.title}",
        body="点击链接填写收货地址，领取您的福袋奖品。",
        payload=payload,
        rule="L4",
    )
    notify.emit(
        ctx,
        shop_id,
        "service.redeem_link_sent",
        {"conversation_id": conversation.id, "win_id": win.id},
        rule="L4",
    )
    return message


ORDER_CARD = "order"  # notify card type: resolved from the order whenever it is read


# F6: how far a parcel on its way has come (已揽收 → 运输中 → 派送中); the least advanced
# parcel of an order is its progress.
_PROGRESS = (PackageStatus.CREATED, PackageStatus.IN_TRANSIT, PackageStatus.OUT_FOR_DELIVERY)


def logistics_progress(packages: list[Package]) -> tuple[str, str]:
    """F6: the order's logistics status and label from its packages' tracking (after-sales
    keeps it): the least advanced parcel still on its way (运输中 / 派送中 …); 已签收 when every
    parcel is delivered; else the first parcel's own state (拒签, 已退回 …). ("", "") before
    shipping."""
    if not packages:
        return "", ""
    moving = [p.status for p in packages if p.status in MOVING]
    if moving:
        status = min(moving, key=_PROGRESS.index)
        return status, PACKAGE_LABELS[status]
    if all(p.status == PackageStatus.DELIVERED for p in packages):
        return PackageStatus.DELIVERED, PACKAGE_LABELS[PackageStatus.DELIVERED]
    first = next(p for p in packages if p.status != PackageStatus.DELIVERED)
    return first.status, PACKAGE_LABELS.get(first.status, first.status)


def order_card(session: Session, order: Order, win_id: int | None) -> dict[str, Any]:
    """L4: the order card — order status, shipping and logistics — as the order is now."""
    carrier = find_carrier(order.carrier) if order.carrier else None
    items = orders.order_items(session, order)
    packages = logistics.packages_of(session, order.shop_id, order.id)
    logistics_status, logistics_label = logistics_progress(packages)
    return {
        "card": ORDER_CARD,
        "order_id": order.id,
        "order_no": order.order_no,
        "status": order.status,
        "status_label": STATUS_LABELS.get(order.status, order.status),
        "items": [{"title": i.title, "qty": i.qty} for i in items],
        "ship_by": order.ship_by.isoformat() if order.ship_by else None,
        "shipped_at": order.shipped_at.isoformat() if order.shipped_at else None,
        "carrier": order.carrier,
        "carrier_name": carrier.name if carrier is not None else None,
        "tracking_no": order.tracking_no,
        "logistics_status": logistics_status,
        "logistics_label": logistics_label,
        "packages": [_package_line(p) for p in packages],
        "win_id": win_id,
    }


def _package_line(package: Package) -> dict[str, Any]:
    carrier = find_carrier(package.carrier)
    return {
        "seq": package.seq,
        "carrier": package.carrier,
        "carrier_name": carrier.name if carrier is not None else package.carrier,
        "tracking_no": package.tracking_no,
        "status": package.status,
        "status_label": PACKAGE_LABELS.get(package.status, package.status),
    }


def order_card_text(card: dict[str, Any]) -> tuple[str, str]:
    """The card's title and body line for the buyer's inbox."""
    shipping = (
        f"{card['carrier_name'] or card['carrier']} {card['tracking_no']}"
        if card["tracking_no"]
        else "商家尚未发货"
    )
    if card.get("logistics_label"):
        shipping += f" · {card['logistics_label']}"
    return f"订单 {card['order_no']}：{card['status_label']}", f"物流：{shipping}"


def current_order_card(
    session: Session, shop_id: int, buyer_id: int, sent: dict[str, Any]
) -> dict[str, Any] | None:
    """L4: a sent card read again from its order through the orders service, so a card sent
    before shipping shows the carrier and tracking number once shipped. None when the order
    is gone or is not this buyer's (then the copy taken at send time is shown)."""
    order_id = sent.get("order_id")
    if not isinstance(order_id, int):
        return None
    try:
        order = orders.get_order(session, shop_id, order_id)
    except NotFound:
        return None
    if order.buyer_id != buyer_id:
        return None
    win_id = sent.get("win_id")
    return order_card(session, order, win_id if isinstance(win_id, int) else None)


def _order_card_as_read(session: Session, message: BuyerMessage) -> notify.CardView | None:
    card = current_order_card(session, message.shop_id, message.buyer_id, message.payload)
    if card is None:
        return None
    title, body = order_card_text(card)
    return notify.CardView(title=title, body=body, payload=card)


notify.register_card(ORDER_CARD, _order_card_as_read)


def payload_now(
    session: Session, conversation: Conversation, message: ChatMessage
) -> dict[str, Any]:
    """A chat message's payload as shown now: order cards re-read from the order (L4)."""
    if message.kind == "order_card":
        card = current_order_card(
            session, conversation.shop_id, conversation.buyer_id, message.payload
        )
        if card is not None:
            return card
    return message.payload


def send_order_card(ctx: Ctx, shop_id: int, conversation_id: int, win_id: int) -> ChatMessage:
    """L4 发送订单: only for 已兑奖; the card shows order, shipping and logistics status."""
    conversation, win, status = _win_for_action(ctx, shop_id, conversation_id, win_id)
    if status != WinStatus.REDEEMED:
        raise _refuse(status, "send_order_card", win.fail_reason)
    order = luckybags.win_order(ctx.session, win)
    assert order is not None  # 已兑奖 means the prize order exists (L2)
    card = order_card(ctx.session, order, win.id)
    message = _add_message(ctx, conversation, "agent", "order_card", "订单卡片", card)
    title, body = order_card_text(card)
    # Stored with the order's state at send time; read through ``_order_card_as_read``.
    notify.message_buyer(
        ctx,
        buyer_id=conversation.buyer_id,
        shop_id=shop_id,
        kind="card",
        title=title,
        body=body,
        payload=card,
        rule="L4",
    )
    notify.emit(
        ctx,
        shop_id,
        "service.order_card_sent",
        {"conversation_id": conversation.id, "win_id": win.id, "order_id": card["order_id"]},
        rule="L4",
    )
    return message


def send_live_entry(ctx: Ctx, shop_id: int, conversation_id: int, kind: str) -> ChatMessage:
    """L5: send 直播链接 (live now) or 直播预告 (next scheduled) — only what the panel offers."""
    conversation = get_conversation(ctx.session, shop_id, conversation_id)
    shop = accounts.get_shop(ctx.session, shop_id)
    entry = live_entry(ctx.session, shop, ctx.now)
    if entry is None:
        raise Conflict(
            "shop_not_bound",
            "店铺未与抖音号唯一绑定（人店一体），不能发送直播链接或预告",
            "The shop is not bound to a Douyin account",
            rule="L5",
        )
    if entry.kind != kind or not entry.enabled or entry.live is None:
        zh = {
            "live_link": "店铺当前未开播，请发送直播预告",
            "live_preview": "店铺正在直播，请发送直播链接",
        }.get(kind, "不支持的操作")
        if entry.kind == kind and not entry.enabled:
            zh = entry.hint
        raise Conflict("live_entry_unavailable", zh, f"{kind} is not available now", rule="L5")
    live = entry.live
    payload = {
        "live_id": live.id,
        "title": live.title,
        "douyin_account": shop.douyin_account,
        "url": f"https://live.douyin.com/{shop.douyin_account}",
        "scheduled_start": live.scheduled_start.isoformat(),
    }
    title = f"{entry.label}:{live.title}"
    message = _add_message(ctx, conversation, "agent", kind, title, payload)
    notify.message_buyer(
        ctx,
        buyer_id=conversation.buyer_id,
        shop_id=shop_id,
        kind="link",
        title=title[:120],
        body="点击一键进入直播间" if kind == "live_link" else "开播提醒：记得来看直播哦",
        payload={**payload, "entry": kind},
        rule="L5",
    )
    notify.emit(
        ctx,
        shop_id,
        f"service.{kind}_sent",
        {"conversation_id": conversation.id, "live_id": live.id},
        rule="L5",
    )
    return message

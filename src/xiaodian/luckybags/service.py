"""Live streams, lucky bags, participation, wins and redemption (SPEC §2, L1–L3, L5).

One service call = one unit of work on ``ctx.session``; every lookup takes the caller's
``shop_id`` and answers NotFound for another shop's object. Buyer-side calls (join, the
redemption link) find the shop from the object the buyer holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer, Shop
from xiaodian.context import Ctx
from xiaodian.db import get_owned, insert_ignore, rowcount
from xiaodian.errors import Conflict, NotFound, ValidationFailed
from xiaodian.errors import field_error as _field
from xiaodian.luckybags.models import LiveStream, LuckyBag, LuckyBagEntry, LuckyBagWin
from xiaodian.luckybags.risk import DEFAULT_POLICY, RedemptionAttempt, RiskPolicy, address_key

# The derived states are decided in rules.py (M2); the console and other contexts read them here.
from xiaodian.luckybags.rules import LIVE_STATE_LABELS as LIVE_STATE_LABELS
from xiaodian.luckybags.rules import WIN_STATUS_LABELS as WIN_STATUS_LABELS
from xiaodian.luckybags.rules import LiveState as LiveState
from xiaodian.luckybags.rules import WinStatus as WinStatus
from xiaodian.luckybags.rules import live_state as live_state
from xiaodian.luckybags.rules import win_status as win_status
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.models import Order
from xiaodian.orders.prize import create_prize_order

_DOUYIN_ACCOUNT = re.compile(r"^[A-Za-z0-9_.]{2,64}$")
_PHONE = re.compile(r"^1\d{10}$")
MAX_WINNERS = 1000
SUPPORT_HINT = "请联系平台客服"


def redeem_path(token: str) -> str:
    """The redemption link (兑奖链接) a winner opens."""
    return f"/buyer/luckybags/wins/{token}"


# ----- 人店一体: the shop's one Douyin account (L5) ----------------------------------------


def bind_douyin(ctx: Ctx, shop_id: int, account: str) -> Shop:
    """L5: bind the shop to exactly one Douyin account; an account binds one shop only."""
    account = (account or "").strip()
    if not _DOUYIN_ACCOUNT.match(account):
        raise ValidationFailed(
            "invalid_douyin_account",
            "抖音号须为2-64位字母、数字、下划线或点",
            "A Douyin account is 2–64 letters, digits, '_' or '.'",
            field="account",
        )
    shop = accounts.get_shop(ctx.session, shop_id)
    if shop.douyin_account == account:
        return shop
    taken = ctx.session.scalar(
        select(Shop.id).where(Shop.douyin_account == account, Shop.id != shop_id)
    )
    if taken is not None:
        raise _account_taken(account)
    try:
        with ctx.session.begin_nested():
            shop.douyin_account = account
            ctx.session.flush()
    except IntegrityError as exc:  # bound by another shop at the same instant
        raise _account_taken(account) from exc
    notify.emit(ctx, shop_id, "shop.douyin_bound", {"account": account}, rule="L5")
    return shop


def unbind_douyin(ctx: Ctx, shop_id: int) -> Shop:
    shop = accounts.get_shop(ctx.session, shop_id)
    if shop.douyin_account is not None:
        previous = shop.douyin_account
        shop.douyin_account = None
        ctx.session.flush()
        notify.emit(ctx, shop_id, "shop.douyin_unbound", {"account": previous}, rule="L5")
    return shop


def _account_taken(account: str) -> Conflict:
    return Conflict(
        "douyin_account_taken",
        f"抖音号 {account} 已与其他店铺绑定（人店一体须唯一绑定）",
        f"Douyin account {account} is bound to another shop",
        rule="L5",
    )


# ----- live streams (L1, L5) ---------------------------------------------------------------


def schedule_live(
    ctx: Ctx, shop_id: int, *, title: str, start: datetime, end: datetime
) -> LiveStream:
    errors = []
    title = (title or "").strip()
    if not 1 <= len(title) <= 60:
        errors.append(_field("title", "直播标题须为1-60个字符", "Title must be 1–60 characters"))
    if start.tzinfo is None or end.tzinfo is None:
        errors.append(_field("start", "时间须带时区", "Times must carry a timezone"))
    elif end <= start:
        errors.append(_field("end", "结束时间须晚于开始时间", "End must be after start"))
    elif end <= ctx.now:
        errors.append(_field("end", "结束时间须晚于当前时间", "End must be in the future"))
    if errors:
        raise ValidationFailed("invalid_live", "直播信息有误", "Invalid live stream", errors=errors)
    live = LiveStream(
        shop_id=shop_id,
        title=title,
        scheduled_start=start,
        scheduled_end=end,
        created_at=ctx.now,
    )
    ctx.session.add(live)
    ctx.session.flush()
    notify.emit(ctx, shop_id, "live.scheduled", _live_event(live), rule="L5")
    return live


def get_live(session: Session, shop_id: int, live_id: int) -> LiveStream:
    live: LiveStream = get_owned(session, LiveStream, shop_id, live_id, ("直播", "Live stream"))
    return live


def list_lives(
    session: Session, shop_id: int, *, before_id: int | None = None, limit: int = 20
) -> list[LiveStream]:
    query = select(LiveStream).where(LiveStream.shop_id == shop_id)
    if before_id is not None:
        query = query.where(LiveStream.id < before_id)
    return list(session.scalars(query.order_by(LiveStream.id.desc()).limit(limit)))


def start_live(ctx: Ctx, shop_id: int, live_id: int) -> LiveStream:
    """开播: one live at a time per shop."""
    live = get_live(ctx.session, shop_id, live_id)
    state = live_state(live, ctx.now)
    if state in (LiveState.LIVE, LiveState.ENDED):
        raise Conflict(
            "live_not_startable",
            f"直播{LIVE_STATE_LABELS[state]}，不能开播",
            f"The live stream is {state}; it cannot start",
        )
    current = live_now(ctx.session, shop_id, ctx.now)
    if current is not None:
        raise Conflict(
            "already_live",
            f"店铺正在直播「{current.title}」，请先结束",
            "The shop is already live; end that stream first",
        )
    live.started_at = ctx.now
    ctx.session.flush()
    notify.emit(ctx, shop_id, "live.started", _live_event(live), rule="L5")
    return live


def end_live(ctx: Ctx, shop_id: int, live_id: int) -> LiveStream:
    live = get_live(ctx.session, shop_id, live_id)
    if live_state(live, ctx.now) != LiveState.LIVE:
        raise Conflict("live_not_live", "直播未在进行中", "The live stream is not live")
    live.ended_at = ctx.now
    ctx.session.flush()
    notify.emit(ctx, shop_id, "live.ended", _live_event(live), rule="L5")
    return live


def live_now(session: Session, shop_id: int, now: datetime) -> LiveStream | None:
    """L5: the stream the shop is live in at ``now`` (started, not ended)."""
    return session.scalars(
        select(LiveStream)
        .where(
            LiveStream.shop_id == shop_id,
            LiveStream.started_at <= now,
            (LiveStream.ended_at.is_(None)) | (LiveStream.ended_at > now),
        )
        .order_by(LiveStream.started_at.desc())
        .limit(1)
    ).first()


def next_scheduled(session: Session, shop_id: int, now: datetime) -> LiveStream | None:
    """L5 直播预告: the earliest stream not started yet whose scheduled end lies ahead."""
    return session.scalars(
        select(LiveStream)
        .where(
            LiveStream.shop_id == shop_id,
            LiveStream.started_at.is_(None),
            LiveStream.scheduled_end > now,
        )
        .order_by(LiveStream.scheduled_start, LiveStream.id)
        .limit(1)
    ).first()


def _live_event(live: LiveStream) -> dict[str, object]:
    return {
        "live_id": live.id,
        "title": live.title,
        "scheduled_start": live.scheduled_start.isoformat(),
        "scheduled_end": live.scheduled_end.isoformat(),
    }


# ----- lucky bags (L1) ---------------------------------------------------------------------


def create_lucky_bag(
    ctx: Ctx,
    shop_id: int,
    *,
    live_id: int,
    product_id: int,
    winners: int,
    draw_at: datetime,
    title: str = "",
) -> LuckyBag:
    """L1: a lucky bag in one of the shop's live streams; the prize is one of its products."""
    live = get_live(ctx.session, shop_id, live_id)
    product = orders.get_product(ctx.session, shop_id, product_id)
    errors = []
    title = (title or "").strip() or f"福袋：{product.title}"[:60]
    if len(title) > 60:
        errors.append(_field("title", "福袋名称最多60个字符", "Title ≤ 60 characters"))
    if not 1 <= winners <= MAX_WINNERS:
        errors.append(
            _field(
                "winners",
                f"中奖人数须为1-{MAX_WINNERS}",
                f"Winners must be 1–{MAX_WINNERS}",
            )
        )
    if draw_at.tzinfo is None or draw_at <= ctx.now:
        errors.append(_field("draw_at", "开奖时间须晚于当前时间", "Draw time must be ahead"))
    state = live_state(live, ctx.now)
    if state in (LiveState.ENDED, LiveState.MISSED):
        errors.append(_field("live_id", "直播已结束，不能再发福袋", "That live stream is over"))
    if product.banned_at is not None:
        errors.append(_field("product_id", "商品已被封禁，不能作为奖品", "Product is banned"))
    if errors:
        raise ValidationFailed(
            "invalid_lucky_bag", "福袋信息有误", "Invalid lucky bag", errors=errors
        )
    bag = LuckyBag(
        shop_id=shop_id,
        live_id=live.id,
        product_id=product.id,
        title=title,
        winners=winners,
        draw_at=draw_at,
        created_at=ctx.now,
    )
    ctx.session.add(bag)
    ctx.session.flush()
    notify.emit(ctx, shop_id, "luckybag.created", _bag_event(bag), rule="L1")
    return bag


def get_lucky_bag(session: Session, shop_id: int, lucky_bag_id: int) -> LuckyBag:
    return get_owned(session, LuckyBag, shop_id, lucky_bag_id, ("福袋", "Lucky bag"))


def list_lucky_bags(
    session: Session,
    shop_id: int,
    *,
    live_id: int | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[LuckyBag]:
    query = select(LuckyBag).where(LuckyBag.shop_id == shop_id)
    if live_id is not None:
        query = query.where(LuckyBag.live_id == live_id)
    if before_id is not None:
        query = query.where(LuckyBag.id < before_id)
    return list(session.scalars(query.order_by(LuckyBag.id.desc()).limit(limit)))


def has_lucky_bags(session: Session, shop_id: int) -> bool:
    """L4: "the shop has run lucky-bag activities"."""
    return bool(session.scalar(select(exists().where(LuckyBag.shop_id == shop_id))))


def participant_count(session: Session, shop_id: int, lucky_bag_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                LuckyBagEntry.shop_id == shop_id, LuckyBagEntry.lucky_bag_id == lucky_bag_id
            )
        )
        or 0
    )


def join(ctx: Ctx, buyer: Buyer, lucky_bag_id: int, *, device_id: str = "") -> LuckyBagEntry:
    """L1: a buyer joins a lucky bag while its live stream is live and before the draw.
    Joining twice is one entry."""
    bag = ctx.session.get(LuckyBag, lucky_bag_id)
    if bag is None:
        raise NotFound("福袋", "Lucky bag", lucky_bag_id)
    live = get_live(ctx.session, bag.shop_id, bag.live_id)
    if bag.drawn_at is not None or ctx.now >= bag.draw_at:
        raise Conflict("lucky_bag_closed", "福袋已开奖，不能参与", "The lucky bag was drawn")
    if live_state(live, ctx.now) != LiveState.LIVE:
        raise Conflict(
            "live_not_live", "直播未在进行中，不能参与福袋", "Join a lucky bag during its live"
        )
    insert_ignore(
        ctx.session,
        LuckyBagEntry.__table__,
        [
            {
                "shop_id": bag.shop_id,
                "lucky_bag_id": bag.id,
                "buyer_id": buyer.id,
                "device_id": (device_id or "")[:64],
                "joined_at": ctx.now,
            }
        ],
    )
    entry = ctx.session.scalars(
        select(LuckyBagEntry).where(
            LuckyBagEntry.lucky_bag_id == bag.id, LuckyBagEntry.buyer_id == buyer.id
        )
    ).one()
    return entry


def _bag_event(bag: LuckyBag) -> dict[str, object]:
    return {
        "lucky_bag_id": bag.id,
        "live_id": bag.live_id,
        "product_id": bag.product_id,
        "winners": bag.winners,
        "draw_at": bag.draw_at.isoformat(),
    }


# ----- wins and their status (L3) ----------------------------------------------------------


def win_status_expr(now: datetime) -> ColumnElement[str]:
    """The same derivation as ``win_status``, in SQL (filters and counts agree with it)."""
    return case(
        (LuckyBagWin.order_id.is_not(None), literal(WinStatus.REDEEMED.value)),
        (LuckyBagWin.failed_at.is_not(None), literal(WinStatus.FAILED.value)),
        (LuckyBagWin.redeem_until <= now, literal(WinStatus.EXPIRED.value)),
        else_=literal(WinStatus.UNREDEEMED.value),
    )


def get_win(session: Session, shop_id: int, win_id: int) -> LuckyBagWin:
    return get_owned(session, LuckyBagWin, shop_id, win_id, ("中奖记录", "Win"))


def list_wins(
    session: Session,
    shop_id: int,
    now: datetime,
    *,
    buyer_id: int | None = None,
    lucky_bag_id: int | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 20,
) -> list[LuckyBagWin]:
    query = select(LuckyBagWin).where(LuckyBagWin.shop_id == shop_id)
    if buyer_id is not None:
        query = query.where(LuckyBagWin.buyer_id == buyer_id)
    if lucky_bag_id is not None:
        query = query.where(LuckyBagWin.lucky_bag_id == lucky_bag_id)
    if status:
        if status not in WIN_STATUS_LABELS:
            raise ValidationFailed(
                "invalid_status",
                f"兑奖状态无效：{status}",
                f"Unknown status {status}",
                field="status",
            )
        query = query.where(win_status_expr(now) == status)
    if before_id is not None:
        query = query.where(LuckyBagWin.id < before_id)
    return list(session.scalars(query.order_by(LuckyBagWin.id.desc()).limit(limit)))


def count_wins_by_status(session: Session, shop_id: int, now: datetime) -> dict[str, int]:
    expr = win_status_expr(now)
    rows = session.execute(
        select(expr, func.count()).where(LuckyBagWin.shop_id == shop_id).group_by(expr)
    ).all()
    counts = dict.fromkeys(WIN_STATUS_LABELS, 0)
    counts.update({str(status): int(n) for status, n in rows})
    return counts


def win_by_token(session: Session, token: str) -> LuckyBagWin:
    win = session.scalars(select(LuckyBagWin).where(LuckyBagWin.token == token)).first()
    if win is None:
        raise NotFound("兑奖链接", "Redemption link")
    return win


def buyer_wins(session: Session, buyer_id: int, limit: int = 50) -> list[LuckyBagWin]:
    return list(
        session.scalars(
            select(LuckyBagWin)
            .where(LuckyBagWin.buyer_id == buyer_id)
            .order_by(LuckyBagWin.id.desc())
            .limit(limit)
        )
    )


def win_order(session: Session, win: LuckyBagWin) -> Order | None:
    return None if win.order_id is None else orders.get_order(session, win.shop_id, win.order_id)


def win_event(win: LuckyBagWin, now: datetime) -> dict[str, object]:
    return {
        "win_id": win.id,
        "lucky_bag_id": win.lucky_bag_id,
        "buyer_id": win.buyer_id,
        "product_id": win.product_id,
        "won_at": win.won_at.isoformat(),
        "redeem_until": win.redeem_until.isoformat(),
        "status": win_status(win, now).value,
        "order_id": win.order_id,
    }


# ----- redemption (L2, L3) -----------------------------------------------------------------


@dataclass(frozen=True)
class Redemption:
    win: LuckyBagWin
    status: WinStatus
    order: Order | None
    created: bool  # this call created the prize order


def redeem(
    ctx: Ctx,
    token: str,
    *,
    address: str,
    receiver_name: str,
    receiver_phone: str,
    device_id: str = "",
    buyer_id: int | None = None,
    policy: RiskPolicy | None = None,
) -> Redemption:
    """L2/L3: the winner confirms an address; risk control runs; a 0-yuan prize order is made.

    * Redeeming a redeemed win again answers the same order (a double click is harmless); two
      parallel redemptions serialize on the win row (``FOR UPDATE`` on PostgreSQL, the single
      writer on SQLite) and the order is created once.
    * A failed (兑奖失败) or expired (已过期) win is refused with its reason.
    * A risk refusal is *recorded* (not raised): the win becomes 兑奖失败 with the reason, the
      buyer is told to contact platform support, and an event is written (rule L3).
    """
    session = ctx.session
    query = select(LuckyBagWin).where(LuckyBagWin.token == token).with_for_update()
    win = session.scalars(query).first()
    if win is None or (buyer_id is not None and win.buyer_id != buyer_id):
        raise NotFound("兑奖链接", "Redemption link")
    status = win_status(win, ctx.now)
    if status == WinStatus.REDEEMED:
        return Redemption(win, status, win_order(session, win), created=False)
    if status == WinStatus.FAILED:
        raise Conflict(
            "redeem_failed",
            f"兑奖失败：{win.fail_reason}。{SUPPORT_HINT}",
            f"Redemption failed ({win.fail_code}); please contact platform support",
            rule="L3",
        )
    if status == WinStatus.EXPIRED:
        raise Conflict(
            "redeem_window_closed",
            "已超过兑奖期限，不能兑奖",
            "The redemption window has closed",
            rule="L2",
        )
    errors = []
    address = (address or "").strip()
    receiver_name = (receiver_name or "").strip()
    receiver_phone = (receiver_phone or "").strip()
    if not 5 <= len(address) <= 300:
        errors.append(_field("address", "请填写完整收货地址（5-300字）", "Address: 5–300 chars"))
    if not 1 <= len(receiver_name) <= 60:
        errors.append(_field("receiver_name", "请填写收货人", "Receiver name is required"))
    if not _PHONE.match(receiver_phone):
        errors.append(_field("receiver_phone", "收货手机号须为11位", "Phone must be 11 digits"))
    if errors:
        raise ValidationFailed(
            "invalid_redemption", "兑奖信息有误", "Invalid redemption", errors=errors
        )
    buyer = accounts.get_buyer(session, win.buyer_id)
    key = address_key(address)
    device = (device_id or "").strip()[:64]
    verdict = (policy or DEFAULT_POLICY).check(ctx, RedemptionAttempt(win, buyer, key, device))
    if not verdict.ok:
        win.failed_at = ctx.now
        win.fail_code = verdict.code[:32]
        win.fail_reason = verdict.reason_zh[:200]
        win.address, win.address_key, win.redeem_device = address[:300], key, device
        session.flush()
        notify.emit(
            ctx,
            win.shop_id,
            "luckybag.redeem_failed",
            {**win_event(win, ctx.now), "reason_code": verdict.code, "reason": verdict.reason_zh},
            rule="L3",
        )
        notify.message_buyer(
            ctx,
            buyer_id=win.buyer_id,
            shop_id=win.shop_id,
            kind="text",
            title="兑奖失败",
            body=f"很抱歉，您的福袋奖品兑换未通过平台风控，{SUPPORT_HINT}。",
            payload={"win_id": win.id, "status": WinStatus.FAILED.value},
            rule="L3",
        )
        return Redemption(win, WinStatus.FAILED, None, created=False)
    order = create_prize_order(
        ctx,
        win.shop_id,
        buyer,
        win.product_id,
        address=address,
        receiver_name=receiver_name,
        receiver_phone=receiver_phone,
        source={"win_id": win.id, "lucky_bag_id": win.lucky_bag_id},
    )
    claimed = session.execute(
        update(LuckyBagWin)
        .where(
            LuckyBagWin.id == win.id,
            LuckyBagWin.shop_id == win.shop_id,
            LuckyBagWin.order_id.is_(None),
            LuckyBagWin.failed_at.is_(None),
        )
        .values(
            order_id=order.id,
            redeemed_at=ctx.now,
            address=address[:300],
            address_key=key,
            redeem_device=device,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        # Another redemption won the race; this transaction (and its order) rolls back.
        raise Conflict("already_redeemed", "该奖品已兑换", "This win was already redeemed")
    session.refresh(win)
    notify.emit(
        ctx,
        win.shop_id,
        "luckybag.redeemed",
        {**win_event(win, ctx.now), "order_no": order.order_no},
        rule="L2",
    )
    notify.message_buyer(
        ctx,
        buyer_id=win.buyer_id,
        shop_id=win.shop_id,
        kind="text",
        title="兑奖成功",
        body=f"奖品订单 {order.order_no} 已生成，商家将按时发货。",
        payload={"win_id": win.id, "order_id": order.id, "order_no": order.order_no},
        rule="L2",
    )
    return Redemption(win, WinStatus.REDEEMED, order, created=True)

"""Console pages 直播 (/console/live) and 福袋 (/console/luckybags), and the buyer's redemption
page (/buyer/luckybags/wins/{token}) that the 兑奖链接 opens (L1–L3, L5)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Cookie, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.api.deps import CtxDep
from xiaodian.context import Ctx
from xiaodian.errors import ValidationFailed, XiaodianError
from xiaodian.luckybags import service
from xiaodian.luckybags.models import LiveStream, LuckyBagWin
from xiaodian.orders import service as orders
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import environment, render

router = APIRouter(include_in_schema=False)
MANAGE = "luckybags.manage"
DEVICE_COOKIE = "xiaodian_device"


def parse_local(text: str, tz: str, field: str) -> datetime:
    """A console ``datetime-local`` value (shop timezone) → aware UTC."""
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(
            "invalid_time", "时间格式不正确", "Invalid date/time", field=field
        ) from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=ZoneInfo(tz))


# ----- 直播 -----------------------------------------------------------------------------------


@router.get("/console/live")
def live_page(request: Request, console: ConsoleCtx) -> Response:
    """L1/L5: the shop's live streams (state derived from now), 人店一体 binding."""
    console.principal.require(MANAGE)
    ctx = console.ctx
    shop = accounts.get_shop(ctx.session, console.shop_id)
    lives = service.list_lives(ctx.session, shop.id, limit=50)
    return render(
        request,
        "luckybags/live.html",
        shop=shop,
        rows=[(live, service.live_state(live, ctx.now)) for live in lives],
        labels=service.LIVE_STATE_LABELS,
        live_now=service.live_now(ctx.session, shop.id, ctx.now),
        upcoming=service.next_scheduled(ctx.session, shop.id, ctx.now),
    )


@router.post("/console/live")
def schedule(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    title: Annotated[str, Form(max_length=60)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    end: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    console.principal.require(MANAGE)
    tz = console.ctx.settings.timezone
    live = service.schedule_live(
        console.ctx,
        console.shop_id,
        title=title,
        start=parse_local(start, tz, "start"),
        end=parse_local(end, tz, "end"),
    )
    flash(request, f"已创建直播「{live.title}」")
    return RedirectResponse("/console/live", status_code=303)


@router.post("/console/live/{live_id}/start")
def start(live_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    console.principal.require(MANAGE)
    live = service.start_live(console.ctx, console.shop_id, live_id)
    flash(request, f"「{live.title}」已开播")
    return RedirectResponse("/console/live", status_code=303)


@router.post("/console/live/{live_id}/end")
def end(live_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    console.principal.require(MANAGE)
    live = service.end_live(console.ctx, console.shop_id, live_id)
    flash(request, f"「{live.title}」已结束直播")
    return RedirectResponse("/console/live", status_code=303)


@router.post("/console/live/binding")
def bind(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    account: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    console.principal.require(MANAGE)
    shop = service.bind_douyin(console.ctx, console.shop_id, account)
    flash(request, f"已绑定抖音号 {shop.douyin_account}（人店一体）")
    return RedirectResponse("/console/live", status_code=303)


@router.post("/console/live/binding/delete")
def unbind(request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    console.principal.require(MANAGE)
    service.unbind_douyin(console.ctx, console.shop_id)
    flash(request, "已解除抖音号绑定")
    return RedirectResponse("/console/live", status_code=303)


# ----- 福袋 -----------------------------------------------------------------------------------


@router.get("/console/luckybags")
def bags_page(
    request: Request,
    console: ConsoleCtx,
    status: Annotated[str | None, Query(max_length=16)] = None,
    lucky_bag_id: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """L1/L3: lucky bags, and the win records (中奖记录) with their derived statuses."""
    console.principal.require(MANAGE)
    ctx = console.ctx
    session, shop_id = ctx.session, console.shop_id
    bags = service.list_lucky_bags(session, shop_id, limit=50)
    wins = service.list_wins(
        session, shop_id, ctx.now, status=status or None, lucky_bag_id=lucky_bag_id, limit=100
    )
    lives: dict[int, LiveStream] = {
        live.id: live for live in service.list_lives(session, shop_id, limit=200)
    }
    products = {p.id: p for p in orders.list_products(session, shop_id, limit=200)}
    return render(
        request,
        "luckybags/bags.html",
        bags=[(b, service.participant_count(session, shop_id, b.id)) for b in bags],
        lives=lives,
        open_lives=[
            live
            for live in lives.values()
            if service.live_state(live, ctx.now)
            in (service.LiveState.SCHEDULED, service.LiveState.LIVE)
        ],
        products=products,
        wins=[_win_row(ctx, w) for w in wins],
        counts=service.count_wins_by_status(session, shop_id, ctx.now),
        status_labels=service.WIN_STATUS_LABELS,
        status=status or "",
        lucky_bag_id=lucky_bag_id,
    )


def _win_row(ctx: Ctx, win: LuckyBagWin) -> dict[str, object]:
    buyer = accounts.get_buyer(ctx.session, win.buyer_id)
    status = service.win_status(win, ctx.now)
    order = service.win_order(ctx.session, win)
    return {
        "win": win,
        "buyer": buyer,
        "status": status.value,
        "status_label": service.WIN_STATUS_LABELS[status],
        "order_no": order.order_no if order else "",
    }


@router.post("/console/luckybags")
def create_bag(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    live_id: Annotated[int, Form()],
    product_id: Annotated[int, Form()],
    winners: Annotated[int, Form()],
    draw_at: Annotated[str, Form(max_length=40)] = "",
    title: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    console.principal.require(MANAGE)
    bag = service.create_lucky_bag(
        console.ctx,
        console.shop_id,
        live_id=live_id,
        product_id=product_id,
        winners=winners,
        draw_at=parse_local(draw_at, console.ctx.settings.timezone, "draw_at"),
        title=title,
    )
    flash(request, f"已创建福袋「{bag.title}」，将在开奖时间自动开奖")
    return RedirectResponse("/console/luckybags", status_code=303)


# ----- buyer: the redemption page (兑奖链接) --------------------------------------------------


def _device_signature(secret: str, device_id: str) -> str:
    mac = hmac.new(secret.encode(), f"luckybag-device:{device_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _secret(ctx: Ctx) -> str:
    return ctx.settings.secret_key or accounts.installation_secret(ctx.session)


def signed_device(ctx: Ctx, device_id: str) -> str:
    """The cookie value: ``<id>.<HMAC>`` — a device id only this server can mint."""
    return f"{device_id}.{_device_signature(_secret(ctx), device_id)}"


def device_from_cookie(ctx: Ctx, raw: str | None) -> str | None:
    """The device id of a genuine cookie; None for a missing, forged or tampered one."""
    device_id, dot, signature = (raw or "").partition(".")
    if not dot or not device_id or not signature:
        return None
    expected = _device_signature(_secret(ctx), device_id)
    return device_id if hmac.compare_digest(signature, expected) else None


@router.get("/buyer/luckybags/wins/{token}")
def redeem_page(
    token: str,
    ctx: CtxDep,
    device: Annotated[str | None, Cookie(alias=DEVICE_COOKIE, max_length=128)] = None,
) -> Response:
    """L2: the winner opens the link, sees the prize and its status, and confirms an address.

    L3/S9: the page hands out the stable device id — the signed cookie it already has, else a
    new one — that the redemption (POST) then requires."""
    device_id = device_from_cookie(ctx, device) or secrets.token_hex(8)
    return _buyer_page(ctx, token, device_id, errors=[], message="")


@router.post("/buyer/luckybags/wins/{token}")
def redeem_submit(
    token: str,
    ctx: CtxDep,
    address: Annotated[str, Form(max_length=300)] = "",
    receiver_name: Annotated[str, Form(max_length=60)] = "",
    receiver_phone: Annotated[str, Form(max_length=20)] = "",
    device: Annotated[str | None, Cookie(alias=DEVICE_COOKIE, max_length=128)] = None,
) -> Response:
    """L2/L3: confirm the address; risk control runs; a 0-yuan prize order is created.

    S9: the same-device rule (L3) counts by the signed device cookie the page handed out. A
    submission without a genuine one is refused (and given one): a client that drops or forges
    its cookie no longer gets a fresh device id per request."""
    device_id = device_from_cookie(ctx, device)
    form = {"address": address, "receiver_name": receiver_name, "phone": receiver_phone}
    if device_id is None:
        return _buyer_page(
            ctx,
            token,
            secrets.token_hex(8),
            errors=[],
            message="页面已过期或浏览器未保存 Cookie，请刷新兑奖页面后重新提交",
            status_code=400,
            form=form,
        )
    try:
        result = service.redeem(
            ctx,
            token,
            address=address,
            receiver_name=receiver_name,
            receiver_phone=receiver_phone,
            device_id=device_id,
        )
    except XiaodianError as exc:
        ctx.session.rollback()
        errors = [str(e.get("message_zh", "")) for e in exc.errors]
        return _buyer_page(
            ctx,
            token,
            device_id,
            errors=errors,
            message=exc.message_zh,
            status_code=exc.status,
            form=form,
        )
    message = (
        f"兑奖失败：{result.win.fail_reason}。{service.SUPPORT_HINT}"
        if result.status == service.WinStatus.FAILED
        else "兑奖成功，奖品订单已生成"
    )
    return _buyer_page(ctx, token, device_id, errors=[], message=message)


def _buyer_page(
    ctx: Ctx,
    token: str,
    device_id: str,
    *,
    errors: list[str],
    message: str,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    try:
        win = service.win_by_token(ctx.session, token)
    except XiaodianError:
        html = environment.get_template("luckybags/buyer_win.html").render(win=None)
        return HTMLResponse(html, status_code=404)
    status = service.win_status(win, ctx.now)
    shop = accounts.get_shop(ctx.session, win.shop_id)
    product = orders.get_product(ctx.session, win.shop_id, win.product_id)
    order = service.win_order(ctx.session, win)
    html = environment.get_template("luckybags/buyer_win.html").render(
        win=win,
        shop=shop,
        product=product,
        order=order,
        status=status.value,
        status_label=service.WIN_STATUS_LABELS[status],
        support_hint=service.SUPPORT_HINT,
        errors=errors,
        message=message,
        form=form or {},
        tz=ctx.settings.timezone,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.set_cookie(
        DEVICE_COOKIE,
        signed_device(ctx, device_id),
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        path="/buyer/luckybags/",
    )
    return response

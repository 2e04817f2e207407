"""The buyer pages 买家页面 (issue 17, F8): ``/shop/{shop_id}`` (店铺主页领券) and ``/my/…``
(我的卡券, 我的订单 and their after-sales, 消息) — a merchant walks a buyer's path without the API.

Sign-in and session: ``/my/login`` takes the buyer's bearer token (``POST /buyer/v1/register``)
or, in a demo, a pick among the buyers (``service.sign_in``). The cookie ``xiaodian_buyer``
(HttpOnly, SameSite=Lax, Secure over https) holds a random token whose SHA-256 is a
``storefront_buyer_sessions`` row; the merchant console's and the operator's sessions are never
looked at here. Every POST carries ``csrf_token``: derived from the session token
(``rules.csrf_for``), or — on the sign-in form, before there is a session — equal to the
``xiaodian_buyer_login`` cookie (double submit). No inline script (CSP): confirmations use the
console's ``data-confirm`` in ``/console/static/console.js``.

Routes stay thin: parse the form, call the owning context's service (coupons.claim,
aftersales.apply / withdraw / modify / request_intervention), redirect; a refusal is shown on
the page in Chinese with its own status.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.models import KIND_LABELS, OPEN_STATUSES, STATUS_LABELS
from xiaodian.aftersales.reasons import BUYER_REASONS
from xiaodian.context import Ctx
from xiaodian.coupons import rules as coupon_rules
from xiaodian.coupons import service as coupons
from xiaodian.coupons.mappers import image_url
from xiaodian.coupons.models import ClaimStatus
from xiaodian.errors import ValidationFailed, XiaodianError
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.models import AFTER_SALE_LABELS
from xiaodian.orders.models import STATUS_LABELS as ORDER_STATUS_LABELS
from xiaodian.platform import service as platform
from xiaodian.platform.rules import SANCTION_LABELS
from xiaodian.runtime import Runtime
from xiaodian.storefront import rules, service
from xiaodian.web.auth import CsrfFailed, LoginRequired, form_with_csrf
from xiaodian.web.forms import fen_from_yuan
from xiaodian.web.render import environment

COOKIE = "xiaodian_buyer"
LOGIN_COOKIE = "xiaodian_buyer_login"  # the sign-in form's double-submit CSRF value
MAX_IMAGES = 9

router = APIRouter(include_in_schema=False)

# What a page says after a redirect (?done=…); never the internal code itself.
DONE = {
    "claimed": "领取成功，券码已放入我的卡券",
    "applied": "售后申请已提交，等待商家处理",
    "withdrawn": "已撤销售后申请",
    "modified": "已修改售后申请",
    "change_requested": "已提交申请，等待商家同意",
    "intervention": "已申请平台介入，平台将尽快处理",
}


class BuyerLoginRequired(LoginRequired):
    @property
    def login_url(self) -> str:
        return "/my/login?next=" + quote(self.next_path, safe="/")


@dataclass
class BuyerPage:
    ctx: Ctx
    buyer: service.CurrentBuyer
    token: str

    @property
    def csrf(self) -> str:
        return rules.csrf_for(self.token)


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _find(request: Request, ctx: Ctx) -> BuyerPage | None:
    token = request.cookies.get(COOKIE) or ""
    if not token:
        return None
    buyer = service.buyer_for_session(ctx.session, token, _rt(request).wall.now())
    if buyer is None:
        return None
    ctx.actor = buyer.actor
    return BuyerPage(ctx=ctx, buyer=buyer, token=token)


def _buyer(request: Request) -> Iterator[BuyerPage]:
    """The signed-in buyer and the request's unit of work; else 303 to the sign-in page."""
    with _rt(request).unit(actor="anonymous") as ctx:
        found = _find(request, ctx)
        if found is None:
            path = request.url.path
            if request.method != "GET":  # back to the page the form was on
                path = path.rsplit("/", 1)[0] if path.startswith("/shop/") else rules.HOME
            raise BuyerLoginRequired(path)
        yield found


@dataclass
class Visitor:
    ctx: Ctx
    buyer: BuyerPage | None  # None: not signed in (the homepage is public)


def _visitor(request: Request) -> Iterator[Visitor]:
    with _rt(request).unit(actor="anonymous") as ctx:
        yield Visitor(ctx, _find(request, ctx))


BuyerCtx = Annotated[BuyerPage, Depends(_buyer, scope="function")]
VisitorCtx = Annotated[Visitor, Depends(_visitor, scope="function")]


async def _form(request: Request) -> FormData:
    """The submitted form, after its csrf_token matched the buyer session's."""
    token = request.cookies.get(COOKIE) or ""
    return await form_with_csrf(request, rules.csrf_for(token) if token else "")


BuyerForm = Annotated[FormData, Depends(_form)]


def page(
    request: Request,
    template: str,
    buyer: BuyerPage | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    done = request.query_params.get("done", "")
    html = environment.get_template(template).render(
        request=request,
        buyer=buyer.buyer if buyer else None,
        buyer_csrf=buyer.csrf if buyer else "",
        done=DONE.get(done, ""),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _refusal(exc: XiaodianError) -> dict[str, Any]:
    """A refusal as the page shows it: the message and each field's message, in Chinese."""
    fields = [str(e.get("message_zh") or "") for e in exc.errors if e.get("message_zh")]
    return {"message": exc.message_zh, "fields": fields}


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _int(form: FormData, name: str) -> int:
    value = form.get(name)
    if not isinstance(value, str) or not value.isdigit() or len(value) > 18:
        raise ValidationFailed(
            "invalid_form", "提交的内容有误，请刷新后重试", f"{name}: not a number", field=name
        )
    return int(value)


# ----- sign-in -------------------------------------------------------------------------------


@router.get("/my/login")
def login_form(request: Request, next: str | None = None) -> Response:
    rt = _rt(request)
    with rt.unit(actor="anonymous") as ctx:
        demo = [
            (b.id, b.nickname, b.douyin_id) for b in service.demo_buyers(ctx.session, rt.settings)
        ]
    return _login_page(request, rules.safe_next(next), demo)


def _login_page(
    request: Request, next_path: str, demo: list[Any], status_code: int = 200, error: str = ""
) -> Response:
    rt = _rt(request)
    login_token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        request,
        "storefront/login.html",
        None,
        status_code,
        next=next_path,
        demo=demo,
        demo_enabled=service.demo_sign_in_enabled(rt.settings),
        login_csrf=login_token,
        error=error,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        login_token,
        max_age=3600,
        path="/my/login",
        httponly=True,
        samesite="lax",
        secure=rt.settings.cookie_secure,
    )
    return response


@router.post("/my/login")
async def login(request: Request) -> Response:
    """F8: sign in with the buyer token, or (demo) as the buyer picked."""
    rt = _rt(request)
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    sent = form.get("csrf_token")
    if (
        not expected
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfFailed()
    next_path = rules.safe_next(_text(form, "next", 300))
    raw_id = _text(form, "buyer_id", 20)
    try:
        cookie = service.sign_in(
            rt,
            token=_text(form, "token", 200),
            buyer_id=int(raw_id) if raw_id.isdigit() else None,
        )
    except XiaodianError as exc:
        with rt.unit(actor="anonymous") as ctx:
            demo = [
                (b.id, b.nickname, b.douyin_id)
                for b in service.demo_buyers(ctx.session, rt.settings)
            ]
        return _login_page(request, next_path, demo, exc.status, exc.message_zh)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=rt.settings.storefront.session_max_age_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=rt.settings.cookie_secure,
    )
    response.delete_cookie(LOGIN_COOKIE, path="/my/login")
    return response


@router.post("/my/logout")
def logout(request: Request, buyer: BuyerCtx, _form: BuyerForm) -> Response:
    service.end_session(buyer.ctx.session, buyer.token)
    response = RedirectResponse("/my/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# ----- 店铺主页领券 (C4) ------------------------------------------------------------------------


def _homepage(
    request: Request, ctx: Ctx, buyer: BuyerPage | None, shop_id: int, **extra: Any
) -> HTMLResponse:
    shop = accounts.get_shop(ctx.session, shop_id)
    # F1/O8: a shop under 停业整改 or 清退 lists nothing (its listings hidden) and says why.
    sanction = platform.sanction_of(ctx.session, shop_id)
    items = [
        {
            "campaign_id": i.campaign.id,
            "coupon_id": i.coupon.id,
            "title": i.coupon.title,
            "merchant_name": i.coupon.merchant_name,
            "summary": coupon_rules.condition_summary(i.coupon),
            "usage_text": i.coupon.usage_text,
            "claim_instructions": i.coupon.claim_instructions,
            "service_phone": i.coupon.service_phone,
            "image": image_url(shop_id, i.coupon.product_image_sha),
            "logo": image_url(shop_id, i.coupon.logo_sha),
            "per_user_limit": i.campaign.per_user_limit,
            "remaining": i.remaining,
            "ends_at": i.campaign.ends_at,
        }
        for i in coupons.homepage(ctx.session, shop_id, ctx.now)
        if sanction is None
    ]
    return page(
        request,
        "storefront/shop.html",
        buyer,
        extra.pop("status_code", 200),
        shop=shop,
        items=items,
        sanction_label=SANCTION_LABELS.get(sanction or ""),
        **extra,
    )


@router.get("/shop/{shop_id}")
def shop_home(shop_id: int, request: Request, visitor: VisitorCtx) -> Response:
    """C4 店铺主页领券: public; 领取 needs a signed-in buyer."""
    return _homepage(request, visitor.ctx, visitor.buyer, shop_id)


@router.post("/shop/{shop_id}/claim")
def claim(shop_id: int, request: Request, buyer: BuyerCtx, form: BuyerForm) -> Response:
    """C4 领取: the coupons service decides (per-user and total limits, C3)."""
    ctx = buyer.ctx
    try:
        coupons.claim(
            ctx,
            shop_id,
            buyer.buyer.buyer_id,
            campaign_id=_int(form, "campaign_id"),
            coupon_id=_int(form, "coupon_id"),
        )
    except XiaodianError as exc:
        ctx.session.rollback()
        return _homepage(
            request, ctx, buyer, shop_id, status_code=exc.status, refusal=_refusal(exc)
        )
    return RedirectResponse("/my/coupons?done=claimed", status_code=303)


# ----- 我的卡券 ----------------------------------------------------------------------------


@router.get("/my/coupons")
def my_coupons(request: Request, buyer: BuyerCtx) -> Response:
    session = buyer.ctx.session
    rows = coupons.buyer_claims(session, buyer.buyer.buyer_id)
    shops = {c.shop_id: accounts.get_shop(session, c.shop_id).name for c, _ in rows}
    claims = [
        {
            "id": c.id,
            "shop_name": shops[c.shop_id],
            "shop_id": c.shop_id,
            "title": coupon.title,
            "summary": coupon_rules.condition_summary(coupon),
            "code": coupons.format_code(c.code),
            "status": ClaimStatus.LABELS.get(c.status, c.status),
            "valid_from": c.valid_from,
            "valid_until": c.valid_until,
            "expired": c.status == ClaimStatus.UNUSED and c.valid_until < buyer.ctx.now,
        }
        for c, coupon in rows
    ]
    return page(request, "storefront/coupons.html", buyer, claims=claims)


@router.get("/my/coupons/{claim_id}/qr.png")
def claim_qr(claim_id: int, buyer: BuyerCtx) -> Response:
    """C4: the claim's QR (the coupons service draws it); another buyer's claim is 404."""
    row = coupons.buyer_claim(buyer.ctx.session, buyer.buyer.buyer_id, claim_id)
    return Response(coupons.qr_png(row.code, scale=6), media_type="image/png")


# ----- 我的订单 and after-sales (A1, A5, F1) ----------------------------------------------------


@router.get("/my/orders")
def my_orders(request: Request, buyer: BuyerCtx) -> Response:
    views = service.my_orders(buyer.ctx.session, buyer.buyer.buyer_id)
    open_orders = {v.order.id for v in views if any(r.status in OPEN_STATUSES for r in v.requests)}
    return page(
        request,
        "storefront/orders.html",
        buyer,
        views=views,
        can_apply={
            v.order.id: bool(rules.apply_kinds(v.order.status, v.order.paid_at is not None))
            and v.order.id not in open_orders
            for v in views
        },
        order_labels=ORDER_STATUS_LABELS,
        after_sale_labels=AFTER_SALE_LABELS,
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
    )


def _apply_page(
    request: Request, buyer: BuyerPage, order_id: int, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    session = buyer.ctx.session
    order = orders.buyer_order(session, buyer.buyer.buyer_id, order_id)
    items = orders.order_items(session, order)
    kinds = rules.apply_kinds(order.status, order.paid_at is not None)
    choices = [
        (
            KIND_LABELS[kind],
            [(f"{kind}:{code}", r.label) for code, r in BUYER_REASONS[kind].items()],
        )
        for kind in kinds
    ]
    maximum = order.paid_fen - order.refunded_fen
    return page(
        request,
        "storefront/apply.html",
        buyer,
        status_code,
        order=order,
        shop=accounts.get_shop(session, order.shop_id),
        items=items,
        choices=choices,
        maximum=maximum,
        order_labels=ORDER_STATUS_LABELS,
        sent=extra.pop("sent", {}),
        **extra,
    )


@router.get("/my/orders/{order_id}/aftersale")
def apply_form(order_id: int, request: Request, buyer: BuyerCtx) -> Response:
    return _apply_page(request, buyer, order_id)


def _images(form: FormData) -> list[tuple[str, bytes]]:
    files = [f for f in form.getlist("images") if isinstance(f, UploadFile) and f.filename]
    if len(files) > MAX_IMAGES:
        raise ValidationFailed(
            "too_many_images",
            f"图片凭证最多{MAX_IMAGES}张",
            f"At most {MAX_IMAGES} images",
            field="images",
        )
    return [(f.filename or "image", f.file.read()) for f in files]


@router.post("/my/orders/{order_id}/aftersale")
def apply(order_id: int, request: Request, buyer: BuyerCtx, form: BuyerForm) -> Response:
    """A1 申请售后: the after-sales service validates kind, reason, items, amount, images
    (each image through its own upload check, A1 图片凭证)."""
    ctx = buyer.ctx
    sent = {
        "choice": _text(form, "choice", 64),
        "amount": _text(form, "amount", 32),
        "note": _text(form, "note", 500),
    }
    try:
        kind, _, reason = sent["choice"].partition(":")
        order = orders.buyer_order(ctx.session, buyer.buyer.buyer_id, order_id)
        items = [
            aftersales.ItemQty(item.id, int(raw))
            for item in orders.order_items(ctx.session, order)
            if (raw := _text(form, f"qty_{item.id}", 6)).isdigit() and int(raw) > 0
        ]
        amount = fen_from_yuan(sent["amount"], "amount_fen", label="退款金额")
        who = ctx.session.get(Buyer, buyer.buyer.buyer_id)
        assert who is not None
        image_ids = [
            aftersales.buyer_upload(ctx, who, order_id, name, data).id
            for name, data in _images(form)
        ]
        req = aftersales.apply(
            ctx,
            who,
            order_id,
            kind=kind,
            items=items,
            amount_fen=amount,
            reason=reason,
            note=sent["note"],
            image_ids=image_ids,
        )
    except XiaodianError as exc:
        ctx.session.rollback()
        if exc.status == 404:
            raise
        return _apply_page(request, buyer, order_id, exc.status, refusal=_refusal(exc), sent=sent)
    return RedirectResponse(f"/my/aftersales/{req.id}?done=applied", status_code=303)


def _detail_page(
    request: Request, buyer: BuyerPage, request_id: int, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    session = buyer.ctx.session
    req = aftersales.buyer_request(session, buyer.buyer.buyer_id, request_id)
    asked = aftersales.intervention_requests(session, [req.id]).get(req.id)
    order = orders.buyer_order(session, buyer.buyer.buyer_id, req.order_id)
    reasons = BUYER_REASONS.get(req.kind, {})
    return page(
        request,
        "storefront/aftersale.html",
        buyer,
        status_code,
        req=req,
        order=order,
        shop=accounts.get_shop(session, req.shop_id),
        history=aftersales.history(session, req),
        asked=asked,
        reason_label=reasons[req.reason].label if req.reason in reasons else req.reason,
        reasons=[(code, r.label) for code, r in reasons.items()],
        can_change=rules.can_change(req.status, bool(req.change_request)),
        can_ask=rules.can_ask_platform(req.status, asked is not None),
        kind_label=KIND_LABELS.get(req.kind, req.kind),
        status_label=STATUS_LABELS.get(req.status, req.status),
        **extra,
    )


@router.get("/my/aftersales/{request_id}")
def aftersale(request_id: int, request: Request, buyer: BuyerCtx) -> Response:
    return _detail_page(request, buyer, request_id)


def _after(request: Request, buyer: BuyerPage, request_id: int, action: Any) -> Response:
    """Run one after-sales action; a refusal comes back on the detail page."""
    ctx = buyer.ctx
    aftersales.buyer_request(ctx.session, buyer.buyer.buyer_id, request_id)  # 404 first
    try:
        done = action()
    except XiaodianError as exc:
        ctx.session.rollback()
        return _detail_page(request, buyer, request_id, exc.status, refusal=_refusal(exc))
    return RedirectResponse(f"/my/aftersales/{request_id}?done={done}", status_code=303)


@router.post("/my/aftersales/{request_id}/withdraw")
def withdraw(request_id: int, request: Request, buyer: BuyerCtx, form: BuyerForm) -> Response:
    """A5 撤销: at once while pending; after agreement a request the merchant approves."""

    def act() -> str:
        req = aftersales.withdraw(
            buyer.ctx, buyer.buyer.buyer_id, request_id, _text(form, "note", 200)
        )
        return "change_requested" if req.change_request else "withdrawn"

    return _after(request, buyer, request_id, act)


@router.post("/my/aftersales/{request_id}/modify")
def modify(request_id: int, request: Request, buyer: BuyerCtx, form: BuyerForm) -> Response:
    """A5 修改 (amount, reason, note): at once while pending; after agreement a request."""

    def act() -> str:
        amount = fen_from_yuan(_text(form, "amount", 32), "amount_fen", label="退款金额")
        req = aftersales.modify(
            buyer.ctx,
            buyer.buyer.buyer_id,
            request_id,
            amount_fen=amount,
            reason=_text(form, "reason", 32) or None,
            note=_text(form, "note", 500),
        )
        return "change_requested" if req.change_request else "modified"

    return _after(request, buyer, request_id, act)


@router.post("/my/aftersales/{request_id}/intervention")
def intervention(request_id: int, request: Request, buyer: BuyerCtx, form: BuyerForm) -> Response:
    """F1 申请平台介入 on a request the merchant rejected."""

    def act() -> str:
        aftersales.request_intervention(
            buyer.ctx, buyer.buyer.buyer_id, request_id, _text(form, "note", 400)
        )
        return "intervention"

    return _after(request, buyer, request_id, act)


# ----- 消息 ------------------------------------------------------------------------------------


@router.get("/my/inbox")
def inbox(request: Request, buyer: BuyerCtx) -> Response:
    session = buyer.ctx.session
    rows = notify.inbox(session, buyer.buyer.buyer_id, limit=50)
    shops = {m.shop_id: accounts.get_shop(session, m.shop_id).name for m in rows if m.shop_id}
    messages = [(m, notify.as_read(session, m), shops.get(m.shop_id, "")) for m in rows]
    return page(request, "storefront/inbox.html", buyer, messages=messages)

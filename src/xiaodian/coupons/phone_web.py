"""The verifier's phone page 手机核销 under ``/staff/m`` (issue 17, F4; seed 004).

No console login: the phone carries only its staff cookie ``xiaodian_staff`` (path
``/staff/m``, HttpOnly, SameSite=Lax), set when it opens the one-time link the merchant's
console issued (``staff_web.py``). The cookie holds a staff token (``StaffToken``, stored
hashed, C5): every request re-reads the staff row, so revoking the staff member ends the
phone's session at once. The console's session is never looked at here, and the staff cookie
is never sent to ``/console`` (its path) nor found in the console's session table.

The flow is the staff app's (``/staff/v1``), on the page: a typed code, or a photo of the
buyer's QR (decoded on the server with the C6 upload limits) → ``service.prepare`` shows the
coupon, where it can be used and whether it can be verified now → 确定 → ``service.verify``
with the C7 verify token → 核销成功, or the refusal in Chinese. Another shop's code is unknown
here exactly as in the API. Every POST carries ``csrf_token`` derived from the phone's token
(``rules.phone_csrf_for``); no inline script (CSP).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRouter
from starlette.datastructures import FormData, UploadFile

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Staff
from xiaodian.context import Ctx
from xiaodian.coupons import rules, service, staff_links
from xiaodian.errors import AuthFailed, XiaodianError
from xiaodian.runtime import Runtime
from xiaodian.web.auth import CsrfFailed
from xiaodian.web.render import environment

COOKIE = "xiaodian_staff"
PREFIX = "/staff/m"
CHANNELS = {"code": "输入券码", "scan": "扫描二维码"}

router = APIRouter(include_in_schema=False)


@dataclass
class Phone:
    """A request of the phone page: its unit of work, and the bound staff member (None: this
    phone is not bound, or no longer — ``problem`` says why)."""

    ctx: Ctx
    token: str
    staff: Staff | None
    problem: XiaodianError | None

    @property
    def csrf(self) -> str:
        return rules.phone_csrf_for(self.token) if self.staff is not None else ""


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _unbound() -> XiaodianError:
    return AuthFailed(
        "staff_phone_unbound",
        "本机尚未绑定核销人员，请让商家在后台生成手机核销链接后用本机打开",
        "This phone is not bound to a verifier",
        rule="F4",
    )


def _phone(request: Request) -> Iterator[Phone]:
    token = request.cookies.get(COOKIE) or ""
    with _rt(request).unit(actor="anonymous") as ctx:
        staff: Staff | None = None
        problem: XiaodianError | None = None
        if not token or len(token) > 200:
            problem = _unbound()
        else:
            try:
                staff = service.staff_by_token(ctx.session, token)
            except XiaodianError as exc:  # bad_staff_token, staff_revoked
                problem = exc
        if staff is not None:
            ctx.actor = f"staff:{staff.id}"
        yield Phone(ctx=ctx, token=token, staff=staff, problem=problem)


# Committed when the route returns, before the response is sent.
PhoneCtx = Annotated[Phone, Depends(_phone, scope="function")]


async def _form(request: Request) -> FormData:
    return await request.form()


PhoneForm = Annotated[FormData, Depends(_form)]


def page(
    request: Request,
    template: str,
    phone: Phone | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    staff = phone.staff if phone else None
    html = environment.get_template(template).render(
        request=request,
        staff=staff,
        phone_csrf=phone.csrf if phone else "",
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _message(request: Request, phone: Phone | None, problem: XiaodianError) -> HTMLResponse:
    return page(request, "coupons/phone/message.html", phone, problem.status, problem=problem)


def _refused(
    request: Request, phone: Phone, problem: XiaodianError, **context: Any
) -> HTMLResponse:
    """A refusal of the code or of the verification: shown on the phone home page, the form
    ready for the next code."""
    phone.ctx.session.rollback()
    return _home(request, phone, problem.status, refusal=problem, **context)


def _csrf_ok(phone: Phone, form: FormData) -> bool:
    sent = form.get("csrf_token")
    if phone.staff is None or not isinstance(sent, str) or not sent:
        return False
    return hmac.compare_digest(sent.encode(), phone.csrf.encode())


def _home(request: Request, phone: Phone, status_code: int = 200, **context: Any) -> HTMLResponse:
    assert phone.staff is not None
    session = phone.ctx.session
    store_ids = accounts.staff_store_ids(session, phone.staff)
    names = accounts.store_names(session, phone.staff.shop_id)
    stores = [names[i] for i in store_ids if i in names] if store_ids is not None else None
    return page(
        request,
        "coupons/phone/home.html",
        phone,
        status_code,
        shop=accounts.get_shop(session, phone.staff.shop_id),
        stores=stores,
        **context,
    )


# ----- binding -------------------------------------------------------------------------------


@router.get(PREFIX + "/bind/{link_token}")
def bind(link_token: str, request: Request) -> Response:
    """Open the one-time link on the phone: the link is burnt, the phone gets its cookie."""
    rt = _rt(request)
    try:
        with rt.unit(actor="anonymous") as ctx:
            bound = staff_links.bind_phone(ctx, link_token)
    except XiaodianError as exc:
        return _message(request, None, exc)
    response = RedirectResponse(f"{PREFIX}?bound=1", status_code=303)
    response.set_cookie(
        COOKIE,
        bound.token,
        max_age=rt.settings.coupons.staff_phone_cookie_days * 24 * 3600,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=rt.settings.cookie_secure,
    )
    return response


@router.post(PREFIX + "/unbind")
def unbind(request: Request, phone: PhoneCtx, form: PhoneForm) -> Response:
    """解除绑定: this phone's staff token is deleted and its cookie dropped."""
    if phone.staff is None:
        return _message(request, None, phone.problem or _unbound())
    if not _csrf_ok(phone, form):
        return _message(request, phone, CsrfFailed())
    staff_links.unbind_phone(phone.ctx, phone.staff, phone.token)
    response = page(request, "coupons/phone/unbound.html", None)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# ----- the page ------------------------------------------------------------------------------


@router.get(PREFIX)
def home(request: Request, phone: PhoneCtx, bound: str = "") -> Response:
    """输入券码 or 扫描二维码 (a photo of the buyer's QR)."""
    if phone.staff is None:
        return _message(request, None, phone.problem or _unbound())
    return _home(request, phone, just_bound=bound == "1")


@router.post(PREFIX + "/prepare")
def prepare(request: Request, phone: PhoneCtx, form: PhoneForm) -> Response:
    """Look the code up (typed, or read from the photo) and ask to confirm."""
    if phone.staff is None:
        return _message(request, None, phone.problem or _unbound())
    if not _csrf_ok(phone, form):
        return _message(request, phone, CsrfFailed())
    staff, ctx = phone.staff, phone.ctx
    code = str(form.get("code") or "")[:200]
    image = form.get("image")
    channel = "code"
    try:
        if isinstance(image, UploadFile) and image.filename:
            data = image.file.read(ctx.settings.coupons.scan_image_max_bytes + 1)
            code, channel = service.code_from_image(ctx, data), "scan"
        prepared = service.prepare(ctx, staff.shop_id, code, staff.id)
    except XiaodianError as exc:
        return _refused(request, phone, exc, code=code if channel == "code" else "")
    session = ctx.session
    names = accounts.store_names(session, staff.shop_id)
    coupon = prepared.coupon
    return page(
        request,
        "coupons/phone/confirm.html",
        phone,
        prepared.refusal.status if prepared.refusal else 200,
        p=prepared,
        code=service.format_code(prepared.claim.code),
        channel=channel,
        channel_label=CHANNELS[channel],
        stores=[(i, names.get(i, f"#{i}")) for i in prepared.usable_store_ids],
        face_value=rules.yuan_short(rules.face_value(coupon)),
        summary=rules.condition_summary(coupon),
        timezone=ctx.settings.timezone,
    )


@router.post(PREFIX + "/verify")
def verify(request: Request, phone: PhoneCtx, form: PhoneForm) -> Response:
    """确定: verify the prepared code at the chosen store (C6), by this staff member."""
    if phone.staff is None:
        return _message(request, None, phone.problem or _unbound())
    if not _csrf_ok(phone, form):
        return _message(request, phone, CsrfFailed())
    staff, ctx = phone.staff, phone.ctx
    channel = str(form.get("channel") or "code")
    store = str(form.get("store_id") or "")
    try:
        claim_id = service.read_verify_token(
            ctx, staff.shop_id, str(form.get("verify_token") or "")
        )
        result = service.verify(
            ctx,
            staff.shop_id,
            claim_id=claim_id,
            store_id=int(store) if store.isdigit() and len(store) < 19 else 0,
            staff_id=staff.id,
            channel=channel if channel in CHANNELS else "code",
        )
    except XiaodianError as exc:
        return _refused(request, phone, exc)
    coupon = service.get_coupon(ctx.session, staff.shop_id, result.claim.coupon_id)
    return page(
        request,
        "coupons/phone/done.html",
        phone,
        v=result.verification,
        code=service.format_code(result.claim.code),
        coupon=coupon,
        face_value=rules.yuan_short(rules.face_value(coupon)),
        store=accounts.store_name(ctx.session, staff.shop_id, result.verification.store_id),
        timezone=ctx.settings.timezone,
    )

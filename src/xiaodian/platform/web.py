"""The operator console 平台运营 under ``/operator`` (issue 17, F1).

Its own login and its own session: the cookie ``xiaodian_operator`` (path ``/operator``,
HttpOnly, SameSite=Strict) holds a token whose SHA-256 is a ``platform_operator_sessions`` row.
A merchant's console session is never looked at here, and an operator's cookie is never sent
to ``/console`` nor found in the merchants' session table — neither reaches the other's pages.
Every POST carries ``csrf_token`` derived from the operator's token (``rules.csrf_for``).
Routes stay thin: parse the form, call one service function, redirect.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from xiaodian.accounts.passwords import HashingBusy
from xiaodian.accounts.sessions import LoginLocked
from xiaodian.context import Ctx
from xiaodian.errors import AuthFailed
from xiaodian.platform import rules, service
from xiaodian.runtime import Runtime
from xiaodian.web.auth import CsrfFailed, LoginRequired, form_with_csrf
from xiaodian.web.render import environment

COOKIE = "xiaodian_operator"
# F1: the login form's CSRF value is derived from a random pre-login cookie (double submit, as
# the shop console's login carries one from its session); a login rotates it away.
LOGIN_COOKIE = "xiaodian_operator_login"
PREFIX = "/operator"

router = APIRouter(include_in_schema=False)

# What the page says after a redirect (?done=…); never the internal code itself.
DONE = {
    "approved": "已通过该卡券，审核期满后生效",
    "rejected": "已驳回该卡券，商家将收到原因",
    "unbanned": "已解除商品封禁，商家已收到通知",
    "decided": "已处理该店铺审核，商家已收到通知",
    "intervened": "平台介入已处理，商家与买家已收到结果",
    "lifted": "已解除停业整改，商家已收到通知",
}


class OperatorLoginRequired(LoginRequired):
    @property
    def login_url(self) -> str:
        return f"{PREFIX}/login?next=" + quote(self.next_path, safe="/")


@dataclass
class OperatorConsole:
    ctx: Ctx
    operator: service.CurrentOperator
    token: str

    @property
    def csrf(self) -> str:
        return rules.csrf_for(self.token)


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def _operator(request: Request) -> Iterator[OperatorConsole]:
    token = request.cookies.get(COOKIE)
    next_path = request.url.path if request.method == "GET" else f"{PREFIX}/"
    if not token:
        raise OperatorLoginRequired(next_path)
    rt = _rt(request)
    with rt.unit(actor="anonymous") as ctx:
        operator = service.operator_for_token(ctx.session, token, rt.wall.now())
        if operator is None:
            raise OperatorLoginRequired(next_path)
        ctx.actor = operator.actor
        yield OperatorConsole(ctx=ctx, operator=operator, token=token)


OperatorCtx = Annotated[OperatorConsole, Depends(_operator, scope="function")]


async def _form(request: Request) -> FormData:
    """The submitted form, after its csrf_token matched the operator session's."""
    token = request.cookies.get(COOKIE) or ""
    return await form_with_csrf(request, rules.csrf_for(token) if token else "")


OperatorForm = Annotated[FormData, Depends(_form)]


def page(
    request: Request,
    template: str,
    console: OperatorConsole | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    done = request.query_params.get("done", "")
    html = environment.get_template(template).render(
        request=request,
        operator=console.operator if console else None,
        op_csrf=console.csrf if console else "",
        done=DONE.get(done, ""),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}{path}?done={done}", status_code=303)


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith(f"{PREFIX}/") or target.startswith("//"):
        return f"{PREFIX}/"
    if any(c in target for c in "\\\r\n"):
        return f"{PREFIX}/"
    return target


# ----- login ---------------------------------------------------------------------------------


def _login_nonce(request: Request) -> tuple[str, bool]:
    """The pre-login nonce of this browser (from its cookie), or a new one (True: set it)."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if 20 <= len(nonce) <= 100:
        return nonce, False
    return secrets.token_urlsafe(32), True


def _login_page(
    request: Request, nonce: str, fresh: bool, status_code: int = 200, **context: Any
) -> HTMLResponse:
    answer = page(
        request,
        "platform/login.html",
        None,
        status_code=status_code,
        login_csrf=rules.login_csrf_for(nonce),
        **context,
    )
    if fresh:
        rt = _rt(request)
        answer.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=rt.settings.console.session_max_age_seconds,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=rt.settings.cookie_secure,
        )
    return answer


@router.get(f"{PREFIX}/login")
def login_form(request: Request, next: str | None = None) -> Response:
    nonce, fresh = _login_nonce(request)
    return _login_page(request, nonce, fresh, next=_safe_next(next), username="")


@router.post(f"{PREFIX}/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = f"{PREFIX}/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """An operator login (S4 lockout and hashing gate as for merchants). F1: the form must
    carry the CSRF value of this browser's pre-login cookie (no login CSRF)."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    expected = rules.login_csrf_for(nonce)
    if not nonce or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        raise CsrfFailed()
    rt = _rt(request)
    ip = request.client.host if request.client is not None else "unknown"
    try:
        token = service.log_in(rt, username, password, ip)
    except (AuthFailed, LoginLocked, HashingBusy) as exc:
        answer = _login_page(
            request,
            nonce,
            False,
            status_code=exc.status,
            next=_safe_next(next),
            username=username[:64],
            error=exc.message_zh,
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            answer.headers["Retry-After"] = str(retry_after)
        return answer
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=rt.settings.console.session_max_age_seconds,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=rt.settings.cookie_secure,
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post(f"{PREFIX}/logout")
def logout(request: Request, console: OperatorCtx, _form: OperatorForm) -> Response:
    service.end_session(console.ctx.session, console.token)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# ----- pages ---------------------------------------------------------------------------------


@router.get(PREFIX)
def root() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=303)


@router.get(f"{PREFIX}/")
def home(request: Request, console: OperatorCtx) -> Response:
    session = console.ctx.session
    return page(
        request,
        "platform/home.html",
        console,
        coupons=len(service.coupon_queue(session)),
        products=len(service.banned_products(session)),
        flags=len(service.review_flags(session)),
        decisions=service.decisions(session, limit=20),
    )


@router.get(f"{PREFIX}/coupons")
def coupon_queue(request: Request, console: OperatorCtx) -> Response:
    from xiaodian.coupons import rules as coupon_rules
    from xiaodian.coupons.mappers import image_url

    return page(
        request,
        "platform/coupons.html",
        console,
        queue=service.coupon_queue(console.ctx.session),
        summary=coupon_rules.condition_summary,
        image_url=image_url,
    )


@router.post(f"{PREFIX}/coupons/{{coupon_id}}")
def decide_coupon(
    coupon_id: int, request: Request, console: OperatorCtx, form: OperatorForm
) -> Response:
    approve = form.get("decision") == "approve"
    service.decide_coupon(
        console.ctx, coupon_id, approve=approve, reason=str(form.get("reason") or "")
    )
    return _back("/coupons", "approved" if approve else "rejected")


@router.get(f"{PREFIX}/products")
def banned_products(request: Request, console: OperatorCtx) -> Response:
    return page(
        request,
        "platform/products.html",
        console,
        products=service.banned_products(console.ctx.session),
    )


@router.post(f"{PREFIX}/products/{{product_id}}/unban")
def unban(product_id: int, request: Request, console: OperatorCtx, form: OperatorForm) -> Response:
    service.unban_product(console.ctx, product_id, str(form.get("note") or ""))
    return _back("/products", "unbanned")


@router.get(f"{PREFIX}/shops")
def shops(request: Request, console: OperatorCtx) -> Response:
    session = console.ctx.session
    return page(
        request,
        "platform/shops.html",
        console,
        flags=service.review_flags(session),
        sanctions=service.sanctions(session),
        decisions_labels=rules.SHOP_DECISIONS,
        sanction_labels=rules.SANCTION_LABELS,
    )


@router.post(f"{PREFIX}/shops/flags/{{flag_id}}")
def decide_shop(
    flag_id: int, request: Request, console: OperatorCtx, form: OperatorForm
) -> Response:
    service.decide_shop(
        console.ctx, flag_id, str(form.get("decision") or ""), str(form.get("reason") or "")
    )
    return _back("/shops", "decided")


@router.post(f"{PREFIX}/shops/{{shop_id}}/lift")
def lift(shop_id: int, request: Request, console: OperatorCtx, form: OperatorForm) -> Response:
    """O8/F1: lift a 停业整改 (orders again, paused campaigns restored, notice)."""
    service.lift_suspension(console.ctx, shop_id, str(form.get("reason") or ""))
    return _back("/shops", "lifted")


@router.get(f"{PREFIX}/aftersales")
def aftersales(request: Request, console: OperatorCtx) -> Response:
    from xiaodian.aftersales.service import intervention_requests

    session = console.ctx.session
    rows = service.rejected_aftersales(session)
    return page(
        request,
        "platform/aftersales.html",
        console,
        requests=rows,
        asked=intervention_requests(session, [r.id for r, _ in rows]),
        interventions=rules.INTERVENTIONS,
    )


@router.post(f"{PREFIX}/aftersales/{{request_id}}")
def intervene(
    request_id: int, request: Request, console: OperatorCtx, form: OperatorForm
) -> Response:
    service.intervene(
        console.ctx, request_id, str(form.get("decision") or ""), str(form.get("reason") or "")
    )
    return _back("/aftersales", "intervened")

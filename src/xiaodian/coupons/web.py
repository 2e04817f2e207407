"""Console pages for coupons: 卡券中心 (create, list), 卡券审核 (the review as the shop sees it),
卡券投放 (店铺主页领券 campaigns), 卡券核销 (PC verification by code or uploaded QR image),
and the buyer's 店铺主页领券 page. Routes stay thin: parse the form, call one service
function, render or redirect with a flash."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from xiaodian.accounts import service as accounts
from xiaodian.coupons import rules, service
from xiaodian.coupons.mappers import homepage_items, image_url
from xiaodian.coupons.models import CampaignStatus, CouponStatus
from xiaodian.errors import XiaodianError
from xiaodian.web import forms
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import render

router = APIRouter(include_in_schema=False)


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None


def _fen(text: str) -> int | None:
    try:
        return forms.fen_from_yuan(text) if text.strip() else None
    except XiaodianError:
        return None


# U8: the form asks in 元; the service (shared with the API) reports its *_fen fields in 分.
_YUAN_FIELDS: dict[str, tuple[str, str]] = {
    "discount_cap_fen": ("discount_cap", "请填写最多抵扣金额（元，大于 0，最多两位小数）"),
    "amount_off_fen": ("amount_off", "请填写立减金额（元，大于 0，最多两位小数）"),
    "threshold_fen": ("threshold", "请填写使用门槛（满多少元可用，0 表示无门槛）"),
}


def _in_yuan(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shown = []
    for err in errors:
        name, message = _YUAN_FIELDS.get(str(err.get("field")), ("", ""))
        if name:
            zh = str(err.get("message_zh", ""))
            err = {**err, "field": name, "message_zh": message if "分" in zh else zh}
        shown.append(err)
    return shown


def _day(text: str, tz: str, *, end: bool) -> datetime | None:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    moment = time(23, 59, 59) if end else time(0, 0, 0)
    return datetime.combine(day, moment, tzinfo=ZoneInfo(tz))


def _local(text: str, tz: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        return None


def _ids(form: Any, name: str) -> list[int]:
    return [int(v) for v in form.getlist(name) if isinstance(v, str) and v.isdigit()]


def _read(upload: UploadFile | None, limit: int) -> bytes | None:
    if upload is None or not upload.filename:
        return None
    return upload.file.read(limit)


# ----- 卡券中心 ----------------------------------------------------------------------------


# F8 (issue 17): seed 004 walks 创建卡券 → 通用券 → 开始创建 → the form → 完成卡券创建, and
# 创建活动 → 下一步 → 选择卡券 (刷新, or 创建新的卡券 and back) → 确定. The pages are plain
# server-rendered forms: navigation is GET (the campaign draft travels in the query string, so a
# detour through 创建卡券 comes back to it), only the final 完成卡券创建 / 确定 are CSRF POSTs.

COUPON_KINDS = {"general": ("通用券", "适用于店铺主页领券，到店出示券码或二维码核销")}
CAMPAIGN_NEW = "/console/coupons/campaigns/new"
_DRAFT_FIELDS = ("name", "starts_at", "ends_at", "store_scope", "per_user_limit", "total_limit")


def safe_return(target: str | None) -> str | None:
    """Only a path inside the 创建活动 flow may be returned to after 创建卡券 (never another
    site, never another page: no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    if not (parts.path == CAMPAIGN_NEW or parts.path.startswith(CAMPAIGN_NEW + "/")):
        return None
    return target


def _draft_query(f: dict[str, str], store_ids: list[int], coupon_ids: list[int]) -> str:
    pairs: list[tuple[str, str]] = [(k, f[k]) for k in _DRAFT_FIELDS if f.get(k)]
    pairs += [("store_ids", str(i)) for i in store_ids]
    pairs += [("coupon_ids", str(i)) for i in coupon_ids]
    return urlencode(pairs)


def _center(request: Request, console: Any, **extra: Any) -> Response:
    session = console.ctx.session
    status = extra.pop("status", None)
    coupons = service.list_coupons(session, console.shop_id, status=status, limit=200)
    return render(
        request,
        "coupons/center.html",
        coupons=coupons,
        labels=CouponStatus.LABELS,
        summary=rules.condition_summary,
        image_url=image_url,
        **extra,
    )


@router.get("/console/coupons")
def center(request: Request, console: ConsoleCtx, status: str = "") -> Response:
    """卡券中心; ``?status=reviewing`` lists only that status (the U3 审核中 to-do's link)."""
    console.principal.require("coupons.manage")
    shown = status if status in CouponStatus.LABELS else None
    return _center(request, console, status=shown, status_filter=shown)


@router.get("/console/coupons/new")
def choose_kind(request: Request, console: ConsoleCtx, return_to: str = "") -> Response:
    """F8 创建卡券: choose the kind (通用券), then 开始创建."""
    console.principal.require("coupons.manage")
    return render(
        request,
        "coupons/new.html",
        kinds=COUPON_KINDS,
        return_to=safe_return(return_to) or "",
    )


def _create_page(request: Request, console: Any, **extra: Any) -> Response:
    return render(
        request,
        "coupons/create.html",
        status_code=extra.pop("status_code", 200),
        kind_label=COUPON_KINDS["general"][0],
        stores=accounts.list_stores(console.ctx.session, console.shop_id),
        form=extra.pop("form", {}),
        errors=extra.pop("errors", []),
        return_to=extra.pop("return_to", ""),
        **extra,
    )


@router.get("/console/coupons/create")
def create_form(
    request: Request, console: ConsoleCtx, kind: str = "", return_to: str = ""
) -> Response:
    """F8 开始创建: the 通用券 form; without a kind chosen, back to the chooser asking for one."""
    console.principal.require("coupons.manage")
    back = safe_return(return_to) or ""
    if kind not in COUPON_KINDS:
        return render(
            request,
            "coupons/new.html",
            status_code=422,
            kinds=COUPON_KINDS,
            return_to=back,
            kind_error="请选择卡券类型",
        )
    return _create_page(request, console, return_to=back)


@router.post("/console/coupons")
def create(
    request: Request,
    console: ConsoleCtx,
    form: CsrfForm,
    product_image: Annotated[UploadFile | None, File()] = None,
    logo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """C1 创建卡券 (通用券): every failing field is shown next to the form at once."""
    console.principal.require("coupons.manage")
    f = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    back = safe_return(f.get("return_to")) or ""
    tz = console.ctx.settings.timezone
    limit = console.ctx.settings.coupons.image_max_bytes + 1
    restricted = f.get("store_scope") == "chosen"
    draft = service.CouponDraft(
        title=f.get("title"),
        merchant_name=f.get("merchant_name"),
        product_image=_read(product_image, limit),
        logo=_read(logo, limit),
        condition_kind=f.get("condition_kind"),
        discount_percent=_int(f.get("discount_percent", "")),
        discount_cap_fen=_fen(f.get("discount_cap", "")),
        threshold_fen=_fen(f.get("threshold", "")),
        amount_off_fen=_fen(f.get("amount_off", "")),
        store_ids=_ids(form, "store_ids") if restricted else None,
        usage_text=f.get("usage_text"),
        validity_kind=f.get("validity_kind"),
        valid_from=_day(f.get("valid_from", ""), tz, end=False),
        valid_until=_day(f.get("valid_until", ""), tz, end=True),
        valid_days=_int(f.get("valid_days", "")),
        service_phone=f.get("service_phone"),
        claim_instructions=f.get("claim_instructions"),
    )
    try:
        coupon = service.create_coupon(console.ctx, console.shop_id, draft)
    except XiaodianError as exc:
        console.ctx.session.rollback()
        exc.errors = _in_yuan(exc.errors)
        errors = exc.errors or [exc.to_problem()]
        forms.keep(request, f, exc)  # U8: each message beside its field too
        return _create_page(
            request, console, form=f, errors=errors, status_code=exc.status, return_to=back
        )
    note = (
        "（" + "；".join(w["message_zh"] for w in coupon.warnings) + "）" if coupon.warnings else ""
    )
    if back:  # F8: created from 选择卡券 — back to the campaign draft, 刷新 once it is approved
        flash(
            request,
            f"卡券「{coupon.title}」已提交审核，审核通过（有效中）后点击【刷新】即可勾选{note}",
        )
        return RedirectResponse(back, status_code=303)
    flash(request, f"卡券「{coupon.title}」已提交审核，审核中，大约需要30分钟{note}")
    return RedirectResponse(f"/console/coupons/{coupon.id}", status_code=303)


@router.get("/console/coupons/{coupon_id:int}")
def coupon_detail(coupon_id: int, request: Request, console: ConsoleCtx) -> Response:
    """The page after 完成卡券创建 (seed 004: "系统会跳到如下页面"): status, the review note,
    and the F8 warnings (e.g. a product image that is not the recommended 686×176)."""
    console.principal.require("coupons.manage")
    coupon = service.get_coupon(console.ctx.session, console.shop_id, coupon_id)
    return render(
        request,
        "coupons/detail.html",
        c=coupon,
        labels=CouponStatus.LABELS,
        summary=rules.condition_summary,
        image_url=image_url,
    )


# ----- 卡券审核 ----------------------------------------------------------------------------


@router.get("/console/coupons/review")
def review_page(request: Request, console: ConsoleCtx) -> Response:
    """C2 审核进度: where each of the shop's coupons stands in the platform's review, with
    the reasons; the platform decides (F1), the shop does not approve its own coupons."""
    console.principal.require("coupons.manage")
    return render(
        request,
        "coupons/review.html",
        queue=service.in_review(console.ctx.session, console.shop_id),
        summary=rules.condition_summary,
        image_url=image_url,
    )


# ----- 卡券投放 → 店铺主页领券 ---------------------------------------------------------------


@router.get("/console/coupons/campaigns")
def campaigns(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("coupons.manage")
    return _campaigns_page(request, console)


def _campaigns_page(request: Request, console: Any) -> Response:
    session = console.ctx.session
    rows = [
        (c, service.campaign_store_ids(session, c), service.campaign_coupons(session, c))
        for c in service.list_campaigns(session, console.shop_id)
    ]
    return render(
        request,
        "coupons/campaigns.html",
        rows=rows,
        labels=CampaignStatus.LABELS,
        stores=accounts.store_names(session, console.shop_id),
        shop_id=console.shop_id,
    )


def _campaign_draft(console: Any, f: dict[str, str], form: Any) -> service.CampaignDraft:
    tz = console.ctx.settings.timezone
    chosen = f.get("store_scope") == "chosen"
    return service.CampaignDraft(
        name=f.get("name", ""),
        starts_at=_local(f.get("starts_at", ""), tz),
        ends_at=_local(f.get("ends_at", ""), tz),
        store_ids=_ids(form, "store_ids") if chosen else None,
        coupon_ids=_ids(form, "coupon_ids"),
        per_user_limit=_int(f.get("per_user_limit", "")),
        total_limit=_int(f.get("total_limit", "")),
    )


def _fields_of(form: Any) -> dict[str, str]:
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


def _wizard(request: Request, console: Any, step: str, form: Any, **extra: Any) -> Response:
    """Render one page of 创建活动 (``basics`` → ``coupons`` (step 2) → ``pick``)."""
    session = console.ctx.session
    f = _fields_of(form)
    store_ids = _ids(form, "store_ids")
    coupon_ids = list(dict.fromkeys(_ids(form, "coupon_ids")))
    active = service.list_coupons(session, console.shop_id, status=CouponStatus.ACTIVE, limit=200)
    chosen = [c for c in active if c.id in coupon_ids]
    query = _draft_query(f, store_ids, coupon_ids)
    template = {
        "basics": "coupons/campaign_new.html",
        "coupons": "coupons/campaign_step2.html",
        "pick": "coupons/campaign_pick.html",
    }[step]
    return render(
        request,
        template,
        status_code=extra.pop("status_code", 200),
        form=f,
        store_ids=store_ids,
        coupon_ids=coupon_ids,
        stores=accounts.store_names(session, console.shop_id),
        active=active,
        chosen=chosen,
        summary=rules.condition_summary,
        query=query,
        pick_url=f"{CAMPAIGN_NEW}/coupons?{query}",
        errors=extra.pop("errors", []),
        **extra,
    )


@router.get("/console/coupons/campaigns/new")
def campaign_basics(request: Request, console: ConsoleCtx) -> Response:
    """F8 创建活动 step 1: 活动名称, 活动时间, 参与活动门店, then the red 下一步. Values coming
    back from step 2 (上一步) are kept."""
    console.principal.require("coupons.manage")
    return _wizard(request, console, "basics", request.query_params)


@router.get("/console/coupons/campaigns/new/step2")
def campaign_step2(request: Request, console: ConsoleCtx) -> Response:
    """F8 创建活动 step 2, after 下一步: step 1 is checked first (refused → back to step 1 with
    every failing field); then 选择卡券, the limits and 确定."""
    console.principal.require("coupons.manage")
    form = request.query_params
    draft = _campaign_draft(console, _fields_of(form), form)
    errors = service.check_campaign_basics(console.ctx, console.shop_id, draft)
    if errors:
        return _wizard(request, console, "basics", form, errors=errors, status_code=422)
    return _wizard(request, console, "coupons", form)


@router.get("/console/coupons/campaigns/new/coupons")
def campaign_pick(request: Request, console: ConsoleCtx) -> Response:
    """F8 选择卡券: the shop's approved (有效中) coupons to tick; 刷新 reloads the list (a coupon
    just approved appears), 创建新的卡券 opens 创建卡券 and comes back here with the draft."""
    console.principal.require("coupons.manage")
    form = request.query_params
    query = _draft_query(_fields_of(form), _ids(form, "store_ids"), _ids(form, "coupon_ids"))
    here = f"{CAMPAIGN_NEW}/coupons?{query}"
    create_url = "/console/coupons/new?" + urlencode({"return_to": here})
    return _wizard(request, console, "pick", form, here=here, create_url=create_url)


@router.post("/console/coupons/campaigns")
def create_campaign(request: Request, console: ConsoleCtx, form: CsrfForm) -> Response:
    """C3 创建活动 (the 确定 of step 2): name, time, stores (all or chosen), active coupons,
    limits. A refused form comes back as step 2 with every failing field listed and the
    values kept."""
    console.principal.require("coupons.manage")
    draft = _campaign_draft(console, _fields_of(form), form)
    try:
        campaign = service.create_campaign(console.ctx, console.shop_id, draft)
    except XiaodianError as exc:
        console.ctx.session.rollback()
        errors = exc.errors or [exc.to_problem()]
        return _wizard(request, console, "coupons", form, errors=errors, status_code=exc.status)
    flash(request, f"活动「{campaign.name}」已创建，{CampaignStatus.LABELS[campaign.status]}")
    return RedirectResponse("/console/coupons/campaigns", status_code=303)


@router.post("/console/coupons/campaigns/{campaign_id}/offline")
def offline(campaign_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm) -> Response:
    console.principal.require("coupons.manage")
    campaign = service.take_offline(console.ctx, console.shop_id, campaign_id)
    flash(request, f"活动「{campaign.name}」已下线")
    return RedirectResponse("/console/coupons/campaigns", status_code=303)


# ----- 卡券核销 (使用电脑核销) ----------------------------------------------------------------

CHANNEL_LABELS = {
    "code": "输入券码（核销人员）",
    "scan": "扫码（核销人员）",
    "console": "电脑输入券码",
    "console_scan": "电脑上传二维码",
    "api_v2": "核销接口v2",
}


def _verify_page(request: Request, console: Any, **extra: Any) -> Response:
    session = console.ctx.session
    window = console.ctx.settings.coupons.verify_cancel_window_minutes
    recent = service.recent_verifications(session, console.shop_id)
    codes = {
        v.claim_id: service.get_claim(session, console.shop_id, v.claim_id).code for v in recent
    }
    stores = accounts.list_stores(session, console.shop_id)
    return render(
        request,
        "coupons/verify.html",
        stores=stores,
        store_names={s.id: s.name for s in stores},
        channels=CHANNEL_LABELS,
        recent=recent,
        codes=codes,
        fmt=service.format_code,
        now=console.ctx.now,
        deadline=lambda v: v.verified_at + timedelta(minutes=window),
        status_code=extra["refusal"].status if "refusal" in extra else 200,
        **extra,
    )


@router.get("/console/coupons/verify")
def verify_page(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require("coupons.verify")
    return _verify_page(request, console)


@router.post("/console/coupons/verify")
def verify(
    request: Request,
    console: ConsoleCtx,
    form: CsrfForm,
    image: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """C6 电脑核销: enter the code, or upload a photo/screenshot of the buyer's QR."""
    console.principal.require("coupons.verify")
    store_id = _int(str(form.get("store_id") or "")) or 0
    code = str(form.get("code") or "")
    limit = console.ctx.settings.coupons.scan_image_max_bytes + 1
    data = _read(image, limit)
    try:
        if data:
            result = service.verify_scan(
                console.ctx,
                console.shop_id,
                image_bytes=data,
                store_id=store_id,
                staff_id=None,
                channel="console_scan",
            )
        else:
            result = service.verify(
                console.ctx, console.shop_id, code=code, store_id=store_id, channel="console"
            )
    except XiaodianError as exc:
        console.ctx.session.rollback()
        return _verify_page(request, console, refusal=exc, code=code)
    flash(request, f"核销成功：券码 {service.format_code(result.claim.code)}")
    return RedirectResponse("/console/coupons/verify", status_code=303)


@router.post("/console/coupons/verify/{verification_id}/cancel")
def cancel(
    verification_id: int, request: Request, console: ConsoleCtx, _form: CsrfForm
) -> Response:
    """C7: undo a verification within the window; a refusal (window passed, already undone)
    is shown on the verification page with its reason."""
    console.principal.require("coupons.verify")
    try:
        service.cancel_verification(console.ctx, console.shop_id, verification_id)
    except XiaodianError as exc:
        console.ctx.session.rollback()
        return _verify_page(request, console, refusal=exc)
    flash(request, "已撤销核销，券码恢复可用")
    return RedirectResponse("/console/coupons/verify", status_code=303)


# ----- buyer: 店铺主页领券 ------------------------------------------------------------------


@router.get("/shops/{shop_id}/coupons")
def shop_home(shop_id: int, request: Request) -> Response:
    """The buyer's view of the shop homepage coupons (C4); claiming uses the buyer API."""
    rt = request.app.state.rt
    with rt.unit("anonymous") as ctx:
        shop = accounts.get_shop(ctx.session, shop_id)
        items = homepage_items(ctx, shop_id)
        return render(request, "coupons/shop_home.html", shop=shop, items=items)

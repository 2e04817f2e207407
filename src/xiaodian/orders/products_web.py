"""Console pages for 商品管理 (issue 13, U1): the product list with name search, status filter
(在售/已下架/已封禁) with counts and pages with totals; the create and edit forms (price typed in
元 and converted to fen exactly, stock, the O4 per-product ship-by promise for pre-sale) with
errors beside their fields and the form kept; 上架/下架 (POST, confirmed); 库存调整; and the
O8 ban shown with its rule, time, reason and how it is lifted (a platform operator, after the
merchant's 整改 and 申诉).

Reading needs ``orders.view``; every write needs ``orders.ship`` (as the open API does).
Decisions are in ``orders.product_rules``; writes in ``orders.service``."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from xiaodian.errors import ValidationFailed, XiaodianError
from xiaodian.errors import field_error as _field
from xiaodian.money import parse_yuan
from xiaodian.orders import product_rules, service
from xiaodian.orders.models import Product
from xiaodian.orders.product_rules import PRODUCT_STATUS_LABELS, product_status
from xiaodian.web.auth import ConsoleCtx, CsrfForm, flash
from xiaodian.web.render import render

router = APIRouter(prefix="/console/products", include_in_schema=False)

PAGE_SIZE = 20
VIEW = "orders.view"
EDIT = "orders.ship"
_WHOLE = re.compile(r"^\s*(\d{1,10})\s*$")
_SIGNED = re.compile(r"^\s*([+-]?)\s*(\d{1,10})\s*$")
# Service field names → the form's input names.
_FORM_FIELD = {"price_fen": "price"}


@router.get("")
def product_list(
    request: Request,
    console: ConsoleCtx,
    q: Annotated[str, Query(max_length=60)] = "",
    status: str = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """U1 商品管理: newest first; name search, status tabs with counts, numbered pages."""
    console.principal.require(VIEW)
    ctx = console.ctx
    q = q.strip()
    status = status if status in PRODUCT_STATUS_LABELS else ""
    counts = service.count_products(ctx.session, console.shop_id, q=q or None)
    total = counts[status] if status else counts["all"]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)
    rows = service.list_products(
        ctx.session,
        console.shop_id,
        status=status or None,
        q=q or None,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    order_nos = service.ban_order_nos(ctx.session, console.shop_id, rows)
    filters = {k: v for k, v in {"q": q, "status": status}.items() if v}
    return render(
        request,
        "orders/products.html",
        rows=[_row(p, order_nos, ctx.settings.orders.ship_within_hours) for p in rows],
        q=q,
        status=status,
        labels=PRODUCT_STATUS_LABELS,
        counts=counts,
        total=total,
        page=page,
        pages=pages,
        page_size=PAGE_SIZE,
        first_index=(page - 1) * PAGE_SIZE + 1 if total else 0,
        last_index=min(page * PAGE_SIZE, total),
        filters=urlencode(filters),
        status_query={s: urlencode({**filters, "status": s}) for s in PRODUCT_STATUS_LABELS},
        all_query=urlencode({"q": q} if q else {}),
        can_edit=console.principal.can(EDIT),
        back=_self_url(request),
    )


@router.get("/new")
def new_form(request: Request, console: ConsoleCtx) -> Response:
    console.principal.require(EDIT)
    return _form_page(request, console, None, {"listed": "1"}, {})


@router.post("/new")
def create(
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    title: Annotated[str, Form(max_length=200)] = "",
    price: Annotated[str, Form(max_length=30)] = "",
    stock: Annotated[str, Form(max_length=30)] = "",
    ship_within_hours: Annotated[str, Form(max_length=30)] = "",
    listed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """U1 新建商品: errors beside their fields, the form kept (422)."""
    console.principal.require(EDIT)
    values = {
        "title": title,
        "price": price,
        "stock": stock,
        "ship_within_hours": ship_within_hours,
        "listed": listed,
    }
    parsed, errors = _parse(values)
    if not errors:
        try:
            with console.ctx.session.begin_nested():
                product = service.create_product(
                    console.ctx,
                    console.shop_id,
                    title=parsed["title"],
                    price_fen=parsed["price_fen"],
                    stock=parsed["stock"],
                    ship_within_hours=parsed["ship_within_hours"],
                    listed=bool(listed),
                )
        except XiaodianError as exc:
            errors = _field_errors(exc)
    if errors:
        return _form_page(request, console, None, values, errors, status_code=422)
    state = "已上架" if product.delisted_at is None else "已保存为下架状态"
    flash(request, f"商品「{product.title}」已创建，{state}", "ok")
    return RedirectResponse(f"/console/products/{product.id}", status_code=303)


@router.get("/{product_id:int}")
def edit_form(product_id: int, request: Request, console: ConsoleCtx) -> Response:
    """U1 商品详情/编辑: the edit form (for who may edit), 上架/下架, 库存调整, the ban notice."""
    console.principal.require(VIEW)
    product = service.get_product(console.ctx.session, console.shop_id, product_id)
    return _form_page(request, console, product, _values(product), {})


@router.post("/{product_id:int}")
def save(
    product_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    title: Annotated[str, Form(max_length=200)] = "",
    price: Annotated[str, Form(max_length=30)] = "",
    stock: Annotated[str, Form(max_length=30)] = "",
    stock_was: Annotated[str, Form(max_length=30)] = "",
    ship_within_hours: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """U1 编辑商品. ``stock_was`` is the stock the form showed: when an order took stock
    meanwhile the new stock is refused beside its field instead of overwriting the sale."""
    console.principal.require(EDIT)
    ctx = console.ctx
    product = service.get_product(ctx.session, console.shop_id, product_id)
    values = {
        "title": title,
        "price": price,
        "stock": stock,
        "stock_was": stock_was,
        "ship_within_hours": ship_within_hours,
    }
    parsed, errors = _parse(values)
    expected = int(stock_was) if _WHOLE.match(stock_was) else None
    if expected is not None and parsed.get("stock") == expected:
        del parsed["stock"]  # stock untouched in the form: an order may take some meanwhile
    if not errors:
        try:
            with ctx.session.begin_nested():
                service.update_product(
                    ctx, console.shop_id, product_id, parsed, expected_stock=expected
                )
        except XiaodianError as exc:
            errors = _field_errors(exc)
    if errors:
        ctx.session.refresh(product)
        values["stock_was"] = str(product.stock)
        return _form_page(request, console, product, values, errors, status_code=422)
    flash(request, f"商品「{product.title}」已保存", "ok")
    return RedirectResponse(f"/console/products/{product_id}", status_code=303)


@router.post("/{product_id:int}/list")
def list_product(
    product_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    back: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """U1 上架; a banned product is refused (O8) with the reason shown."""
    console.principal.require(EDIT)
    try:
        with console.ctx.session.begin_nested():
            product = service.list_product(console.ctx, console.shop_id, product_id)
        flash(request, f"商品「{product.title}」已上架", "ok")
    except XiaodianError as exc:
        flash(request, f"上架失败：{exc.message_zh}", "error")
    return RedirectResponse(_back(back, product_id), status_code=303)


@router.post("/{product_id:int}/delist")
def delist_product(
    product_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    back: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """U1 下架: buyers can no longer order it; placed orders are not touched."""
    console.principal.require(EDIT)
    product = service.delist_product(console.ctx, console.shop_id, product_id)
    flash(request, f"商品「{product.title}」已下架，买家不能再下单", "ok")
    return RedirectResponse(_back(back, product_id), status_code=303)


@router.post("/{product_id:int}/stock")
def adjust_stock(
    product_id: int,
    request: Request,
    console: ConsoleCtx,
    _form: CsrfForm,
    delta: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """U1 库存调整: "+50" adds, "-3" removes; never below 0 (the error beside the field)."""
    console.principal.require(EDIT)
    ctx = console.ctx
    product = service.get_product(ctx.session, console.shop_id, product_id)
    match = _SIGNED.match(delta)
    errors: dict[str, str] = {}
    if match is None:
        errors = {"delta": "请填写整数，如 50（增加）或 -3（减少）"}
    else:
        amount = int(match.group(2)) * (-1 if match.group(1) == "-" else 1)
        try:
            with ctx.session.begin_nested():
                service.adjust_stock(ctx, console.shop_id, product_id, amount)
        except XiaodianError as exc:
            errors = _field_errors(exc, default="delta")
    if errors:
        ctx.session.refresh(product)
        page_values = {**_values(product), "delta": delta}
        return _form_page(request, console, product, page_values, errors, status_code=422)
    flash(request, f"库存已调整为 {product.stock}", "ok")
    return RedirectResponse(f"/console/products/{product_id}", status_code=303)


# ----- helpers -----------------------------------------------------------------------------


def _form_page(
    request: Request,
    console: ConsoleCtx,
    product: Product | None,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    ctx = console.ctx
    notice = None
    status = None
    if product is not None:
        status = product_status(product)
        order_nos = service.ban_order_nos(ctx.session, console.shop_id, [product])
        notice = product_rules.ban_notice(
            product.banned_at,
            product.ban_reason,
            product.ban_order_id,
            order_nos.get(product.ban_order_id or 0),
        )
    return render(
        request,
        "orders/products_form.html",
        status_code=status_code,
        product=product,
        status=status,
        status_label=PRODUCT_STATUS_LABELS[status] if status else "",
        notice=notice,
        values=values,
        errors=errors,
        default_hours=ctx.settings.orders.ship_within_hours,
        max_hours=product_rules.SHIP_HOURS_MAX,
        can_edit=console.principal.can(EDIT),
    )


def _parse(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's text → service values; price in 元 → int fen exactly (``parse_yuan``, no
    float). Returns (values, errors by form field)."""
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    parsed["title"] = values["title"].strip()
    if not parsed["title"]:
        errors["title"] = "请填写商品名称"
    text = values["price"].strip()
    if not text:
        errors["price"] = "请填写价格（元）"
    else:
        try:
            parsed["price_fen"] = parse_yuan(text, field="price")
        except ValidationFailed:
            errors["price"] = "价格格式不正确：请填写元，最多两位小数，如 59.90"
    stock = _WHOLE.match(values["stock"])
    if stock is None:
        errors["stock"] = "库存须为不小于 0 的整数"
    else:
        parsed["stock"] = int(stock.group(1))
    hours_text = values["ship_within_hours"].strip()
    if not hours_text:
        parsed["ship_within_hours"] = None
    elif (hours := _WHOLE.match(hours_text)) is None:
        errors["ship_within_hours"] = "承诺发货时间须为整数小时，留空则用店铺默认"
    else:
        parsed["ship_within_hours"] = int(hours.group(1))
    return parsed, errors


def _field_errors(exc: XiaodianError, default: str = "title") -> dict[str, str]:
    """A service refusal → messages by form field (one without a field goes to ``default``)."""
    entries = exc.errors or [_field(exc.field or default, exc.message_zh, exc.message_en)]
    out: dict[str, str] = {}
    for entry in entries:
        name = _FORM_FIELD.get(entry["field"], entry["field"])
        out.setdefault(name, entry["message_zh"])
    return out


def _values(product: Product) -> dict[str, str]:
    whole, cents = divmod(product.price_fen, 100)
    return {
        "title": product.title,
        "price": f"{whole}.{cents:02d}",
        "stock": str(product.stock),
        "stock_was": str(product.stock),
        "ship_within_hours": str(product.ship_within_hours or ""),
    }


def _row(product: Product, order_nos: dict[int, str], default_hours: int) -> dict[str, Any]:
    status = product_status(product)
    return {
        "product": product,
        "status": status,
        "status_label": PRODUCT_STATUS_LABELS[status],
        "hours": product.ship_within_hours or default_hours,
        "presale": product.ship_within_hours is not None,
        "notice": product_rules.ban_notice(
            product.banned_at,
            product.ban_reason,
            product.ban_order_id,
            order_nos.get(product.ban_order_id or 0),
        ),
    }


def _self_url(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _back(back: str, product_id: int) -> str:
    """Where a 上架/下架 button returns: the list page it was pressed on, else the product."""
    if back.startswith("/console/products") and "//" not in back and "\\" not in back:
        return back
    return f"/console/products/{product_id}"

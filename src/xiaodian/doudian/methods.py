"""The 抖店 method registry: method name → scope and handler (issue 12, D1–D3).

``dispatch`` runs one call: common parameters, method lookup, timestamp window, the app's
signature, its scope, the access token (which decides the shop), then the handler — all in one
unit of work, so a refusal anywhere (``afterSale.operate``'s all-or-nothing included) leaves
nothing behind. Handlers only translate: every rule stays in the orders / after-sales services
they call (no rule written twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, type_coerce
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import ApiApp
from xiaodian.accounts.scopes import app_has_scope
from xiaodian.accounts.service import AppCredentials
from xiaodian.aftersales import service as aftersales
from xiaodian.aftersales.models import AfterSaleRequest
from xiaodian.aftersales.service import RequestFilter
from xiaodian.context import Ctx
from xiaodian.db import UTCDateTime
from xiaodian.doudian import enums, mappers, push
from xiaodian.doudian import service as tokens
from xiaodian.doudian.gateway import (
    PlatformError,
    bad_signature,
    business,
    check_timestamp,
    common_params,
    from_domain,
    invalid,
    method_for_path,
    method_not_found,
    missing,
    signature_ok,
)
from xiaodian.errors import XiaodianError
from xiaodian.orders import service as orders
from xiaodian.orders.models import Order, OrderStatusChange, Product
from xiaodian.orders.prize import PRIZE_ROUTE
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime


@dataclass
class Call:
    ctx: Ctx
    app: AppCredentials
    shop_id: int
    params: dict[str, Any]

    @property
    def session(self) -> Session:
        return self.ctx.session


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Method:
    name: str
    # None: token methods (no access_token, no scope); a tuple: any one of these scopes
    scope: str | tuple[str, ...] | None
    handler: Handler


METHODS: dict[str, Method] = {}


def method(name: str, scope: str | tuple[str, ...] | None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = Method(name, scope, handler)
        return handler

    return register


def dispatch(rt: Runtime, path: str, values: dict[str, str], param_json: str | None) -> Any:
    params = common_params(values, param_json)
    if params.method != method_for_path(path):
        raise invalid(
            "method",
            f"method 参数 {params.method} 与请求路径 {path} 不一致",
            "method does not match the path",
        )
    spec = METHODS.get(params.method)
    if spec is None:
        raise method_not_found(params.method)
    check_timestamp(params.timestamp, rt.wall.now(), rt.settings.doudian.timestamp_skew_seconds)
    try:
        business_params = json.loads(params.param_json)
    except ValueError:
        business_params = None
    if not isinstance(business_params, dict):
        raise invalid("param_json", "param_json 须为 JSON 对象", "param_json must be a JSON object")
    try:
        with rt.unit(actor="doudian") as ctx:
            app = accounts.app_credentials(ctx.session, params.app_key)
            if app is None or not signature_ok(app.secret, params):
                raise bad_signature()
            ctx.actor = f"app:{app.app_id}"
            shop_id = app.shop_id
            if spec.scope is not None:
                row = ctx.session.get(ApiApp, app.app_id)
                wanted = (spec.scope,) if isinstance(spec.scope, str) else spec.scope
                if row is None or not any(app_has_scope(row, s) for s in wanted):
                    needed = " / ".join(wanted)
                    raise business(
                        "insufficient_scope",
                        f"应用未获得该接口的权限（{needed}）",
                        f"The app lacks scope {needed}",
                    )
                shop_id = tokens.shop_for_token(
                    ctx.session, app, params.access_token, ctx.now
                ).shop_id
            try:
                return spec.handler(Call(ctx, app, shop_id, business_params))
            except PlatformError:
                raise
            except XiaodianError as exc:
                raise from_domain(exc) from exc
    except (OverflowError, DataError) as exc:
        raise invalid("param_json", "请求中的数值超出允许范围", "A number is out of range") from exc


# ----- parameter helpers -------------------------------------------------------------------


def _int(
    params: dict[str, Any],
    name: str,
    default: int | None = None,
    *,
    lo: int | None = None,
    hi: int | None = None,
) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise invalid(name, f"{name} 须为整数", f"{name} must be an integer")
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise invalid(name, f"{name} 须为整数", f"{name} must be an integer") from exc
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise invalid(name, f"{name} 超出允许范围（{lo}–{hi}）", f"{name} must be within {lo}–{hi}")
    return number


def _required_int(params: dict[str, Any], name: str) -> int:
    value = _int(params, name, lo=1, hi=2**63 - 1)
    if value is None:
        raise missing(name)
    return value


def _time(params: dict[str, Any], name: str) -> datetime | None:
    value = _int(params, name, lo=0, hi=10**11)
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _order_no(params: dict[str, Any], name: str) -> str:
    text = str(params.get(name) or "").strip()
    if not text:
        raise missing(name)
    if not text.isdigit() or len(text) > 19:
        raise invalid(name, f"{name} 须为订单号（数字）", f"{name} must be an order number")
    return text


def _page(call: Call, *, first: int) -> tuple[int, int]:
    size_max = call.ctx.settings.doudian.page_size_max
    page = _int(call.params, "page", first, lo=first, hi=10**6)
    size = _int(call.params, "size", 10, lo=1, hi=size_max)
    assert page is not None and size is not None
    return page, size


# ----- token.create / token.refresh (D2) ---------------------------------------------------


@method("token.create", None)
def token_create(call: Call) -> Any:
    return tokens.create_token(call.ctx, call.app, call.params)


@method("token.refresh", None)
def token_refresh(call: Call) -> Any:
    return tokens.refresh_token(call.ctx, call.app, call.params)


# ----- orders ------------------------------------------------------------------------------


def _update_time() -> Any:
    """订单更新时间: the latest entry of the order's status history (every status and
    after-sale change writes one), else its creation."""
    latest = (
        select(func.max(OrderStatusChange.at))
        .where(OrderStatusChange.shop_id == Order.shop_id, OrderStatusChange.order_id == Order.id)
        .scalar_subquery()
    )
    return type_coerce(func.coalesce(latest, Order.created_at), UTCDateTime())


def _statuses(params: dict[str, Any]) -> list[str] | None:
    combine = params.get("combine_status")
    if not combine:
        return None
    if not isinstance(combine, list):
        raise invalid("combine_status", "combine_status 须为数组", "combine_status: array")
    codes: set[int] = set()
    for entry in combine:
        raw = entry.get("order_status") if isinstance(entry, dict) else None
        for part in str(raw if raw is not None else "").split(","):
            if not part.strip():
                continue
            if not part.strip().isdigit() or int(part) not in enums.ORDER_STATUS_FILTER:
                raise invalid(
                    "order_status",
                    f"order_status 取值不正确：{part}",
                    f"Unknown order_status {part}",
                )
            codes.add(int(part))
    if not codes:
        return None
    return [s for code in sorted(codes) for s in enums.ORDER_STATUS_FILTER[code]]


def _shop_name(session: Session, shop_id: int) -> str:
    return accounts.get_shop(session, shop_id).name


@method("order.searchList", "orders")
def order_search_list(call: Call) -> Any:
    p = call.params
    page, size = _page(call, first=0)
    created_from, created_to = _time(p, "create_time_start"), _time(p, "create_time_end")
    try:
        filters = OrderFilter(
            product=str(p["product"]) if p.get("product") else None,
            created_from=created_from,
            created_to=created_to + timedelta(seconds=1) if created_to else None,
        )
    except ValueError as exc:
        raise invalid("create_time_end", "时间范围有误", "Invalid time range") from exc
    product_ids = orders.matching_product_ids(call.session, call.shop_id, filters)
    query = orders.filtered_query(call.shop_id, filters, product_ids).order_by(None)
    updated = _update_time()
    statuses = _statuses(p)
    if statuses is not None:
        query = query.where(Order.status.in_(statuses))
    trade = _int(p, "trade_type")
    if trade is not None:
        query = query.where(
            Order.payment_route == PRIZE_ROUTE
            if trade == enums.TRADE_LUCKY_BAG
            else Order.payment_route != PRIZE_ROUTE
            if trade == enums.TRADE_ORDINARY
            else Order.id.is_(None)
        )
    order_type = _int(p, "order_type")
    if order_type not in (None, enums.ORDINARY_ORDER):
        query = query.where(Order.id.is_(None))
    update_from, update_to = _time(p, "update_time_start"), _time(p, "update_time_end")
    if update_from is not None:
        query = query.where(updated >= update_from)
    if update_to is not None:
        query = query.where(updated <= update_to)
    total = call.session.scalar(select(func.count()).select_from(query.subquery()))
    by = p.get("order_by") or "create_time"
    if by not in ("create_time", "update_time"):
        raise invalid("order_by", "order_by 须为 create_time 或 update_time", "order_by")
    key = updated if by == "update_time" else Order.created_at
    ascending = p.get("order_asc") in (True, "true", 1, "1")
    ordering = (key.asc(), Order.id.asc()) if ascending else (key.desc(), Order.id.desc())
    rows = call.session.execute(
        query.add_columns(updated).order_by(*ordering).offset(page * size).limit(size)
    ).all()
    shop_name = _shop_name(call.session, call.shop_id)
    return {
        "page": page,
        "size": size,
        "total": int(total or 0),
        "shop_order_list": [
            mappers.shop_order(
                order, orders.order_items(call.session, order), update_time, shop_name
            )
            for order, update_time in rows
        ],
    }


def _order_update_time(session: Session, order: Order) -> datetime | None:
    history = orders.order_history(session, order)
    return history[-1].at if history else None


@method("order.orderDetail", "orders")
def order_detail(call: Call) -> Any:
    order = orders.get_order_by_no(
        call.session, call.shop_id, _order_no(call.params, "shop_order_id")
    )
    detail = mappers.shop_order(
        order,
        orders.order_items(call.session, order),
        _order_update_time(call.session, order),
        _shop_name(call.session, call.shop_id),
    )
    return {"shop_order_detail": detail}


@method("order.logisticsAdd", "orders")
def order_logistics_add(call: Call) -> Any:
    """O3 through orders.ship_order: the same carrier/tracking checks, the same end of the
    late-shipment clock (O6/O7) as the console and /api/v1."""
    p = call.params
    order = orders.get_order_by_no(call.session, call.shop_id, _order_no(p, "order_id"))
    code = str(p.get("company_code") or p.get("company") or "").strip()
    if not code:
        raise missing("company_code")
    tracking = str(p.get("logistics_code") or "").strip()
    if not tracking:
        raise missing("logistics_code")
    carrier = enums.CARRIER_BY_COMPANY_CODE.get(code.lower(), code)
    orders.ship_order(call.ctx, call.shop_id, order.id, carrier=carrier, tracking_no=tracking)
    return {}


@method("order.logisticsCompanyList", "orders")
def order_logistics_company_list(call: Call) -> Any:
    from xiaodian.orders.carriers import find_carrier

    result = []
    for company_id, code, carrier_code in enums.COMPANIES:
        carrier = find_carrier(carrier_code)
        result.append({"id": company_id, "name": carrier.name if carrier else code, "code": code})
    return result


# ----- after-sales -------------------------------------------------------------------------


def _request_id(params: dict[str, Any], *names: str) -> int:
    for name in names:
        if params.get(name) not in (None, ""):
            return _required_int(params, name)
    raise missing(names[0])


def _request_statuses(codes: list[int]) -> list[str]:
    return [s for s, code in enums.AFTERSALE_STATUS.items() if code in codes] + (
        ["rejected"] if enums.REJECTED_AFTER_RETURN in codes else []
    )


@method("afterSale.List", "aftersales")
def aftersale_list(call: Call) -> Any:
    p = call.params
    page, size = _page(call, first=0)
    kind_code = _int(p, "aftersale_type")
    if kind_code is not None and kind_code not in enums.KIND_BY_TYPE:
        return {"items": [], "has_more": False, "total": 0, "page": page, "size": 0}
    order_no = str(p.get("order_id") or "").strip() or None
    filters = RequestFilter(
        kind=enums.KIND_BY_TYPE[kind_code] if kind_code is not None else None, order_no=order_no
    )
    query = aftersales.filtered_query(call.shop_id, filters, call.ctx.settings.timezone)
    if p.get("aftersale_id"):
        query = query.where(AfterSaleRequest.id == _required_int(p, "aftersale_id"))
    codes = p.get("standard_aftersale_status") or (
        [p["aftersale_status"]] if p.get("aftersale_status") else []
    )
    if codes:
        if not isinstance(codes, list) or not all(str(c).isdigit() for c in codes):
            raise invalid("standard_aftersale_status", "售后状态须为数字数组", "status codes")
        query = query.where(AfterSaleRequest.status.in_(_request_statuses([int(c) for c in codes])))
    ranges: tuple[tuple[str, Any, str], ...] = (
        ("start_time", AfterSaleRequest.applied_at, "ge"),
        ("end_time", AfterSaleRequest.applied_at, "le"),
        ("update_start_time", AfterSaleRequest.updated_at, "ge"),
        ("update_end_time", AfterSaleRequest.updated_at, "le"),
    )
    for name, column, op in ranges:
        when = _time(p, name)
        if when is not None:
            query = query.where(column >= when if op == "ge" else column <= when)
    total = int(call.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    ordering: list[Any] = []
    for clause in p.get("order_by") or ["apply_time desc"]:
        field, _, direction = str(clause).partition(" ")
        columns: dict[str, Any] = {
            "apply_time": AfterSaleRequest.applied_at,
            "update_time": AfterSaleRequest.updated_at,
            "status_deadline": AfterSaleRequest.due_at,
        }
        column = columns.get(field)
        if column is None:
            raise invalid("order_by", f"不支持的排序字段：{field}", f"Unknown order_by {field}")
        ordering.append(column.asc() if direction.strip() == "asc" else column.desc())
    ordering.append(AfterSaleRequest.id.desc())
    rows = call.session.execute(
        query.add_columns(Order).order_by(*ordering).offset(page * size).limit(size)
    ).all()
    items = [
        mappers.aftersale_list_item(req, order, orders.order_items(call.session, order))
        for req, order in rows
    ]
    return {
        "items": items,
        "has_more": (page + 1) * size < total,
        "total": total,
        "page": page,
        "size": len(items),
    }


@method("afterSale.Detail", "aftersales")
def aftersale_detail(call: Call) -> Any:
    req = aftersales.get_request(
        call.session, call.shop_id, _request_id(call.params, "after_sale_id", "aftersale_id")
    )
    order = orders.get_order(call.session, call.shop_id, req.order_id)
    return mappers.aftersale_detail(
        req,
        order,
        orders.order_items(call.session, order),
        aftersales.evidence_of(call.session, req),
        aftersales.history(call.session, req),
    )


@method("afterSale.rejectReasonCodeList", "aftersales")
def aftersale_reject_reasons(call: Call) -> Any:
    if call.params.get("aftersale_id"):
        request_id = _required_int(call.params, "aftersale_id")
        aftersales.get_request(call.session, call.shop_id, request_id)
    return {"items": mappers.reject_reasons()}


@dataclass(frozen=True)
class _Operation:
    request_id: int
    reason: str
    remark: str
    reject_code: int | None
    evidence: list[tuple[str, str, str]]
    update_time: int | None


def _operations(call: Call) -> tuple[int, list[_Operation]]:
    p = call.params
    kind = _int(p, "type")
    if kind is None:
        raise missing("type")
    if kind not in enums.OPERATE_TYPES:
        raise invalid("type", f"不支持的操作类型：{kind}", f"Unsupported operate type {kind}")
    items = p.get("items")
    if not items:
        raise missing("items")
    limit = call.ctx.settings.doudian.operate_max_items
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise invalid("items", "items 须为对象数组", "items must be an array of objects")
    if len(items) > limit:
        raise invalid("items", f"items 一次最多 {limit} 个", f"At most {limit} items per call")
    result = []
    for item in items:
        evidence = item.get("evidence") or []
        if not isinstance(evidence, list) or not all(isinstance(e, dict) for e in evidence):
            raise invalid("evidence", "evidence 须为对象数组", "evidence must be an array")
        links = []
        for e in evidence:
            type_code = _int(e, "type", 1, lo=1, hi=5)
            assert type_code is not None
            links.append(
                (
                    enums.EVIDENCE_TYPES.get(type_code, "file"),
                    str(e.get("url") or "").strip(),
                    str(e.get("desc") or ""),
                )
            )
        result.append(
            _Operation(
                request_id=_request_id(item, "aftersale_id"),
                reason=str(item.get("reason") or ""),
                remark=str(item.get("remark") or ""),
                reject_code=_int(item, "reject_reason_code"),
                evidence=links,
                update_time=_int(item, "update_time") or None,
            )
        )
    ids = [op.request_id for op in result]
    if len(set(ids)) != len(ids):
        raise invalid("items", "items 中售后单重复", "Duplicate aftersale_id in items")
    return kind, result


@method("afterSale.operate", "aftersales")
def aftersale_operate(call: Call) -> Any:
    """201/202 (refund only), 101/102 (return request), 111/112 (refund after the return):
    agree and reject go through the after-sales service (A3/A4/A6 apply unchanged). Items are
    all-or-nothing: the first refusal aborts the whole call (one transaction) and names the
    request it failed on."""
    kind, operations = _operations(call)
    action, kinds = enums.OPERATE_TYPES[kind]
    done = []
    for op in operations:
        try:
            _operate_one(call, kind, action, kinds, op)
        except PlatformError as exc:
            raise PlatformError(
                exc.platform_code,
                exc.sub_code,
                f"售后单 {op.request_id}：{exc.sub_msg}（本次操作未生效）",
                exc.message_en,
            ) from exc
        except XiaodianError as exc:
            error = from_domain(exc)
            raise PlatformError(
                error.platform_code,
                error.sub_code,
                f"售后单 {op.request_id}：{error.sub_msg}（本次操作未生效）",
                error.message_en,
            ) from exc
        done.append({"aftersale_id": op.request_id, "status_code": 0, "status_msg": "success"})
    return {"items": done}


def _operate_one(call: Call, kind: int, action: str, kinds: frozenset[str], op: _Operation) -> None:
    session = call.session
    # Row-locked on PostgreSQL, so the version checked is the version changed.
    session.execute(
        select(AfterSaleRequest.id)
        .where(AfterSaleRequest.id == op.request_id, AfterSaleRequest.shop_id == call.shop_id)
        .with_for_update()
    ).first()
    req = aftersales.get_request(session, call.shop_id, op.request_id)
    session.refresh(req)
    if req.kind not in kinds:
        label = enums.AFTERSALE_TYPE_DESC[enums.AFTERSALE_TYPE[req.kind]]
        raise business(
            "type_mismatch",
            f"操作类型 {kind} 不适用于{label}售后单",
            f"Operate type {kind} does not apply to a {req.kind} request",
        )
    expected_status = enums.OPERATE_STATUS.get(kind)
    if expected_status is not None and req.status != expected_status:
        label = enums.AFTERSALE_STATUS_DESC.get(mappers.aftersale_status(req), req.status)
        raise business(
            "status_mismatch",
            f"售后单当前状态为「{label}」，不能执行操作 {kind}",
            f"The request is {req.status}; type {kind} does not apply",
        )
    if op.update_time is not None and op.update_time != mappers.ts(req.updated_at):
        raise business(
            "version_conflict",
            "售后单已变更（update_time 不是最新版本），请重新查询后再操作",
            "The request changed since update_time; read it again",
        )
    if action == "agree":
        aftersales.agree(call.ctx, call.shop_id, req.id, rule="A3", note=op.remark)
        return
    if op.reject_code is None:
        raise missing("reject_reason_code")
    reason = enums.REJECT_REASON_BY_CODE.get(op.reject_code)
    if reason is None:
        raise invalid(
            "reject_reason_code",
            f"reject_reason_code 不存在：{op.reject_code}（见 afterSale.rejectReasonCodeList）",
            f"Unknown reject_reason_code {op.reject_code}",
        )
    evidence = aftersales.link_evidence(call.ctx, call.shop_id, req.id, op.evidence)
    note = op.remark or op.reason
    ids = [e.id for e in evidence]
    aftersales.reject(call.ctx, call.shop_id, req.id, reason=reason, evidence_ids=ids, note=note)


# ----- products ----------------------------------------------------------------------------


@method("product.detail", "shop")
def product_detail(call: Call) -> Any:
    product_id = _required_int(call.params, "product_id")
    product = orders.get_product(call.session, call.shop_id, product_id)
    hours = orders.effective_ship_hours(product, call.ctx.settings)
    return mappers.product_detail(product, hours)


@method("product.listV2", "shop")
def product_list_v2(call: Call) -> Any:
    p = call.params
    page, size = _page(call, first=1)
    query = select(Product).where(Product.shop_id == call.shop_id)
    status = _int(p, "status")
    if status == enums.PRODUCT_ONLINE:
        query = query.where(Product.delisted_at.is_(None))
    elif status == enums.PRODUCT_OFFLINE:  # U1 下架
        query = query.where(Product.delisted_at.is_not(None))
    elif status is not None:
        query = query.where(Product.id.is_(None))  # xiaodian deletes no products
    check = _int(p, "check_status")
    if check == enums.CHECK_BANNED:
        query = query.where(Product.banned_at.is_not(None))
    elif check == enums.CHECK_APPROVED:
        query = query.where(Product.banned_at.is_(None))
    elif check is not None:
        query = query.where(Product.id.is_(None))
    if p.get("name"):
        query = query.where(Product.title.contains(str(p["name"]), autoescape=True))
    ids = p.get("product_id")
    if ids:
        if not isinstance(ids, list) or not all(str(i).isdigit() for i in ids) or len(ids) > 100:
            raise invalid("product_id", "product_id 须为不超过100个的数字数组", "product_id")
        query = query.where(Product.id.in_([int(i) for i in ids]))
    for name, op in (("start_time", "ge"), ("end_time", "le")):
        when = _time(p, name)
        if when is not None:
            query = query.where(
                Product.created_at >= when if op == "ge" else Product.created_at <= when
            )
    total = int(call.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = call.session.scalars(
        query.order_by(Product.id.desc()).offset((page - 1) * size).limit(size)
    )
    return {
        "data": [mappers.product_list_item(product) for product in rows],
        "total": total,
        "page": page,
        "size": size,
    }


# ----- xiaodian extension: where to push the 抖店 messages (D4) ------------------------------


def _tags(params: dict[str, Any]) -> list[str] | None:
    raw = params.get("tags")
    if raw is None or raw == "" or raw == []:
        return None
    parts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(parts, list):
        raise invalid("tags", "tags 须为标签数组或逗号分隔的字符串", "tags: array or comma list")
    tags = sorted({str(p).strip() for p in parts if str(p).strip()})
    unknown = [t for t in tags if t not in push.TAGS]
    if unknown:
        raise invalid(
            "tags",
            f"不支持的消息标签：{'、'.join(unknown)}（支持 {'、'.join(push.TAGS)}）",
            f"Unknown tag(s): {', '.join(unknown)}",
        )
    return tags


@method("xiaodian.push_url", push.REGISTER_SCOPES)
def xiaodian_push_url(call: Call) -> Any:
    """Not a platform method (there the URL is set in the developer console): register the URL
    that receives this app's push messages — ``url``, optional ``tags`` (default: every tag
    the app's scopes allow: 10x need ``orders``, 20x ``aftersales``, or ``webhooks`` for both).
    Registering the same URL again replaces its tags. The URL must pass the egress rules (S1)."""
    url = str(call.params.get("url") or "").strip()
    if not url:
        raise missing("url")
    app = call.session.get(ApiApp, call.app.app_id)
    assert app is not None
    tags = _tags(call.params)
    if tags is not None:
        refused = [t for t in tags if not push.may_receive(app, t)]
        if refused:
            raise business(
                "insufficient_scope",
                f"应用未获得接收这些消息的权限：{'、'.join(refused)}"
                "（10x 需 orders，20x 需 aftersales，或 webhooks）",
                f"The app's scopes do not cover tag(s) {', '.join(refused)}",
            )
    endpoint, chosen = push.register_push(call.ctx, app, url, tags)
    return {"endpoint_id": str(endpoint.id), "url": endpoint.url, "tags": chosen}

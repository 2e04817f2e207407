"""The platform's decisions (issue 17, F1): operator accounts and sessions, the coupon review
queue across shops (C2), product unbans (O8), shop review flags with sanctions that take
effect (O8 停业整改 / 清退) and 平台介入 in a rejected after-sale (A4).

Every decision runs as ``operator:<id>`` (``Ctx.actor``) and emits a ``platform.*`` event
naming the operator and the rule, on top of the event the owning context emits; the merchant
gets a 站内通知. The contexts' own services make the change (coupons.decide_review,
orders.unban_product, orders.decide_review, aftersales.platform_overturn): this module
decides who may, and records that the platform did.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from xiaodian.accounts import passwords
from xiaodian.accounts import rules as account_rules
from xiaodian.accounts import sessions as account_sessions
from xiaodian.accounts.models import LoginFailure, Shop
from xiaodian.context import Ctx
from xiaodian.coupons import service as coupons
from xiaodian.coupons.models import Campaign, CampaignStatus, Coupon, CouponStatus
from xiaodian.db import rowcount
from xiaodian.errors import AuthFailed, Conflict, NotFound, ValidationFailed, field_error
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.notify import service as notify
from xiaodian.orders import service as orders
from xiaodian.orders.models import Product, ShopReviewFlag
from xiaodian.platform import rules
from xiaodian.platform.models import Operator, OperatorSession, ShopSanction
from xiaodian.runtime import Runtime

_USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")
# Login failures of operators are counted apart from the merchants' (same table, S4 rules).
_FAILURE_PREFIX = "operator:"


@dataclass(frozen=True)
class CurrentOperator:
    operator_id: int
    username: str
    display_name: str

    @property
    def actor(self) -> str:
        return f"operator:{self.operator_id}"


# ----- operator accounts and sessions -------------------------------------------------------


def create_operator(ctx: Ctx, username: str, password: str, display_name: str = "") -> Operator:
    """``xiaodian operator create``: an operator account, separate from every shop."""
    username = (username or "").strip()
    errors: list[dict[str, Any]] = []
    if not 3 <= len(username) <= 64 or not set(username) <= _USERNAME_CHARS:
        errors.append(
            field_error(
                "username",
                "用户名为3-64位字母、数字或 _.@-",
                "Username: 3–64 letters, digits or _.@-",
            )
        )
    errors += account_rules.password_problems(password, ctx.settings.console.password_min_length)
    if len(display_name) > 60:
        errors.append(field_error("display_name", "名称最多60字", "Name: at most 60 characters"))
    if errors:
        raise ValidationFailed(
            "invalid_operator", "运营账号信息有误", "Invalid operator account", errors=errors
        )
    if ctx.session.scalar(select(Operator.id).where(Operator.username == username)) is not None:
        raise Conflict(
            "operator_exists", f"运营账号 {username} 已存在", f"Operator {username} already exists"
        )
    operator = Operator(
        username=username,
        password_hash=passwords.hash_password(password, ctx.settings.console),
        display_name=display_name.strip() or username,
        created_at=ctx.now,
    )
    ctx.session.add(operator)
    ctx.session.flush()
    return operator


def operator_by_username(session: Session, username: str) -> Operator:
    operator = session.scalar(select(Operator).where(Operator.username == (username or "").strip()))
    if operator is None:
        raise NotFound("运营账号", "Operator", username)
    return operator


def acting_operator(session: Session, username: str) -> CurrentOperator:
    """The operator a command-line decision runs as (``--operator USERNAME``): it must exist
    and be active, exactly as for a console login (F1: no decision by nobody)."""
    if not (username or "").strip():
        raise ValidationFailed(
            "operator_required",
            "请用 --operator 指定运营账号（xiaodian operator create 创建）",
            "Name the deciding operator with --operator (see xiaodian operator create)",
            field="operator",
        )
    operator = operator_by_username(session, username)
    if not operator.active:
        from xiaodian.errors import PermissionDenied

        raise PermissionDenied(
            "operator_disabled",
            f"运营账号 {operator.username} 已停用",
            f"Operator {operator.username} is disabled",
        )
    return CurrentOperator(operator.id, operator.username, operator.display_name)


def set_operator_active(ctx: Ctx, username: str, active: bool) -> tuple[Operator, int]:
    """``xiaodian operator disable|enable USERNAME`` (F1). Disabling also ends every console
    session of the operator at once (the next click is logged out; ``operator_for_token``
    checks ``active`` too). Returns the operator and how many sessions were ended."""
    operator = operator_by_username(ctx.session, username)
    operator.active = active
    ended = 0
    if not active:
        ended = rowcount(
            ctx.session.execute(
                delete(OperatorSession).where(OperatorSession.operator_id == operator.id)
            )
        )
    ctx.session.flush()
    return operator, ended


def log_in(rt: Runtime, username: str, password: str, ip: str) -> str:
    """An operator console login; returns the session token for the cookie. The S4 lockout
    and the hashing gate apply as on the merchant console; an unknown name and a wrong
    password get the same answer."""
    console = rt.settings.console
    username, ip = (username or "").strip()[:48], (ip or "unknown")[:64]
    counted = _FAILURE_PREFIX + username
    now = rt.wall.now()
    with rt.unit(actor="anonymous") as ctx:
        account_sessions.refuse_if_locked(ctx.session, console, counted, ip, now)
        row = ctx.session.execute(
            select(Operator.id, Operator.password_hash, Operator.active).where(
                Operator.username == username
            )
        ).first()
    right = len(password or "") <= account_rules.PASSWORD_MAX_LENGTH and passwords.verify_password(
        row.password_hash if row is not None else passwords.dummy_hash(), password or "", console
    )
    if row is None or not right or not row.active:
        with rt.unit(actor="anonymous") as ctx:
            account_sessions.record_failure(ctx.session, console, counted, ip, now)
        raise AuthFailed("bad_credentials", "用户名或密码错误", "Wrong username or password")
    token = secrets.token_urlsafe(32)
    with rt.unit(actor=f"operator:{row.id}") as ctx:
        ctx.session.execute(delete(LoginFailure).where(LoginFailure.username == counted))
        ctx.session.execute(delete(OperatorSession).where(OperatorSession.expires_at <= now))
        ctx.session.add(
            OperatorSession(
                token_hash=account_sessions.token_hash(token),
                operator_id=row.id,
                created_at=now,
                expires_at=now + timedelta(seconds=console.session_max_age_seconds),
            )
        )
    return token


def operator_for_token(session: Session, token: str, now: datetime) -> CurrentOperator | None:
    """The active operator an operator-console token belongs to (merchant tokens live in
    another table and never match)."""
    row = session.execute(
        select(Operator.id, Operator.username, Operator.display_name)
        .join(OperatorSession, OperatorSession.operator_id == Operator.id)
        .where(
            OperatorSession.token_hash == account_sessions.token_hash(token),
            OperatorSession.expires_at > now,
            Operator.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    return CurrentOperator(row.id, row.username, row.display_name or row.username)


def end_session(session: Session, token: str) -> None:
    session.execute(
        delete(OperatorSession).where(
            OperatorSession.token_hash == account_sessions.token_hash(token)
        )
    )


def _require_operator(ctx: Ctx) -> int:
    """Only an operator decides for the platform (the actor is ``operator:<id>``)."""
    kind, _, ident = (ctx.actor or "").partition(":")
    if kind != "operator" or not ident.isdigit():
        from xiaodian.errors import PermissionDenied

        raise PermissionDenied(
            "operator_only", "仅平台运营人员可以执行此操作", "Only a platform operator can do this"
        )
    return int(ident)


def _record(ctx: Ctx, shop_id: int, what: str, rule: str, payload: dict[str, Any]) -> None:
    """The decision as an event: which operator, which rule, what."""
    operator_id = _require_operator(ctx)
    notify.emit(
        ctx, shop_id, f"platform.{what}", {"operator_id": operator_id, **payload}, rule=rule
    )


def _shop_names(session: Session, shop_ids: set[int]) -> dict[int, str]:
    if not shop_ids:
        return {}
    return dict(session.execute(select(Shop.id, Shop.name).where(Shop.id.in_(shop_ids))).all())


# ----- C2 coupon review queue ------------------------------------------------------------


def coupon_queue(session: Session, limit: int = 200) -> list[tuple[Coupon, str]]:
    """Coupons waiting for an operator, across shops, oldest first, with the shop's name."""
    queue = coupons.review_queue(session, None, limit=limit)
    names = _shop_names(session, {c.shop_id for c in queue})
    return [(c, names.get(c.shop_id, "")) for c in queue]


def decide_coupon(ctx: Ctx, coupon_id: int, *, approve: bool, reason: str = "") -> Coupon:
    """C2 by an operator: approve (overruling the machine's flags, if any) or reject with a
    reason. Takes effect at max(now, created + review window)."""
    _require_operator(ctx)
    coupon = ctx.session.get(Coupon, coupon_id)
    if coupon is None:
        raise NotFound("卡券", "Coupon", coupon_id)
    flags = [r.get("code") for r in coupon.auto_reasons or []]
    decided = coupons.decide_review(ctx, coupon.shop_id, coupon_id, approve=approve, reason=reason)
    _record(
        ctx,
        decided.shop_id,
        "coupon_decided",
        "C2",
        {
            "coupon_id": decided.id,
            "decision": "approve" if approve else "reject",
            "reason": (reason or "").strip(),
            "machine_flags": flags,
            "status": decided.status,
        },
    )
    return decided


# ----- O8 product unbans -----------------------------------------------------------------


def banned_products(session: Session, limit: int = 200) -> list[tuple[Product, str]]:
    rows = list(
        session.scalars(
            select(Product)
            .where(Product.banned_at.is_not(None))
            .order_by(Product.banned_at, Product.id)
            .limit(limit)
        )
    )
    names = _shop_names(session, {p.shop_id for p in rows})
    return [(p, names.get(p.shop_id, "")) for p in rows]


def unban_product(ctx: Ctx, product_id: int, note: str = "") -> Product:
    """O8: the platform unbans a product banned for late shipment; the merchant is told."""
    _require_operator(ctx)
    problems = rules.reason_problems(note, required=False)
    if problems:
        raise ValidationFailed("invalid_reason", "处理原因有误", "Invalid reason", errors=problems)
    product = ctx.session.get(Product, product_id)
    if product is None:
        raise NotFound("商品", "Product", product_id)
    product = orders.unban_product(ctx, product.shop_id, product_id, note.strip())
    _record(
        ctx,
        product.shop_id,
        "product_unbanned",
        "O8",
        {"product_id": product.id, "note": note.strip()},
    )
    notify.notice(
        ctx,
        product.shop_id,
        category="violation",
        title=f"商品「{product.title}」已由平台解除封禁",
        body=note.strip() or "商品恢复可售。",
        link="/console/orders/violations",
        rule="O8",
    )
    return product


# ----- O8 shop review flags ---------------------------------------------------------------


def review_flags(session: Session, *, open_only: bool = True) -> list[tuple[ShopReviewFlag, str]]:
    flags = orders.list_review_flags(session)
    if open_only:
        flags = [f for f in flags if f.status != "decided"]
    names = _shop_names(session, {f.shop_id for f in flags})
    return [(f, names.get(f.shop_id, "")) for f in flags]


def sanction_of(session: Session, shop_id: int) -> str | None:
    """The O8 sanction in force on a shop: "suspended", "closed" or None."""
    state: str | None = session.scalar(
        select(ShopSanction.state).where(ShopSanction.shop_id == shop_id)
    )
    return state


def refuse_if_sanctioned(session: Session, shop_id: int) -> None:
    """O8: a shop under 停业整改 or 清退 takes no new orders."""
    state = sanction_of(session, shop_id)
    if not rules.takes_orders(state):
        raise Conflict(
            "shop_suspended",
            f"店铺{rules.SANCTION_LABELS[state or 'suspended']}，暂不能下单",
            f"The shop is {state}: no new orders",
            rule="O8",
        )


def decide_shop(ctx: Ctx, flag_id: int, decision: str, reason: str) -> ShopReviewFlag:
    """O8 by an operator: 不处理, 停业整改 (no new orders, listings hidden, campaigns paused)
    or 清退 (closed, balance and deposit settled through the ledger). The merchant gets a
    notice; the decision is an event naming the operator and O8."""
    _require_operator(ctx)
    if decision not in rules.SHOP_DECISIONS:
        raise ValidationFailed(
            "invalid_decision",
            f"未知处理结果 {decision}",
            f"Unknown decision {decision}",
            field="decision",
        )
    problems = rules.reason_problems(reason, required=decision != "no_action")
    if problems:
        raise ValidationFailed("invalid_reason", "处理原因有误", "Invalid reason", errors=problems)
    flag = orders.decide_review(ctx, flag_id, decision, reason.strip())
    state = rules.sanction_for(decision)
    effects: dict[str, Any] = {}
    if state is not None:
        effects = _sanction(ctx, flag, state, reason.strip())
    _record(
        ctx,
        flag.shop_id,
        "shop_decided",
        "O8",
        {
            "flag_id": flag.id,
            "order_id": flag.order_id,
            "decision": decision,
            "reason": reason.strip(),
            **effects,
        },
    )
    label = rules.SHOP_DECISIONS[decision]
    body = {
        "no_action": "平台审核后决定不予处罚。",
        "suspend": "店铺停业整改：暂停新订单，商品已隐藏，卡券活动已暂停。原因：",
        "clear_out": "店铺已被清退：店铺关闭，账户余额与保证金已结算。原因：",
    }[decision]
    notify.notice(
        ctx,
        flag.shop_id,
        category="violation",
        title=f"平台审核结果：{label}",
        body=body + (reason.strip() if decision != "no_action" else ""),
        link="/console/orders/violations",
        rule="O8",
    )
    return flag


def _sanction(ctx: Ctx, flag: ShopReviewFlag, state: str, reason: str) -> dict[str, Any]:
    shop_id = flag.shop_id
    existing = ctx.session.scalar(select(ShopSanction).where(ShopSanction.shop_id == shop_id))
    if existing is None:
        ctx.session.add(
            ShopSanction(
                shop_id=shop_id,
                state=state,
                flag_id=flag.id,
                reason=reason[:300],
                decided_by=ctx.actor,
                decided_at=ctx.now,
            )
        )
    elif existing.state != "closed":  # 清退 is final; 停业整改 may become 清退
        existing.state, existing.flag_id, existing.reason = state, flag.id, reason[:300]
        existing.decided_by, existing.decided_at = ctx.actor, ctx.now
    paused = ctx.session.execute(
        update(Campaign)
        .where(
            Campaign.shop_id == shop_id,
            Campaign.status.in_([CampaignStatus.ONLINE, CampaignStatus.SCHEDULED]),
        )
        .values(status=CampaignStatus.OFFLINE, offline_at=ctx.now, offline_reason="platform")
        .returning(Campaign.id)
    ).all()
    ctx.session.flush()
    effects: dict[str, Any] = {"sanction": state, "campaigns_paused": [r[0] for r in paused]}
    if state == "closed":
        effects["settlement"] = _settle(ctx, shop_id, flag.id)
    return effects


def _settle(ctx: Ctx, shop_id: int, flag_id: int) -> dict[str, int]:
    """清退: the deposit first covers what it owes (待补缴) from the balance, then what is left
    of both is paid out to the merchant (→ EXTERNAL), each a ledger transaction."""
    balances = ledger.balances(ctx.session, shop_id)
    balance = balances.get(Account.BALANCE, 0)
    deposit = balances.get(Account.DEPOSIT, 0)
    moved = {"deposit_topped_up_fen": 0, "balance_paid_out_fen": 0, "deposit_paid_out_fen": 0}
    if deposit < 0 and balance > 0:
        cover = min(balance, -deposit)
        ledger.move(
            ctx,
            shop_id,
            source=Account.BALANCE,
            target=Account.DEPOSIT,
            amount_fen=cover,
            key=f"platform-clear-out:{flag_id}:cover-deposit",
            kind="clear_out_cover_deposit",
            rule="O8",
            memo="清退结算：余额补缴保证金",
            ref_type="shop_review_flag",
            ref_id=flag_id,
        )
        balance -= cover
        deposit += cover
        moved["deposit_topped_up_fen"] = cover
    for account, amount, name in (
        (Account.BALANCE, balance, "balance"),
        (Account.DEPOSIT, deposit, "deposit"),
    ):
        if amount > 0:
            ledger.move(
                ctx,
                shop_id,
                source=account,
                target=Account.EXTERNAL,
                amount_fen=amount,
                key=f"platform-clear-out:{flag_id}:{name}",
                kind=f"clear_out_{name}_payout",
                rule="O8",
                memo=f"清退结算：{'账户余额' if name == 'balance' else '保证金'}退回商家",
                ref_type="shop_review_flag",
                ref_id=flag_id,
            )
            moved[f"{name}_paid_out_fen"] = amount
    return moved


def lift_suspension(ctx: Ctx, shop_id: int, reason: str) -> dict[str, Any]:
    """O8 (F1): an operator lifts a 停业整改 once the shop has 整改'd. The sanction row goes
    (new orders are taken again), the campaigns the sanction paused (``offline_reason`` =
    "platform", see ``_sanction``) come back as they would be now — online, scheduled, or
    ended if their end passed meanwhile (the C3 schedule decides) — and the merchant gets a
    notice. 清退 is final and cannot be lifted. An event names the operator and O8."""
    _require_operator(ctx)
    problems = rules.reason_problems(reason, required=True)
    if problems:
        raise ValidationFailed("invalid_reason", "处理原因有误", "Invalid reason", errors=problems)
    sanction = ctx.session.scalar(
        select(ShopSanction).where(ShopSanction.shop_id == shop_id).with_for_update()
    )
    refusal = rules.lift_refusal(sanction.state if sanction is not None else None)
    if refusal is not None:
        raise refusal
    assert sanction is not None
    flag_id = sanction.flag_id
    ctx.session.delete(sanction)
    restored = [
        row[0]
        for row in ctx.session.execute(
            update(Campaign)
            .where(
                Campaign.shop_id == shop_id,
                Campaign.status == CampaignStatus.OFFLINE,
                Campaign.offline_reason == "platform",
            )
            .values(
                status=CampaignStatus.SCHEDULED,
                online_at=None,
                offline_at=None,
                offline_reason=None,
            )
            .returning(Campaign.id)
        ).all()
    ]
    ctx.session.flush()
    if restored:
        coupons.apply_campaign_schedule(ctx, campaign_ids=restored)
    states: dict[int, str] = {
        row.id: row.status
        for row in ctx.session.execute(
            select(Campaign.id, Campaign.status).where(Campaign.id.in_(restored))
        )
    }
    effects = {
        "flag_id": flag_id,
        "reason": reason.strip(),
        "campaigns_restored": sorted(restored),
        "campaign_status": {str(k): v for k, v in sorted(states.items())},
    }
    _record(ctx, shop_id, "suspension_lifted", "O8", effects)
    notify.notice(
        ctx,
        shop_id,
        category="violation",
        title="平台已解除店铺停业整改",
        body="店铺恢复接单，被暂停的卡券活动已按原时间恢复。说明：" + reason.strip(),
        link="/console/coupons/campaigns",
        rule="O8",
    )
    return effects


def sanctions(session: Session) -> list[tuple[ShopSanction, str]]:
    rows = list(session.scalars(select(ShopSanction).order_by(ShopSanction.id.desc())))
    names = _shop_names(session, {s.shop_id for s in rows})
    return [(s, names.get(s.shop_id, "")) for s in rows]


# ----- 平台介入 in a rejected after-sale (A4) ------------------------------------------------


def rejected_aftersales(session: Session, limit: int = 200) -> list[tuple[Any, str]]:
    """After-sales the merchant rejected (A4) and the platform has not yet looked at (an
    upheld rejection leaves the list): those the buyer asked about first, then newest first."""
    from xiaodian.aftersales.models import AfterSaleRequest, RequestHistory, RequestStatus

    upheld = (
        select(RequestHistory.id)
        .where(
            RequestHistory.shop_id == AfterSaleRequest.shop_id,
            RequestHistory.request_id == AfterSaleRequest.id,
            RequestHistory.action == "platform_upheld",
        )
        .exists()
    )
    # F1: those the buyer asked the platform about (申请平台介入) come first.
    asked = (
        select(RequestHistory.id)
        .where(
            RequestHistory.shop_id == AfterSaleRequest.shop_id,
            RequestHistory.request_id == AfterSaleRequest.id,
            RequestHistory.action == "intervention_requested",
        )
        .exists()
    )
    rows = list(
        session.scalars(
            select(AfterSaleRequest)
            .where(AfterSaleRequest.status == RequestStatus.REJECTED, ~upheld)
            .order_by(
                case((asked, 0), else_=1),
                AfterSaleRequest.updated_at.desc(),
                AfterSaleRequest.id.desc(),
            )
            .limit(limit)
        )
    )
    names = _shop_names(session, {r.shop_id for r in rows})
    return [(r, names.get(r.shop_id, "")) for r in rows]


def intervene(ctx: Ctx, request_id: int, decision: str, reason: str) -> Any:
    """平台介入: ``overturn`` (the buyer is refunded through the usual refund path, recorded
    against the shop) or ``uphold`` (the merchant's rejection stands). Both are events naming
    the operator and A4; the merchant is told."""
    from xiaodian.aftersales import service as aftersales
    from xiaodian.aftersales.models import AfterSaleRequest

    _require_operator(ctx)
    if decision not in rules.INTERVENTIONS:
        raise ValidationFailed(
            "invalid_decision",
            f"未知处理结果 {decision}",
            f"Unknown decision {decision}",
            field="decision",
        )
    problems = rules.reason_problems(reason, required=True)
    if problems:
        raise ValidationFailed("invalid_reason", "处理原因有误", "Invalid reason", errors=problems)
    req = ctx.session.get(AfterSaleRequest, request_id)
    if req is None:
        raise NotFound("售后单", "After-sale request", request_id)
    if decision == "overturn":
        req = aftersales.platform_overturn(ctx, req.shop_id, req.id, reason.strip())
    else:
        aftersales.record(
            ctx, req, "platform_upheld", req.status, req.status, "A4",
            note=f"平台介入：维持商家拒绝：{reason.strip()}",
        )  # fmt: skip
    _record(
        ctx,
        req.shop_id,
        "aftersale_intervened",
        "A4",
        {
            "request_id": req.id,
            "order_id": req.order_id,
            "decision": decision,
            "reason": reason.strip(),
            "status": req.status,
            "amount_fen": req.amount_fen if decision == "overturn" else 0,
        },
    )
    title = (
        f"平台介入：售后单 {req.id} 改判为退款"
        if decision == "overturn"
        else f"平台介入：售后单 {req.id} 维持拒绝"
    )
    notify.notice(
        ctx,
        req.shop_id,
        category="aftersale",
        title=title,
        body=reason.strip(),
        link=f"/console/aftersales/{req.id}",
        rule="A4",
    )
    return req


# ----- the decisions log ---------------------------------------------------------------------


def decisions(session: Session, limit: int = 100) -> list[Any]:
    from xiaodian.notify.models import Event

    return list(
        session.scalars(
            select(Event)
            .where(Event.type.like("platform.%"))
            .order_by(Event.id.desc())
            .limit(limit)
        )
    )


def coupon_status_label(coupon: Coupon) -> str:
    return CouponStatus.LABELS.get(coupon.status, coupon.status)

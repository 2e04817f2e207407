"""The after-sales assistant 售后小助手 (A2): strategies for 已发货仅退款 and their evaluation.

Configured under 售后 → 售后小助手 → 创建策略. Only the main account may view or edit them
unless it granted ``aftersales.assistant`` to a sub-account (A2; checked by the callers through
``Principal.require``). Evaluated on every new (or modified) pending 已发货仅退款 request, in
this order, the first that fires decides:

1. A2.1 ERP取消发货自动退 — the ERP cancelled the shipment of every package the request
   covers (``erp_cancel_applies``) → agree at once; checked both on a new request and when the
   ERP cancels (``on_shipment_cancelled``) while a request is pending.
2. A2.2 小金额自动同意退款 — amount ≤ threshold (equal agrees; one fen above does not).
3. A2.3 快递拦截自动退 — buyer platform-verified, the request covers exactly one package and
   every item in it, the package is still moving and the balance covers the fee → request
   interception; on success agree (the fee is charged), on failure stay pending.
4. A2.4 拒签后退款 — the covered packages are still moving → agree on refusal; on 拒签 the
   refund completes, on 签收 the request returns to the merchant (pending, new A3 deadline).

Each automatic decision records the strategy and its rule id on the request, in its history
and in the emitted event.

A3.1 快递拦截 by hand (``manual_interception``, from the workbench, the detail page and the open
API) goes through the same interception path as A2.3 (``request_interception``) with the same
fee rule, or is recorded as done offline (线下联系快递); its history rows carry rule A3.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import logistics, rules
from xiaodian.aftersales import service as requests
from xiaodian.aftersales.models import (
    MOVING,
    STATUS_LABELS,
    STRATEGY_LABELS,
    STRATEGY_RULES,
    AfterSaleRequest,
    Package,
    PackageStatus,
    RequestHistory,
    RequestKind,
    RequestStatus,
    Strategy,
    StrategyCode,
)
from xiaodian.context import Ctx
from xiaodian.errors import Conflict, ValidationFailed, field_error
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify

C = StrategyCode
P = PackageStatus


# ----- configuration (创建策略) --------------------------------------------------------------


def list_strategies(session: Session, shop_id: int) -> dict[str, Strategy | None]:
    rows = {s.code: s for s in session.scalars(select(Strategy).where(Strategy.shop_id == shop_id))}
    return {code.value: rows.get(code.value) for code in StrategyCode}


def save_strategy(
    ctx: Ctx, shop_id: int, code: str, *, enabled: bool, threshold_fen: int | None = None
) -> Strategy:
    """Create or update one strategy (the caller checked ``aftersales.assistant``)."""
    if code not in STRATEGY_LABELS:
        raise ValidationFailed(
            "unknown_strategy", f"未知策略 {code}", f"Unknown strategy {code}", field="code"
        )
    if code == C.SMALL_AMOUNT:
        if threshold_fen is None:
            threshold_fen = ctx.settings.aftersales.small_amount_default_fen
        if not isinstance(threshold_fen, int) or threshold_fen < 1:
            raise ValidationFailed(
                "invalid_threshold",
                "小金额阈值须为正整数（分）",
                "threshold_fen must be a positive integer (fen)",
                errors=[field_error("threshold_fen", "须大于0", "must be > 0")],
                rule="A2.2",
            )
    else:
        threshold_fen = None
    row = ctx.session.scalars(
        select(Strategy).where(Strategy.shop_id == shop_id, Strategy.code == code)
    ).first()
    if row is None:
        row = Strategy(
            shop_id=shop_id,
            code=code,
            enabled=enabled,
            threshold_fen=threshold_fen,
            updated_by=ctx.actor,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        ctx.session.add(row)
    else:
        row.enabled, row.threshold_fen = enabled, threshold_fen
        row.updated_by, row.updated_at = ctx.actor, ctx.now
    ctx.session.flush()
    notify.emit(
        ctx,
        shop_id,
        "aftersale.strategy_saved",
        {"code": code, "enabled": enabled, "threshold_fen": threshold_fen},
        rule="A2",
    )
    return row


def _enabled(session: Session, shop_id: int) -> dict[str, Strategy]:
    return {
        s.code: s
        for s in session.scalars(
            select(Strategy).where(Strategy.shop_id == shop_id, Strategy.enabled.is_(True))
        )
    }


# ----- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    strategy: str
    fired: bool
    reason: str


def covered_packages(session: Session, req: AfterSaleRequest) -> tuple[list[Package], bool]:
    """The packages holding the request's items, and whether the request covers exactly one
    package and every item (at full quantity) in it — A2.3's condition."""
    packages = logistics.packages_of(session, req.shop_id, req.order_id)
    rows = logistics.package_items(session, req.shop_id, [p.id for p in packages])
    wanted = {int(i["order_item_id"]): int(i["qty"]) for i in req.items}
    hit = {r.package_id for r in rows if r.order_item_id in wanted}
    covered = [p for p in packages if p.id in hit]
    first = covered[0].id if covered else None
    content = {r.order_item_id: r.qty for r in rows if r.package_id == first}
    return covered, rules.covers_exactly(wanted, [p.id for p in covered], content)


def evaluate(ctx: Ctx, shop_id: int, request_id: int) -> list[Verdict]:
    """Run the enabled strategies on a pending 已发货仅退款 request (A2)."""
    req = requests.get_request(ctx.session, shop_id, request_id)
    if req.kind != RequestKind.SHIPPED_REFUND or req.status != RequestStatus.PENDING:
        return []
    enabled = _enabled(ctx.session, shop_id)
    packages, exact = covered_packages(ctx.session, req)
    verdicts: list[Verdict] = []

    if C.ERP_CANCEL in enabled:
        cancelled, why = erp_cancel_applies(ctx.session, req, packages)
        verdicts.append(Verdict(C.ERP_CANCEL, cancelled, why))
        if cancelled:
            _agree(ctx, req, C.ERP_CANCEL, f"{why}，自动同意退款")
            return verdicts

    if C.SMALL_AMOUNT in enabled:
        threshold = enabled[C.SMALL_AMOUNT].threshold_fen or 0
        fired, why = rules.small_amount_verdict(req.amount_fen, threshold)
        verdicts.append(Verdict(C.SMALL_AMOUNT, fired, why))
        if fired:
            _agree(
                ctx,
                req,
                C.SMALL_AMOUNT,
                f"退款金额 {yuan_label(req.amount_fen)} ≤ {yuan_label(threshold)}，自动同意退款",
            )
            return verdicts

    if C.INTERCEPTION in enabled:
        fired, why = _interception_applies(ctx, req, packages, exact)
        verdicts.append(Verdict(C.INTERCEPTION, fired, why))
        if fired:
            reply = request_interception(
                ctx,
                req,
                packages[0],
                "A2.3",
                C.INTERCEPTION,
                f"已向快递公司发起拦截（包裹 {packages[0].tracking_no}）",
            )
            if reply.ok:
                return verdicts

    if C.REFUSAL in enabled:
        moving, why = rules.refusal_verdict(packages)
        verdicts.append(Verdict(C.REFUSAL, moving, why))
        if moving:
            requests.agree_on_refusal(ctx, shop_id, req.id, rule="A2.4", strategy=C.REFUSAL)
    return verdicts


def erp_cancel_applies(
    session: Session, req: AfterSaleRequest, packages: list[Package] | None = None
) -> tuple[bool, str]:
    """A2.1 ERP取消发货自动退, the one rule for both a new request and an ERP cancel.

    Seed 003: "消费者申请已发货仅退款时,erp取消发货后,可以自动同意退款" — the refund is safe to
    agree without the merchant only because the goods it pays back never left: so it applies
    only when the ERP cancelled the shipment of **every package holding the request's items**.
    If one of them was already delivered (or refused, or is still on its way), the buyer may
    have the goods, and the merchant decides (A3). Packages holding only other items of the
    order do not matter. ``packages`` are the covered packages when the caller has them."""
    if packages is None:
        packages, _ = covered_packages(session, req)
    ids = [p.id for p in packages]
    cancelled = logistics.erp_cancelled_ids(session, req.shop_id, ids) if ids else set()
    return rules.erp_cancel_verdict(packages, cancelled)


def _interception_applies(
    ctx: Ctx, req: AfterSaleRequest, packages: list[Package], exact: bool
) -> tuple[bool, str]:
    """A2.3 (``rules.interception_verdict``) with the buyer and the balance looked up."""
    buyer = ctx.session.get(Buyer, req.buyer_id)
    return rules.interception_verdict(
        buyer_verified=buyer is not None and buyer.verified,
        packages=packages,
        exact=exact,
        balance_fen=ledger.balance(ctx.session, req.shop_id, Account.BALANCE),
        fee_fen=ctx.settings.aftersales.interception_fee_fen,
    )


def _agree(ctx: Ctx, req: AfterSaleRequest, code: str, note: str) -> None:
    requests.agree(ctx, req.shop_id, req.id, rule=STRATEGY_RULES[code], strategy=code, note=note)


# ----- reactions to logistics events --------------------------------------------------------


def on_shipment_cancelled(ctx: Ctx, shop_id: int, order_id: int) -> None:
    """A2.1: the ERP cancelled the shipment while a 已发货仅退款 request is pending (or agreed
    on refusal): agreed when ``erp_cancel_applies``; otherwise the reason is recorded and the
    merchant decides."""
    if C.ERP_CANCEL not in _enabled(ctx.session, shop_id):
        return
    req = requests.open_request_for(ctx.session, shop_id, order_id)
    if req is None or req.kind != RequestKind.SHIPPED_REFUND:
        return
    if req.status not in (RequestStatus.PENDING, RequestStatus.AGREED_ON_REFUSAL):
        return
    applies, why = erp_cancel_applies(ctx.session, req)
    if applies:
        _agree(ctx, req, C.ERP_CANCEL, f"{why}，自动同意退款")
    else:
        requests.note_only(
            ctx, req, "erp_cancel_not_applied", "A2.1", C.ERP_CANCEL, f"{why}，待商家处理"
        )


def on_intercepted(ctx: Ctx, shop_id: int, request_id: int | None) -> None:
    """A2.3: interception succeeded (fee already charged) → agree the refund. One the merchant
    asked for by hand (A3.1) agrees under A3.1 once no covered package is still on its way."""
    if request_id is None:
        return
    req = requests.get_request(ctx.session, shop_id, request_id)
    if interception_origin(ctx.session, req) == MANUAL_RULE:
        _settle_manual(ctx, req, "快递拦截成功，同意退款")
        return
    if req.status in (RequestStatus.PENDING, RequestStatus.AGREED_ON_REFUSAL):
        _agree(ctx, req, C.INTERCEPTION, "快递拦截成功，自动同意退款")


def on_interception_failed(ctx: Ctx, shop_id: int, request_id: int | None, reason: str) -> None:
    """A2.3 / A3.1: interception failed → the request stays pending for the merchant."""
    if request_id is None:
        return
    req = requests.get_request(ctx.session, shop_id, request_id)
    if req.status != RequestStatus.PENDING:
        return
    if interception_origin(ctx.session, req) == MANUAL_RULE:
        requests.note_only(
            ctx,
            req,
            "interception_failed",
            MANUAL_RULE,
            None,
            f"快递拦截失败：{reason}，待商家处理",
        )
        return
    requests.note_only(
        ctx,
        req,
        "interception_failed",
        "A2.3",
        C.INTERCEPTION,
        f"快递拦截失败：{reason}，待商家处理",
    )


# ----- A3.1 manual interception (售后工作台 / 售后详情) ----------------------------------------

MANUAL_RULE = "A3.1"
INTERCEPTION_MODES = ("carrier", "offline")
# A covered package in one of these no longer reaches the buyer: the refund is safe to agree.
_STOPPED = frozenset({P.INTERCEPTED, P.RETURNED, P.CANCELLED, P.REFUSED})


def request_interception(
    ctx: Ctx,
    req: AfterSaleRequest,
    package: Package,
    rule: str,
    strategy: str | None,
    note: str,
) -> logistics.CarrierReply:
    """Ask the carrier adapter to intercept one package for a request and record it in the
    request's history under ``rule`` — the one path for A2.3 (the strategy) and A3.1 (by
    hand). The carrier answers later (``on_intercepted`` / ``on_interception_failed``); on
    success the merchant pays the interception fee (``logistics.charge_interception_fee``)."""
    reply = logistics.request_interception(ctx, package, req.id)
    if reply.ok:
        requests.note_only(ctx, req, "interception_requested", rule, strategy, note)
    return reply


def interception_origin(session: Session, req: AfterSaleRequest) -> str:
    """The rule of the request's latest interception request: A2.3 (strategy) or A3.1."""
    rule = session.scalar(
        select(RequestHistory.rule)
        .where(
            RequestHistory.shop_id == req.shop_id,
            RequestHistory.request_id == req.id,
            RequestHistory.action == "interception_requested",
        )
        .order_by(RequestHistory.id.desc())
        .limit(1)
    )
    return rule or "A2.3"


def interceptable_packages(session: Session, req: AfterSaleRequest) -> list[Package]:
    """A3.1: the packages holding the request's items that are still on their way and not
    already being (or been) intercepted — what a manual interception acts on. Empty unless
    the request is a pending 已发货仅退款."""
    if req.kind != RequestKind.SHIPPED_REFUND or req.status != RequestStatus.PENDING:
        return []
    packages, _ = covered_packages(session, req)
    return [
        p
        for p in packages
        if p.status in MOVING and p.interception not in ("requested", "succeeded", "offline")
    ]


def manual_interception(
    ctx: Ctx, shop_id: int, request_id: int, *, mode: str, note: str = ""
) -> AfterSaleRequest:
    """A3.1 快递拦截 by hand. Seed 003: "建议商家优先进行快递拦截（使用平台拦截功能或线下
    联系快递）".

    * ``carrier`` 平台拦截: the carrier adapter is asked to intercept every covered package
      still on its way — A2.3's path (``request_interception``), with its fee rule: on
      success the merchant pays the interception fee from its balance (待补缴 when short);
      when no covered package is still on its way the refund is agreed under A3.1.
    * ``offline`` 线下联系快递: the merchant intercepted the parcel itself and records it with
      a note; the packages count as intercepted, no fee is charged here (the merchant settled
      it with the carrier), and the refund is agreed under A3.1 at once.

    Each step is a history row (and ``aftersale.*`` event) with the actor and rule A3.1."""
    req = requests.get_request(ctx.session, shop_id, request_id)
    if mode not in INTERCEPTION_MODES:
        raise ValidationFailed(
            "unknown_interception_mode",
            f"未知拦截方式 {mode}（可选：carrier 平台拦截，offline 线下联系快递）",
            f"Unknown interception mode {mode}; use carrier or offline",
            field="mode",
            rule=MANUAL_RULE,
        )
    if req.kind != RequestKind.SHIPPED_REFUND:
        raise Conflict(
            "interception_not_applicable",
            "仅已发货仅退款售后单可进行快递拦截",
            "Only shipped_refund requests can be intercepted",
            rule=MANUAL_RULE,
        )
    if req.status != RequestStatus.PENDING:
        label = STATUS_LABELS.get(req.status, req.status)
        raise Conflict(
            "aftersale_wrong_state",
            f"售后单状态为「{label}」，不能快递拦截",
            f"The request is {req.status}; cannot intercept",
        )
    targets = interceptable_packages(ctx.session, req)
    if not targets:
        raise Conflict(
            "nothing_to_intercept",
            "售后单涉及的包裹均不可拦截（已签收、拒签、已拦截、拦截中或已取消发货）",
            "No package of this request can be intercepted",
            rule=MANUAL_RULE,
        )
    note = note.strip()
    numbers = "、".join(p.tracking_no for p in targets)
    if mode == "offline":
        if not note:
            raise ValidationFailed(
                "interception_note_required",
                "线下联系快递拦截须填写说明（快递公司、联系人、结果等）",
                "An offline interception needs a note",
                field="note",
                rule=MANUAL_RULE,
            )
        for package in targets:
            logistics.record_offline_interception(ctx, package, req.id, note)
        requests.note_only(
            ctx,
            req,
            "intercepted_offline",
            MANUAL_RULE,
            None,
            f"已线下联系快递拦截成功（包裹 {numbers}），拦截费用由商家与快递公司线下结算：{note}",
        )
        _settle_manual(ctx, req, "线下快递拦截成功，同意退款")
        return req
    fee = yuan_label(ctx.settings.aftersales.interception_fee_fen)
    for package in targets:
        suffix = f"：{note}" if note else ""
        reply = request_interception(
            ctx,
            req,
            package,
            MANUAL_RULE,
            None,
            f"商家发起快递拦截（包裹 {package.tracking_no}），拦截成功后由商家承担拦截费用 {fee}"
            + suffix,
        )
        if not reply.ok:
            requests.note_only(
                ctx,
                req,
                "interception_failed",
                MANUAL_RULE,
                None,
                f"快递公司未受理拦截（包裹 {package.tracking_no}）：{reply.reason}",
            )
    return req


def _settle_manual(ctx: Ctx, req: AfterSaleRequest, note: str) -> None:
    """A3.1: agree the refund once every covered package is stopped (intercepted, returned,
    refused or cancelled); otherwise the request waits for the other packages or the
    merchant. A request the merchant meanwhile agreed on refusal is agreed too (the parcel
    will never be refused now)."""
    if req.status not in (RequestStatus.PENDING, RequestStatus.AGREED_ON_REFUSAL):
        return
    packages, _ = covered_packages(ctx.session, req)
    if packages and all(p.status in _STOPPED for p in packages):
        requests.agree(ctx, req.shop_id, req.id, rule=MANUAL_RULE, strategy=None, note=note)


def on_package_final(ctx: Ctx, shop_id: int, order_id: int, package_id: int, event: str) -> None:
    """A2.4: a refused parcel completes an agreed-on-refusal request; a delivered one hands it
    back to the merchant."""
    req = requests.open_request_for(ctx.session, shop_id, order_id)
    if req is None or req.status != RequestStatus.AGREED_ON_REFUSAL:
        return
    packages, _ = covered_packages(ctx.session, req)
    if package_id not in {p.id for p in packages}:
        return
    if event == "refused":
        requests.agree(
            ctx,
            shop_id,
            req.id,
            rule="A2.4",
            strategy=req.decided_strategy,
            note="买家已拒签，自动退款",
        )
    elif event == "delivered":
        requests.reopen_after_delivery(ctx, req, "包裹已签收（未拒签），请商家根据物流状态处理")

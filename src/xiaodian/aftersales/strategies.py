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
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from xiaodian.accounts.models import Buyer
from xiaodian.aftersales import logistics
from xiaodian.aftersales import service as requests
from xiaodian.aftersales.models import (
    MOVING,
    STRATEGY_LABELS,
    STRATEGY_RULES,
    AfterSaleRequest,
    Package,
    RequestKind,
    RequestStatus,
    Strategy,
    StrategyCode,
)
from xiaodian.context import Ctx
from xiaodian.errors import ValidationFailed, field_error
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.money import yuan_label
from xiaodian.notify import service as notify

C = StrategyCode


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
    exact = False
    if len(covered) == 1:
        content = {r.order_item_id: r.qty for r in rows if r.package_id == covered[0].id}
        exact = content == wanted
    return covered, exact


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
        fired = req.amount_fen <= threshold
        verdicts.append(
            Verdict(
                C.SMALL_AMOUNT,
                fired,
                f"退款金额 {yuan_label(req.amount_fen)} {'≤' if fired else '>'} "
                f"阈值 {yuan_label(threshold)}",
            )
        )
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
            reply = logistics.request_interception(ctx, packages[0], req.id)
            if reply.ok:
                requests.note_only(
                    ctx,
                    req,
                    "interception_requested",
                    "A2.3",
                    C.INTERCEPTION,
                    f"已向快递公司发起拦截（包裹 {packages[0].tracking_no}）",
                )
                return verdicts

    if C.REFUSAL in enabled:
        moving = bool(packages) and all(p.status in MOVING for p in packages)
        verdicts.append(
            Verdict(C.REFUSAL, moving, "包裹在途" if moving else "包裹已不在途（已签收/拒签/取消）")
        )
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
    if not packages:
        return False, "售后单未涉及任何包裹"
    cancelled = logistics.erp_cancelled_ids(session, req.shop_id, [p.id for p in packages])
    left = [p.tracking_no for p in packages if p.id not in cancelled]
    if left:
        return False, f"包裹 {'、'.join(left)} 未被ERP取消发货"
    return True, f"ERP已取消发货（售后单涉及的 {len(packages)} 个包裹）"


def _interception_applies(
    ctx: Ctx, req: AfterSaleRequest, packages: list[Package], exact: bool
) -> tuple[bool, str]:
    buyer = ctx.session.get(Buyer, req.buyer_id)
    if buyer is None or not buyer.verified:
        return False, "买家未通过平台系统验证"
    if len(packages) != 1:
        return False, f"售后单涉及 {len(packages)} 个包裹"
    if not exact:
        return False, "包裹中并非全为退款商品"
    package = packages[0]
    if package.status not in MOVING or package.interception:
        return False, "包裹不可拦截（已签收/拒签/已拦截）"
    fee = ctx.settings.aftersales.interception_fee_fen
    if ledger.balance(ctx.session, req.shop_id, Account.BALANCE) < fee:
        return False, f"账户余额不足以支付拦截费用 {yuan_label(fee)}"
    return True, "一个包裹且全为退款商品，发起拦截"


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
    """A2.3: interception succeeded (fee already charged) → agree the refund."""
    if request_id is None:
        return
    req = requests.get_request(ctx.session, shop_id, request_id)
    if req.status in (RequestStatus.PENDING, RequestStatus.AGREED_ON_REFUSAL):
        _agree(ctx, req, C.INTERCEPTION, "快递拦截成功，自动同意退款")


def on_interception_failed(ctx: Ctx, shop_id: int, request_id: int | None, reason: str) -> None:
    """A2.3: interception failed → the request stays pending for the merchant."""
    if request_id is None:
        return
    req = requests.get_request(ctx.session, shop_id, request_id)
    if req.status == RequestStatus.PENDING:
        requests.note_only(
            ctx,
            req,
            "interception_failed",
            "A2.3",
            C.INTERCEPTION,
            f"快递拦截失败：{reason}，待商家处理",
        )


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

"""W1: the O8 batch's events are written by the database (``notify.emit_selected``): one per
decided judgment with the payload the batch always sent, a webhook delivery per subscribed
endpoint, and one notice per shop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.orders.test_penalty_batch import T
from xiaodian import scheduler
from xiaodian.notify import service as notify
from xiaodian.notify.models import Event, Notice, WebhookDelivery
from xiaodian.orders import sweeps as rules
from xiaodian.orders.models import Order, OrderViolation, PenaltyStatus
from xiaodian.runtime import Runtime


def test_W1_penalty_events_payloads_deliveries_and_notice(
    rt: Runtime, shop: Any, shopper: Any
) -> None:
    shopper.deposit(shop.shop_id)
    product = shopper.product(shop.shop_id)
    orders = [shopper.order(shop.shop_id, product) for _ in range(3)]
    day = rules.next_local_day(T, rt.settings.timezone)
    with rt.unit() as ctx:
        endpoint = notify.create_endpoint(
            ctx,
            shop.shop_id,
            url="https://erp.example.com/hook",
            event_types=["order.penalty_deducted"],
            resolver=lambda _host, _port: ["93.184.216.34"],
        )
        # the first order was deducted twice before: its judgment is waived by the order cap
        for seq in (1, 2):
            ctx.session.add(
                OrderViolation(
                    shop_id=shop.shop_id,
                    order_id=orders[0],
                    seq=seq,
                    due_at=T - timedelta(days=3),
                    judged_at=T - timedelta(days=3),
                    penalty_day=day - timedelta(days=2),
                    penalty_fen=1000,
                    penalty_status=PenaltyStatus.DEDUCTED,
                )
            )
        for i, order_id in enumerate(orders):
            ctx.session.add(
                OrderViolation(
                    shop_id=shop.shop_id,
                    order_id=order_id,
                    seq=3 if i == 0 else 1,
                    due_at=T,
                    judged_at=T + timedelta(seconds=i),
                    penalty_day=day,
                    penalty_fen=1000,
                    penalty_status=PenaltyStatus.PENDING,
                )
            )
    batch = [s for s in rules.SWEEPS if s.name == "orders.deduct_penalties"]
    scheduler.run_tick(rt, now=day + timedelta(hours=1), sweeps=batch)
    with rt.unit() as ctx:
        decided = ctx.session.scalars(
            select(OrderViolation)
            .where(OrderViolation.penalty_day == day)
            .order_by(OrderViolation.id)
        ).all()
        order_no = dict(ctx.session.execute(select(Order.id, Order.order_no)).all())
        events = ctx.session.scalars(
            select(Event).where(Event.type.like("order.penalty_%")).order_by(Event.id)
        ).all()
        assert [(e.shop_id, e.rule) for e in events] == [(shop.shop_id, "O8")] * 3
        assert [e.payload for e in events] == [
            {
                "violation_id": v.id,
                "order_id": v.order_id,
                "order_no": order_no[v.order_id],
                "seq": v.seq,
                "amount_fen": 1000 if v.penalty_status == PenaltyStatus.DEDUCTED else 0,
                "status": v.penalty_status,
                "ledger_txn_id": v.ledger_txn_id,
                "penalty_day": day.isoformat(),
            }
            for v in decided
        ]
        assert [e.type for e in events] == [
            "order.penalty_waived",
            "order.penalty_deducted",
            "order.penalty_deducted",
        ]
        assert decided[1].ledger_txn_id is not None
        deliveries = ctx.session.scalars(
            select(WebhookDelivery.event_id).where(WebhookDelivery.endpoint_id == endpoint.id)
        ).all()
        assert sorted(deliveries) == [events[1].id, events[2].id]  # only the subscribed type
        notices = ctx.session.scalars(select(Notice).where(Notice.rule == "O8")).all()
        assert len(notices) == 1 and "2 笔" in notices[0].title

"""``xiaodian orders …``: platform-operator actions (review flags, unbanning, payment faults of
the local gateway) and a fast bulk seeder for benchmarks."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, insert, select

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer
from xiaodian.config import get_settings
from xiaodian.errors import XiaodianError
from xiaodian.orders import payments, service
from xiaodian.orders.models import (
    AfterSale,
    Order,
    OrderItem,
    OrderStatus,
    Product,
)
from xiaodian.runtime import Runtime

app = typer.Typer(
    help="订单 orders: reviews, bans, payment faults, bulk seeding.", no_args_is_help=True
)
console = Console()


def _rt() -> Runtime:
    return Runtime.create(get_settings())


def _fail(exc: XiaodianError) -> None:
    console.print(f"[red]✗ {exc.message_zh}[/]  ({exc.message_en})")
    raise typer.Exit(code=2)


@app.command("reviews")
def reviews(shop_id: Annotated[int | None, typer.Option(help="only this shop")] = None) -> None:
    """O8: review flags (orders judged the maximum times and still unresolved)."""
    rt = _rt()
    with rt.unit() as ctx:
        table = Table("id", "shop", "order", "status", "decision", "reason", "created")
        for flag in service.list_review_flags(ctx.session, shop_id):
            table.add_row(
                str(flag.id),
                str(flag.shop_id),
                str(flag.order_id),
                flag.status,
                flag.decision,
                flag.reason,
                flag.created_at.isoformat(),
            )
    console.print(table)


@app.command("decide")
def decide(
    flag_id: int,
    decision: Annotated[str, typer.Argument(help="no_action | suspend | clear_out")],
    note: Annotated[str, typer.Option(help="operator note")] = "",
    operator: Annotated[str, typer.Option(help="who decides")] = "operator",
) -> None:
    """O8: an operator decides a review flag (停业/清退 is never automatic)."""
    rt = _rt()
    try:
        with rt.unit(f"operator:{operator}") as ctx:
            flag = service.decide_review(ctx, flag_id, decision, note)
            console.print(f"[green]✓[/] flag {flag.id}: {service.REVIEW_DECISIONS[decision]}")
    except XiaodianError as exc:
        _fail(exc)


@app.command("unban")
def unban(shop_id: int, product_id: int, note: str = "") -> None:
    """O8: the platform unbans a product banned for late shipment."""
    rt = _rt()
    try:
        with rt.unit("operator") as ctx:
            product = service.unban_product(ctx, shop_id, product_id, note)
            console.print(f"[green]✓[/] {product.title} 已解除封禁")
    except XiaodianError as exc:
        _fail(exc)


@app.command("fault")
def fault(
    route: Annotated[str, typer.Argument(help="wechat | alipay | douyin_pay | bank_card")],
    operation: Annotated[str, typer.Option(help="refund | charge")] = "refund",
    clear: Annotated[bool, typer.Option(help="remove the fault")] = False,
    reason: str = "",
) -> None:
    """Local payment gateway: make a route fail (to see the O5 fallback), or clear it."""
    rt = _rt()
    with rt.unit() as ctx:
        if clear:
            payments.clear_fault(ctx, route, operation)
        else:
            payments.set_fault(ctx, route, operation, reason)
    console.print(f"[green]✓[/] {route} {operation}: {'ok' if clear else 'fails'}")


@app.command("seed")
def seed(
    orders: Annotated[int, typer.Option("--orders", help="how many orders")] = 100_000,
    shop_id: Annotated[int, typer.Option(help="shop to fill (must exist)")] = 1,
    due: Annotated[int, typer.Option(help="of which unshipped and past ship-by now")] = 0,
    batch: Annotated[int, typer.Option(help="rows per INSERT")] = 10_000,
) -> None:
    """Bulk-insert orders for benchmarks (bypasses the services; realistic column values)."""
    rt = _rt()
    bulk_seed(rt, shop_id, orders, due=due, batch=batch, progress=True)


def bulk_seed(
    rt: Runtime,
    shop_id: int,
    count: int,
    *,
    due: int = 0,
    batch: int = 10_000,
    progress: bool = False,
    seed: int = 7,
) -> None:
    """``count`` orders for ``shop_id``: the first ``due`` are paid, unshipped and past their
    ship-by time at the clock's now; the rest spread over the last 90 days in every state."""
    rng = random.Random(seed)
    now = rt.clock.now()
    hours = rt.settings.orders.ship_within_hours
    with rt.unit("seed") as ctx:
        product_ids = [
            service.create_product(
                ctx, shop_id, title=f"商品{i:03d} {word}", price_fen=1_000 + 100 * i, stock=10**9
            ).id
            for i, word in enumerate(("保温杯", "龙井", "耳机", "月饼", "四件套") * 4)
        ]
        products = {
            p.id: p for p in ctx.session.scalars(select(Product).where(Product.id.in_(product_ids)))
        }
        buyer = ctx.session.scalars(select(Buyer).where(Buyer.douyin_id == "bench_buyer")).first()
        if buyer is None:
            buyer, _token = accounts.create_buyer(
                ctx, douyin_id="bench_buyer", nickname="压测买家", phone="13800000000"
            )
        buyer_id = buyer.id
        base = (
            ctx.session.scalar(
                select(func.count()).select_from(Order).where(Order.shop_id == shop_id)
            )
            or 0
        )
    statuses = [
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.AWAITING_SHIPMENT,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
        OrderStatus.CLOSED,
    ]
    names = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周杰", "吴倩")
    bar = Progress(console=console) if progress else None
    task = bar.add_task("seeding orders", total=count) if bar else None
    if bar:
        bar.start()
    try:
        for offset in range(0, count, batch):
            order_rows: list[dict[str, Any]] = []
            item_rows: list[dict[str, Any]] = []
            for n in range(offset, min(count, offset + batch)):
                product = products[product_ids[n % len(product_ids)]]
                qty = 1 + n % 3
                goods = product.price_fen * qty
                if n < due:
                    status = OrderStatus.AWAITING_SHIPMENT
                    paid_at = now - timedelta(hours=hours, minutes=1 + n % 600)
                else:
                    status = statuses[rng.randrange(len(statuses))]
                    paid_at = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
                    if status == OrderStatus.AWAITING_SHIPMENT:
                        paid_at = now - timedelta(minutes=rng.randrange(hours * 60 - 1))
                created = paid_at - timedelta(minutes=1 + n % 30)
                is_paid = status != OrderStatus.PENDING_PAYMENT
                shipped = status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED)
                ship_by = paid_at + timedelta(hours=hours) if is_paid else None
                phone = f"13{n % 10}{n:08d}"[-11:]
                order_rows.append(
                    {
                        "shop_id": shop_id,
                        "order_no": f"9{shop_id:04d}{base + n:014d}",
                        "buyer_id": buyer_id,
                        "buyer_name": names[n % len(names)] + f"{n % 1000}",
                        "buyer_phone": phone,
                        "address": "浙江省杭州市西湖区文三路 100 号",
                        "payment_route": ("wechat", "alipay", "douyin_pay")[n % 3],
                        "goods_fen": goods,
                        "discount_fen": 0,
                        "paid_fen": goods if is_paid else 0,
                        "refunded_fen": 0,
                        "status": status,
                        "after_sale": AfterSale.NONE,
                        "violation_count": 0,
                        "created_at": created,
                        "paid_at": paid_at if is_paid else None,
                        "ship_by": ship_by,
                        "shipped_at": paid_at + timedelta(hours=12) if shipped else None,
                        "carrier": "SF" if shipped else None,
                        "tracking_no": f"SF{n:013d}" if shipped else None,
                        "completed_at": None,
                        "closed_at": now if status == "closed" else None,
                        "close_reason": "",
                        "refund_agreed_at": None,
                        "last_judged_at": None,
                        "last_due_at": None,
                        "next_judge_at": ship_by
                        if status == OrderStatus.AWAITING_SHIPMENT
                        else None,
                        "auto_close_at": created + timedelta(days=150)
                        if status in (OrderStatus.AWAITING_SHIPMENT, OrderStatus.PENDING_PAYMENT)
                        else None,
                    }
                )
                item_rows.append(
                    {
                        "shop_id": shop_id,
                        "order_id": 0,
                        "product_id": product.id,
                        "title": product.title,
                        "qty": qty,
                        "unit_price_fen": product.price_fen,
                        "amount_fen": goods,
                    }
                )
            with rt.unit("seed") as ctx:
                ids = (
                    ctx.session.execute(
                        insert(Order).returning(Order.id, sort_by_parameter_order=True), order_rows
                    )
                    .scalars()
                    .all()
                )
                for item, order_id in zip(item_rows, ids, strict=True):
                    item["order_id"] = order_id
                ctx.session.execute(insert(OrderItem), item_rows)
            if bar and task is not None:
                bar.advance(task, len(order_rows))
    finally:
        if bar:
            bar.stop()

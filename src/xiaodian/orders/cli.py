"""``xiaodian orders …``: platform-operator actions (review flags, unbanning, payment faults of
the local gateway) and a fast bulk seeder for benchmarks.

K6 (issue 14): an unknown shop, route or output directory is answered with one bilingual line
and exit code 2 before any work starts; the top-level CLI turns every XiaodianError into that
line too."""

from __future__ import annotations

import os
import random
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, insert, select, text

from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Buyer, Shop
from xiaodian.config import get_settings
from xiaodian.db import is_postgres
from xiaodian.errors import NotFound, XiaodianError
from xiaodian.orders import payments, service
from xiaodian.orders.models import (
    PAYMENT_ROUTES,
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


def _fail(exc: XiaodianError) -> NoReturn:
    _die(exc.message_zh, exc.message_en)


def _die(zh: str, en: str) -> NoReturn:
    """K6: one bilingual line on stderr, exit code 2."""
    typer.secho(f"✗ {zh}（{en}）", err=True, fg="red")
    raise typer.Exit(code=2)


def _require_shop(rt: Runtime, shop_id: int | None) -> None:
    if shop_id is not None and not _shop_exists(rt, shop_id):
        _die(f"店铺 {shop_id} 不存在", f"shop {shop_id} does not exist")


def _writable_output(output: Path) -> None:
    """K6: refuse an output file that cannot be written before the export starts."""
    folder = output.parent
    if output.is_dir():
        _die(f"{output} 是目录，请给出文件名", f"{output} is a directory; give a file name")
    if not folder.is_dir():
        _die(f"目录不存在：{folder}", f"directory does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        _die(f"目录不可写：{folder}", f"directory is not writable: {folder}")


@app.command("reviews")
def reviews(shop_id: Annotated[int | None, typer.Option(help="only this shop")] = None) -> None:
    """O8: review flags (orders judged the maximum times and still unresolved)."""
    rt = _rt()
    _require_shop(rt, shop_id)
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


_OPERATOR_HELP = "the platform operator deciding (username of `xiaodian operator create`)"


@app.command("decide")
def decide(
    flag_id: int,
    decision: Annotated[str, typer.Argument(help="no_action | suspend | clear_out")],
    note: Annotated[str, typer.Option(help="the reason (required for suspend/clear_out)")] = "",
    operator: Annotated[str, typer.Option(help=_OPERATOR_HELP)] = "",
) -> None:
    """O8: an operator decides a review flag (停业/清退 is never automatic).

    F1: the same path as the operator console (``platform.service.decide_shop``): an active
    operator account decides, the sanction takes effect (no new orders, campaigns paused; 清退
    settles the balance), the merchant gets a notice, and the event names the operator."""
    from xiaodian.orders.models import ShopReviewFlag
    from xiaodian.platform import service as platform

    rt = _rt()
    try:
        with rt.unit("cli") as ctx:
            if ctx.session.get(ShopReviewFlag, flag_id) is None:
                raise NotFound("平台审核", "Review flag", flag_id)
            ctx.actor = platform.acting_operator(ctx.session, operator).actor
            flag = platform.decide_shop(ctx, flag_id, decision, note)
            console.print(f"[green]✓[/] flag {flag.id}: {service.REVIEW_DECISIONS[decision]}")
    except XiaodianError as exc:
        _fail(exc)


@app.command("unban")
def unban(
    shop_id: int,
    product_id: int,
    note: str = "",
    operator: Annotated[str, typer.Option(help=_OPERATOR_HELP)] = "",
) -> None:
    """O8: the platform unbans a product banned for late shipment (F1: as an operator, through
    ``platform.service.unban_product`` — event, notice to the merchant)."""
    from xiaodian.platform import service as platform

    rt = _rt()
    _require_shop(rt, shop_id)
    try:
        with rt.unit("cli") as ctx:
            service.get_product(ctx.session, shop_id, product_id)  # this shop's, or not found
            ctx.actor = platform.acting_operator(ctx.session, operator).actor
            product = platform.unban_product(ctx, product_id, note)
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
    if route not in PAYMENT_ROUTES:
        _die(
            f"未知支付方式 {route}，可选：{'、'.join(PAYMENT_ROUTES)}",
            f"unknown route {route!r}; one of {', '.join(PAYMENT_ROUTES)}",
        )
    if operation not in ("refund", "charge"):
        _die(
            f"未知操作 {operation}，可选：refund、charge",
            f"unknown operation {operation!r}; refund or charge",
        )
    rt = _rt()
    with rt.unit() as ctx:
        if clear:
            payments.clear_fault(ctx, route, operation)
        else:
            payments.set_fault(ctx, route, operation, reason)
    console.print(f"[green]✓[/] {route} {operation}: {'ok' if clear else 'fails'}")


@app.command("seed")
def seed(
    orders: Annotated[int, typer.Option("--orders", help="how many orders", min=1)] = 100_000,
    shop_id: Annotated[
        int | None, typer.Option(help="shop to fill (default: a new shop 压测店铺)")
    ] = None,
    due: Annotated[int, typer.Option(help="of which unshipped and past ship-by now", min=0)] = 0,
    batch: Annotated[int, typer.Option(help="rows per INSERT", min=100)] = 10_000,
) -> None:
    """Bulk-insert orders for benchmarks (bypasses the services; realistic column values)."""
    rt = _rt()
    if shop_id is None:
        shop_id = _new_seed_shop(rt)
    else:
        _require_shop(rt, shop_id)
    bulk_seed(rt, shop_id, orders, due=min(due, orders), batch=batch, progress=True)
    console.print(f"[green]✓[/] {orders:,} orders in shop {shop_id}")


def _shop_exists(rt: Runtime, shop_id: int) -> bool:
    with rt.factory() as session:
        return session.get(Shop, shop_id) is not None


def _new_seed_shop(rt: Runtime) -> int:
    """A fresh shop for seeded orders; prints its login so the console can show them."""
    password = secrets.token_urlsafe(12)
    with rt.unit("seed") as ctx:
        number = (ctx.session.scalar(select(func.count()).select_from(Shop)) or 0) + 1
        username = f"seed{number}_{secrets.token_hex(3)}"
        shop, _user = accounts.create_shop(
            ctx, name=f"压测店铺 {number}", username=username, password=password
        )
        shop_id = shop.id
    console.print(f"新店铺 new shop {shop_id}：登录 login {username} / {password}")
    return shop_id


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
        next_id = (ctx.session.scalar(select(func.max(Order.id))) or 0) + 1
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
                        "id": next_id + n,
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
                        "order_id": next_id + n,
                        "product_id": product.id,
                        "title": product.title,
                        "qty": qty,
                        "unit_price_fen": product.price_fen,
                        "amount_fen": goods,
                    }
                )
            with rt.unit("seed") as ctx:
                # Explicit ids: no RETURNING, so the multi-row INSERTs stay batched.
                ctx.session.execute(insert(Order), order_rows)
                ctx.session.execute(insert(OrderItem), item_rows)
            if bar and task is not None:
                bar.advance(task, len(order_rows))
        if is_postgres(rt.engine):
            with rt.engine.begin() as conn:
                conn.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('orders', 'id'), max(id)) FROM orders"
                    )
                )
    finally:
        if bar:
            bar.stop()


@app.command("export")
def export_orders(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write (.csv/.xlsx)")],
    shop_id: Annotated[int, typer.Option(help="the shop whose orders to export")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="csv | xlsx")] = "csv",
    status: Annotated[str | None, typer.Option(help="订单状态, e.g. awaiting_shipment")] = None,
    order_no: Annotated[str | None, typer.Option(help="订单号")] = None,
    product: Annotated[str | None, typer.Option(help="商品 id or title part")] = None,
    buyer_name: Annotated[str | None, typer.Option(help="买家姓名 prefix")] = None,
    buyer_phone: Annotated[str | None, typer.Option(help="买家手机号 (or its last digits)")] = None,
    after_sale: Annotated[str | None, typer.Option(help="售后状态")] = None,
    violation: Annotated[str | None, typer.Option(help="none | violated | max_judged")] = None,
    created_from: Annotated[str | None, typer.Option(help="下单时间 from (Asia/Shanghai)")] = None,
    created_to: Annotated[str | None, typer.Option(help="下单时间 to (exclusive)")] = None,
) -> None:
    """O2 导出查询订单 from the command line (operator on the server: no SMS step), with the
    same filter, columns and streaming as the console export."""
    from pydantic import ValidationError

    from xiaodian.orders.export import service as orders_export
    from xiaodian.orders.schemas import OrderFilter

    raw = {
        "status": status,
        "order_no": order_no,
        "product": product,
        "buyer_name": buyer_name,
        "buyer_phone": buyer_phone,
        "after_sale": after_sale,
        "violation": violation,
        "created_from": created_from,
        "created_to": created_to,
    }
    try:
        filters = OrderFilter.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _die("筛选条件有误", f"bad filter: {details}")
    fmt = fmt.lower()
    if fmt not in ("csv", "xlsx"):
        _die("导出格式只能是 csv 或 xlsx", "format must be csv or xlsx")
    _writable_output(output)
    rt = _rt()
    _require_shop(rt, shop_id)
    part = output.with_name(output.name + ".part")
    with Progress(console=console) as bar:
        task = bar.add_task("导出订单", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        rows = orders_export.write_export(rt, shop_id, filters, fmt, part, progress=progress)
    part.replace(output)
    console.print(f"[green]✓[/] {rows} orders → {output} ({output.stat().st_size:,} bytes)")

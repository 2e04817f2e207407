"""``xiaodian`` command line: serve, demo, worker, tick, db, shop/app admin, API calls.

Each context may add its own command group in ``xiaodian/<context>/cli.py`` (a Typer app named
``app``); it is mounted here under the context's name, e.g. ``xiaodian orders export``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.clock import parse_duration
from xiaodian.config import Settings, get_settings
from xiaodian.contexts import optional_module
from xiaodian.db import is_database_unavailable
from xiaodian.errors import XiaodianError
from xiaodian.runtime import Runtime, upgrade
from xiaodian.signing import signed_headers

app = typer.Typer(
    help="小店 xiaodian — shop back office and open API. Settings come from XIAODIAN_* "
    "environment variables (see README).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
shop_app = typer.Typer(help="Create shops, accounts and API apps.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(shop_app, name="shop")
console = Console()

CONTEXT_CLIS = ("orders", "aftersales", "redpackets", "luckybags", "coupons")


def _runtime(settings: Settings | None = None) -> Runtime:
    return Runtime.create(settings or get_settings())


def _fail(exc: XiaodianError) -> None:
    console.print(f"[red]✗ {exc.message_zh}[/]  ({exc.message_en})")
    for item in exc.errors:
        console.print(
            f"  - {item.get('field')}: {item.get('message_zh')} / {item.get('message_en')}"
        )
    raise typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to XIAODIAN_DATABASE_URL (safe to run again)."""
    settings = get_settings()
    from xiaodian.db import make_engine

    upgrade(make_engine(settings.database_url))
    console.print(f"[green]✓[/] schema is current on {settings.database_url}")


@app.command("config")
def show_config(
    markdown: Annotated[bool, typer.Option(help="print a Markdown table (as in README)")] = False,
) -> None:
    """Print every setting: environment variable, current value, meaning."""
    from xiaodian.config import describe

    rows = [
        (variable, "(set)" if variable.endswith("SECRET_KEY") and value else str(value), meaning)
        for variable, value, meaning in describe(get_settings())
    ]
    if markdown:
        print("| variable | default | meaning |\n| --- | --- | --- |")
        for variable, value, meaning in rows:
            print(f"| `{variable}` | `{value}` | {meaning} |")
        return
    table = Table("variable", "value", "meaning")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    with_worker: Annotated[bool, typer.Option(help="also run the scheduler in-process")] = True,
) -> None:
    """Run the API and console (migrates the database first)."""
    settings = get_settings()
    _serve(_runtime(settings), host or settings.host, port or settings.port, with_worker)


def _serve(rt: Runtime, host: str, port: int, with_worker: bool) -> None:
    import threading

    import uvicorn

    from xiaodian.api.app import create_app

    if with_worker:
        thread = threading.Thread(
            target=_worker_forever, args=(rt,), name="xiaodian-worker", daemon=True
        )
        thread.start()
    uvicorn.run(create_app(rt), host=host, port=port, log_level="info")


def _worker_forever(rt: Runtime) -> None:
    """``serve``'s in-process worker: the same loop as ``xiaodian worker``, which retries a
    failing tick with back-off (W2)."""
    scheduler.worker_loop(rt, console=Console(stderr=True))


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="run one tick and exit")] = False,
) -> None:
    """Run every context's sweeps on each tick (XIAODIAN_TICK_SECONDS) and the jobs (webhooks).
    A failing tick (database restarting or unreachable) is retried with back-off (W2)."""
    scheduler.worker_loop(_worker_runtime(), once=once, console=console)


def _worker_runtime() -> Runtime:
    """W2: a worker started while the database is down waits for it instead of exiting."""
    settings = get_settings()
    backoff = settings.worker.min_backoff_seconds
    while True:
        try:
            return _runtime(settings)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            console.log(f"[red]database unavailable[/]: {exc!r}; retrying in {backoff:.1f} s")
            time.sleep(backoff)
            backoff = min(backoff * 2, settings.worker.max_backoff_seconds)


@app.command()
def tick(
    advance: Annotated[
        str | None, typer.Option(help="simulated clock only: move time forward, e.g. 90s, 6h, 1d")
    ] = None,
) -> None:
    """Run one tick now, or advance the simulated clock and run every sweep due on the way."""
    rt = _runtime()
    try:
        if advance:
            seconds = parse_duration(advance)
            with console.status(f"advancing {advance} …"):
                report = scheduler.advance(rt, seconds)
        else:
            report = scheduler.run_tick(rt)
    except XiaodianError as exc:
        _fail(exc)
        return
    except ValueError as exc:
        console.print(f"[red]✗ {exc}[/]")
        raise typer.Exit(2) from exc
    console.print(f"now = {report.now.isoformat()}  ticks = {report.ticks}")
    for name, counts in report.counts.items():
        console.print(f"  {name}: {counts}")


@app.command()
def simulate(
    days: Annotated[int, typer.Option(min=1, max=400, help="how many days to replay")] = 10,
    step: Annotated[str, typer.Option(help="report granularity, e.g. 1d, 6h")] = "1d",
) -> None:
    """Simulated clock only: replay DAYS of platform rules, a row per step of what each rule
    did (judgments, deductions, expiries, reminders, reviews, …)."""
    from rich.progress import Progress

    rt = _runtime()
    try:
        seconds = parse_duration(step)
    except ValueError as exc:
        console.print(f"[red]✗ {exc}[/]")
        raise typer.Exit(2) from exc
    if seconds <= 0:
        console.print("[red]✗ --step must be positive[/]")
        raise typer.Exit(2)
    steps = max(1, (days * 86400) // seconds)
    table = Table("until (Asia/Shanghai)", "ticks", "what the rules did")
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"replaying {days} days", total=steps)
            for _ in range(steps):
                report = scheduler.advance(rt, seconds)
                table.add_row(_local(rt, report.now), str(report.ticks), _summary(report.counts))
                progress.advance(task)
    except XiaodianError as exc:
        _fail(exc)
    console.print(table)


def _local(rt: Runtime, when: Any) -> str:
    from xiaodian.clock import to_local

    return str(to_local(when, rt.settings.timezone).strftime("%Y-%m-%d %H:%M"))


def _summary(counts: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{name} {key}={value}"
        for name, values in counts.items()
        for key, value in values.items()
        if value
    ]
    return "; ".join(parts) or "—"


@shop_app.command("create")
def shop_create(
    name: Annotated[str, typer.Option(help="shop name")],
    username: Annotated[str, typer.Option(help="main account login")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="≥ 8 characters")],
    phone: Annotated[str, typer.Option(help="main account phone (for verification codes)")] = "",
    douyin_account: Annotated[
        str | None, typer.Option(help="人店一体: bound Douyin account")
    ] = None,
) -> None:
    """Create a shop with its main account (主账号)."""
    rt = _runtime()
    try:
        with rt.unit("cli") as ctx:
            shop, user = accounts.create_shop(
                ctx,
                name=name,
                username=username,
                password=password,
                phone=phone,
                douyin_account=douyin_account,
            )
            console.print(f"[green]✓[/] shop #{shop.id} {shop.name}, main account {user.username}")
    except XiaodianError as exc:
        _fail(exc)


@shop_app.command("app")
def shop_app_create(
    shop_id: Annotated[int, typer.Option(help="shop id")],
    name: Annotated[str, typer.Option(help="app name, e.g. the ERP's")] = "ERP",
) -> None:
    """Create an open-API app for a shop and print its app_key and secret."""
    rt = _runtime()
    try:
        with rt.unit("cli") as ctx:
            accounts.get_shop(ctx.session, shop_id)
            api_app = accounts.create_app(ctx, shop_id, name)
            console.print(f"app_key = {api_app.app_key}\nsecret  = {api_app.secret}")
    except XiaodianError as exc:
        _fail(exc)


@shop_app.command("list")
def shop_list() -> None:
    """List shops with their main account."""
    from sqlalchemy import select

    from xiaodian.accounts.models import Shop, User

    rt = _runtime()
    table = Table("id", "name", "main account", "人店一体")
    with rt.unit("cli") as ctx:
        rows = ctx.session.execute(
            select(Shop, User)
            .join(User, (User.shop_id == Shop.id) & User.is_main)
            .order_by(Shop.id)
        )
        for shop, user in rows:
            table.add_row(str(shop.id), shop.name, user.username, shop.douyin_account or "—")
    console.print(table)


@app.command("call")
def api_call(
    method: Annotated[str, typer.Argument(help="GET, POST, PATCH …")],
    path: Annotated[str, typer.Argument(help="e.g. /api/v1/funds")],
    app_key: Annotated[str, typer.Option(envvar="XIAODIAN_APP_KEY")],
    secret: Annotated[str, typer.Option(envvar="XIAODIAN_APP_SECRET")],
    body: Annotated[str | None, typer.Option(help="JSON body")] = None,
    base_url: Annotated[str, typer.Option(help="server")] = "http://127.0.0.1:8000",
) -> None:
    """Send one signed open-API request and print the JSON answer (an ERP client in a line)."""
    raw = b""
    if body:
        try:
            raw = json.dumps(json.loads(body), ensure_ascii=False).encode()
        except json.JSONDecodeError as exc:
            console.print(f"[red]✗ --body is not valid JSON: {exc}[/]")
            raise typer.Exit(2) from exc
    headers = signed_headers(app_key, secret, method, path, raw)
    headers["Content-Type"] = "application/json"
    response = httpx.request(method.upper(), base_url + path, content=raw, headers=headers)
    console.print_json(response.text) if response.text else console.print(response.status_code)
    if response.status_code >= 400:
        raise typer.Exit(1)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the server")
    ] = True,
    reset: Annotated[bool, typer.Option(help="delete the demo database first")] = False,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """Create a demo shop with realistic data on the embedded SQLite, then serve the console."""
    from xiaodian import demo as demo_data

    settings = get_settings()
    if reset and settings.database_url.startswith("sqlite:///"):
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    rt = _runtime(settings)
    info = demo_data.ensure_demo(rt, console=console)
    host, port = host or settings.host, port or settings.port
    console.rule("小店 demo")
    console.print(f"控制台 console : http://{host}:{port}/console/")
    console.print(f"登录 login     : {info['username']} / {info['password']}")
    console.print(f"子账号 sub     : {info['sub_username']} / {info['password']}")
    console.print(f"开放平台 API   : app_key={info['app_key']} secret={info['secret']}")
    console.print(f"API docs       : http://{host}:{port}/docs")
    if serve_after:
        _serve(rt, host, port, with_worker=True)


def _mount_context_clis() -> None:
    for name in CONTEXT_CLIS:
        module = optional_module(f"xiaodian.{name}.cli")
        if module is not None:
            app.add_typer(module.app, name=name)
    orders_cli = optional_module("xiaodian.orders.cli")
    if orders_cli is not None:  # `xiaodian seed --orders 1000000`, as the benchmarks say it
        app.command("seed")(orders_cli.seed)


_mount_context_clis()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

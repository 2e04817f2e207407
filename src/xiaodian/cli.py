"""``xiaodian`` command line: serve, demo, worker, tick, db, shop/app admin, API calls.

Each context may add its own command group in ``xiaodian/<context>/cli.py`` (a Typer app named
``app``); it is mounted here under the context's name, e.g. ``xiaodian orders export``.

K5 (issue 14): importing this module costs Typer and nothing else. Every command imports what
it needs when it runs, and the contexts' groups are mounted lazily — ``xiaodian --help`` lists
them from ``CONTEXT_CLIS`` without importing them — so ``--help``, ``--version``, ``config``
and ``call`` start in a fraction of a second, and ``tick`` pays only for SQLAlchemy, the models
and its sweeps — or, when a simulated server is up and an app with the simulation scope is
configured, asks that server to advance and imports none of them (``bench/cli_startup.py``,
docs/benchmarks.md). None of the fast commands imports pydantic: Typer's conversions of plain
values are done directly (``_convert_plainly``), ``config`` and ``call`` read the settings
through ``config_light``, help renders without Rich's Markdown and traceback modules
(``_import_help_renderer``), ``call`` and ``tick`` speak HTTP through ``http_light``.

K6: bad settings, bad arguments, unreachable servers, missing files and refused operations
are answered with one bilingual line on stderr and a non-zero exit, never a traceback
(``_Commands.main``). K7: readable output — ``config`` in 80 columns, ``tick`` and
``worker --once`` print tables in local time, ``demo --no-serve`` prints no URL, a taken port
fails before the banner. Rules cited in messages link to docs/rules.md (K1).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from xiaodian.accounts.scopes import APP_SCOPES, DEFAULT_APP_SCOPES
from xiaodian.contexts import CONTEXTS

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console
    from rich.table import Table

    from xiaodian.config import Settings
    from xiaodian.config_light import Row as SettingRow
    from xiaodian.errors import XiaodianError
    from xiaodian.runtime import Runtime
    from xiaodian.scheduler import TickReport

# The contexts' command groups, with the line ``xiaodian --help`` shows for each (listed
# without importing them, K5), as xiaodian.contexts.CONTEXTS declares them (M4); a group may
# be named otherwise than its context (``cli_group``).
CONTEXT_CLIS: dict[str, str] = {
    ctx.cli_group or ctx.name: ctx.cli for ctx in CONTEXTS if ctx.cli is not None
}
# A group named otherwise than its context: name → context.
GROUP_CONTEXTS: dict[str, str] = {
    ctx.cli_group: ctx.name for ctx in CONTEXTS if ctx.cli_group is not None
}
# Top-level shortcuts into a context's group: name → (context, command, help line).
SHORTCUTS: dict[str, tuple[str, str, str]] = {
    # `xiaodian seed --orders 1000000`, as the benchmarks say it
    "seed": ("orders", "seed", "Bulk-insert orders for benchmarks (= xiaodian orders seed)."),
}
RULES_DOC = "docs/rules.md"


def _present(context: str) -> bool:
    context = GROUP_CONTEXTS.get(context, context)
    return (Path(__file__).parent / context / "cli.py").is_file()


def _load(name: str) -> Any:
    """The click command for a lazily mounted group or shortcut (imports its module)."""
    if name in SHORTCUTS:
        context, command, _help = SHORTCUTS[name]
        module = importlib.import_module(f"xiaodian.{context}.cli")
        single = typer.Typer(add_completion=False)
        single.command(name)(getattr(module, command))
        return typer.main.get_command(single)
    module = importlib.import_module(f"xiaodian.{GROUP_CONTEXTS.get(name, name)}.cli")
    group = typer.main.get_group(module.app)
    group.name = name
    return group


# ----- K5: Typer without pydantic, help without Markdown -------------------------------------

_UNSURE = object()
_DECIMAL = r"-?(?:0|[1-9][0-9]{0,17})"


def _plain_value(annotation: Any, info: Any, value: Any) -> Any:
    """``value`` converted to a plain ``str``/``bool``/``int`` parameter exactly as Typer's
    pydantic adapter would, when that is certain; _UNSURE otherwise."""
    import re

    if annotation is str and isinstance(value, str):
        return value
    if annotation is bool:
        if type(value) is bool:
            return value
        if isinstance(value, str):
            return {"true": True, "false": False, "1": True, "0": False}.get(value.strip(), _UNSURE)
        return _UNSURE
    if annotation is int and not info.clamp:
        if isinstance(value, str) and re.fullmatch(_DECIMAL, value):
            value = int(value)
        if type(value) is not int:
            return _UNSURE
        low, high = info.min, info.max
        if (low is not None and value < low) or (high is not None and value > high):
            return _UNSURE  # Typer's adapter words the refusal
        return value
    return _UNSURE


def _convert_plainly() -> None:
    """K5: Typer 0.29 converts every parameter value through a pydantic ``TypeAdapter`` it
    builds on first use (``typer.core`` calls ``build_runtime_param``) — importing pydantic
    (≈ 0.15 s) for ``call GET /healthz``, for ``tick``, even for the default of the root's
    ``--install-completion`` and of every ``--help``. The parameters of this CLI's fast
    commands are plain ``str``, ``bool`` and ``int``: their values convert directly (to the
    same value); any other value, and any other parameter, still goes through Typer's adapter
    (the same conversion and the same error). A Typer that converts otherwise is left as is."""
    core = sys.modules.get("typer.core")
    full: Any = getattr(core, "build_runtime_param", None)
    if full is None or getattr(full, "plain", False):
        return
    try:
        from typer._coercion import RuntimeParam
    except ImportError:
        return

    class PlainParam(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            plain = _plain_value(self.annotation, self.parameter_info, value)
            if plain is not _UNSURE:
                return plain
            return full(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)

    def build(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        if (
            descriptor.annotation in (str, bool, int)
            and descriptor.file_annotation is None
            and info.parser is None
            and getattr(info, "click_type", None) is None
        ):
            return PlainParam(parameter_info=info, annotation=descriptor.annotation)
        return full(descriptor)

    build.plain = True  # type: ignore[attr-defined]
    core.build_runtime_param = build  # type: ignore[union-attr]


def _import_help_renderer() -> None:
    """K5: Typer renders help with ``typer.rich_utils``, which imports ``rich.markdown``
    (markdown-it, Pygments) and ``rich.traceback`` (attrs) at its top — ≈ 0.1 s — for help
    written in Markdown (this CLI's markup is Rich's) and for pretty tracebacks (off here).
    Import it with those two modules standing in: any name taken from them is the real one,
    loaded then, except ``Markdown`` and ``Traceback``, which load theirs when called."""
    if "typer.rich_utils" in sys.modules:
        return
    import types

    def deferred(module: str, name: str) -> type:
        def real() -> Any:
            return getattr(importlib.import_module(module), name)

        class Deferred(type):
            def __getattr__(cls, attr: str) -> Any:
                return getattr(real(), attr)

        def create(cls: type, *args: Any, **kwargs: Any) -> Any:
            return real()(*args, **kwargs)

        return Deferred(name, (), {"__new__": create, "__module__": module})

    stand_ins: dict[str, types.ModuleType] = {}
    for module, name in (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback")):
        if module in sys.modules:
            continue
        stand_in = types.ModuleType(module)
        lazy = deferred(module, name)

        def attribute(attr: str, module: str = module, name: str = name, lazy: type = lazy) -> Any:
            if attr == name:
                return lazy
            if attr.startswith("__"):  # the import system asking (__path__, …)
                raise AttributeError(attr)
            if sys.modules.get(module) is stand_ins.get(module):
                del sys.modules[module]  # the real module from now on
            return getattr(importlib.import_module(module), attr)

        stand_in.__getattr__ = attribute  # type: ignore[method-assign]
        stand_ins[module] = stand_in
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("typer.rich_utils")
    except Exception:  # a Typer this does not fit: it imports its renderer itself, later
        sys.modules.pop("typer.rich_utils", None)
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]
            package = sys.modules.get("rich")
            if package is not None and vars(package).get(module.rpartition(".")[2]) is stand_in:
                delattr(package, module.rpartition(".")[2])


class _Commands(TyperGroup):
    """The top-level group: the commands below plus the contexts' groups, imported only when
    one of them runs (K5), and one bilingual line for every error a user can cause (K6)."""

    _listing = False

    def _lazy(self) -> dict[str, str]:
        found = {name: text for name, text in CONTEXT_CLIS.items() if _present(name)}
        found.update({name: text for name, (ctx, _c, text) in SHORTCUTS.items() if _present(ctx)})
        return found

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(super().list_commands(ctx))
        return names + [name for name in self._lazy() if name not in names]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        lazy = self._lazy()
        if command is not None or cmd_name not in lazy:
            return command
        if self._listing:  # help lists the group by its line, without importing it
            return TyperCommand(cmd_name, help=lazy[cmd_name])
        command = _load(cmd_name)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _import_help_renderer()
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        _convert_plainly()
        given = sys.argv[1:] if args is None else list(args)
        if not given or "-h" in given or "--help" in given:
            _import_help_renderer()  # a help page will be shown: render it cheaply (K5)
        if not standalone_mode:
            return super().main(
                args=args, prog_name=prog_name, complete_var=complete_var,
                standalone_mode=False, **extra,
            )  # fmt: skip
        try:
            code = super().main(
                args=args, prog_name=prog_name or "xiaodian", complete_var=complete_var,
                standalone_mode=False, **extra,
            )  # fmt: skip
        except Exception as exc:  # known kinds become one line; anything else is a bug
            code = _answer(exc)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Commands,
    help="小店 xiaodian — shop back office and open API. Settings come from XIAODIAN_* "
    "environment variables (xiaodian config); the rules are in docs/rules.md.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
shop_app = typer.Typer(help="Create shops, accounts and API apps.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(shop_app, name="shop")


def version() -> str:
    """The installed distribution's version."""
    found = _metadata_version()
    if found is not None:
        return found
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("xiaodian")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _metadata_version() -> str | None:
    """K5: the version in the ``METADATA`` of the first ``xiaodian-*.dist-info`` on
    ``sys.path`` — where ``importlib.metadata`` finds it — without importing that (≈ 0.05 s
    of ``email`` and ``zipfile``). None when anything is unusual (an egg, two candidates)."""
    import re

    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found = [n for n in names if re.fullmatch(r"xiaodian(-[^-]*)?\.(dist|egg)-info", n, re.I)]
        if not found:
            continue
        if len(found) != 1 or not found[0].endswith(".dist-info"):
            return None
        try:
            with open(os.path.join(entry or ".", found[0], "METADATA"), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Version:"):
                        return line.partition(":")[2].strip()
                    if not line.strip():  # the headers end here
                        return None
        except OSError:
            return None
        return None
    return None


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"xiaodian {version()}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """小店 xiaodian — shop back office and open API."""


# ----- output and errors ---------------------------------------------------------------------


_consoles: dict[bool, Console] = {}


def _console(stderr: bool = False) -> Console:
    if stderr not in _consoles:
        from rich.console import Console

        _consoles[stderr] = Console(stderr=stderr)
    return _consoles[stderr]


def _error(zh: str, en: str) -> None:
    """One bilingual line on stderr (K6): ``✗ 中文（English）``, never wrapped."""
    typer.secho(f"✗ {zh}（{en}）", err=True, fg="red")


def _die(zh: str, en: str, code: int = 2) -> NoReturn:
    _error(zh, en)
    raise typer.Exit(code)


def _rule_link(rule: str | None) -> str:
    return f" — {RULES_DOC}#{rule.lower().replace('.', '-')}" if rule else ""


def _fail(exc: XiaodianError) -> NoReturn:
    typer.secho(f"✗ {exc.message_zh}（{exc.message_en}）{_rule_link(exc.rule)}", err=True, fg="red")
    for item in exc.errors:
        typer.secho(
            f"  - {item.get('field')}: {item.get('message_zh')} / {item.get('message_en')}",
            err=True,
            fg="red",
        )
    raise typer.Exit(code=2)


def _settings_error(exc: Any) -> None:
    parts = []
    for error in exc.errors():
        variable = "XIAODIAN_" + "__".join(str(part).upper() for part in error["loc"])
        parts.append(f"{variable}={error.get('input')!r}: {error['msg']}")
    _error(
        "环境变量中的设置无效：" + "；".join(p.split(":")[0] for p in parts),
        "bad setting: " + "; ".join(parts) + " — see xiaodian config",
    )


def _answer(exc: Exception) -> int:
    """K6: the one line for an error a user can cause, and the exit code; re-raises the rest."""
    click_errors = sys.modules[typer.BadParameter.__module__]
    if isinstance(exc, click_errors.ClickException):
        if type(exc).__name__ == "NoArgsIsHelpError":  # help was asked for by giving nothing
            message = exc.format_message()
            if message.strip():
                typer.echo(message)
            return 0
        if isinstance(exc, click_errors.UsageError):
            ctx = getattr(exc, "ctx", None)
            path = ctx.command_path if ctx is not None else "xiaodian"
            _error(f"参数有误，用法见 {path} -h", f"bad argument: {exc.format_message()}")
            return int(exc.exit_code)
        _error("命令失败", exc.format_message())
        return int(exc.exit_code)
    if isinstance(exc, typer.Abort):
        _error("已取消", "aborted")
        return 1
    from xiaodian.errors import XiaodianError

    if isinstance(exc, XiaodianError):
        try:
            _fail(exc)
        except typer.Exit as done:
            return done.exit_code
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        if exc.title == "Settings":
            _settings_error(exc)
        else:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            _error("输入有误", f"invalid input: {details}")
        return 2
    from zoneinfo import ZoneInfoNotFoundError

    if isinstance(exc, ZoneInfoNotFoundError):
        _error(
            "XIAODIAN_TIMEZONE 不是有效的时区，例如 Asia/Shanghai",
            f"bad setting XIAODIAN_TIMEZONE: {exc}",
        )
        return 2
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None:
        if isinstance(exc, sqlalchemy_exc.ArgumentError):
            _error(
                "XIAODIAN_DATABASE_URL 无效",
                f"bad setting XIAODIAN_DATABASE_URL: {str(exc).splitlines()[0]}",
            )
            return 2
        if isinstance(exc, sqlalchemy_exc.DBAPIError):
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            _error(
                "数据库无法使用，请检查 XIAODIAN_DATABASE_URL",
                f"database error: {reason}",
            )
            return 2
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        _error("文件或网络操作失败", f"{where}{exc.strerror or exc}")
        return 2
    raise exc


# ----- commands ------------------------------------------------------------------------------


def _settings() -> Settings:
    from xiaodian.config import get_settings

    return get_settings()


def _current_settings() -> tuple[list[SettingRow], list[SettingRow]]:
    """K5: every setting's current value and its default, as ``describe`` gives them — read
    by ``config_light`` without pydantic when it is sure of the environment, else from
    ``Settings`` (whose error on a bad value is the one shown, K6); the slow path keeps the
    catalogue for the next command."""
    from xiaodian import config_light

    catalogue = config_light.load()
    current = config_light.read(catalogue) if catalogue is not None else None
    if catalogue is not None and current is not None:
        defaults = config_light.read(catalogue, {})
        assert defaults is not None  # the defaults need nothing from the environment
        return current, defaults
    from xiaodian.config import Settings, describe

    settings = _settings()
    if catalogue is None:
        with contextlib.suppress(Exception):  # only a cache: the command stands without it
            config_light.store()

    def rows(model: Any) -> list[SettingRow]:
        return [config_light.Row(v, str(x), bool(x), m) for v, x, m in describe(model)]

    return rows(settings), rows(Settings.model_construct())


def _runtime(settings: Settings | None = None) -> Runtime:
    from xiaodian.runtime import Runtime

    return Runtime.create(settings or _settings())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to XIAODIAN_DATABASE_URL (safe to run again)."""
    from xiaodian.db import make_engine
    from xiaodian.runtime import upgrade

    settings = _settings()
    upgrade(make_engine(settings.database_url), force=True)
    typer.echo(f"✓ schema is current on {settings.database_url}")


@app.command("config")
def show_config(
    markdown: Annotated[bool, typer.Option(help="print a Markdown table (as in README)")] = False,
) -> None:
    """Print every setting: environment variable, current value, meaning."""
    current = _current_settings()
    defaults = {row.variable: row.shown for row in current[1]}
    rows = [
        (row.variable, "(set)" if _is_set_secret(row) else row.shown, row.meaning)
        for row in current[0]
    ]
    if markdown:
        print("| variable | default | meaning |\n| --- | --- | --- |")
        for variable, value, meaning in rows:
            print(f"| `{variable}` | `{value}` | {meaning} |")
        return
    for line in config_lines(rows, defaults):
        print(line)


@app.command("errors")
def show_errors(
    markdown: Annotated[
        bool, typer.Option(help="print docs/errors.md (the catalogue page) instead of a list")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")
    ] = None,
) -> None:
    """List every stable error code (K4): code, HTTP status, context, rule.

    ``xiaodian errors --markdown -o docs/errors.md`` regenerates the catalogue page."""
    from xiaodian.error_catalogue import registries, render_markdown

    if markdown:
        text = render_markdown()
    else:
        rows = [
            f"{entry.code:<34} {entry.status:>3}  {registry.context:<10} {entry.rule or ''}"
            for registry in registries()
            for entry in sorted(registry.codes, key=lambda e: e.code)
        ]
        text = "\n".join(rows) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"✓ wrote {output}", err=True)


def config_lines(
    rows: list[tuple[str, str, str]], defaults: Mapping[str, object], width: int | None = None
) -> list[str]:
    """K7: ``VARIABLE = value`` with the meaning wrapped and indented below it, a blank line
    between groups — readable in 80 columns (a table cut 59 of 66 names)."""
    import shutil

    width = width or max(60, shutil.get_terminal_size((80, 24)).columns)
    lines = [
        "Settings (environment variables; groups nest with __, e.g. "
        "XIAODIAN_ORDERS__SHIP_WITHIN_HOURS=72).",
        "设置项来自环境变量；标 * 的值不是默认值。",
    ]
    group = None
    for variable, value, meaning in rows:
        this_group = variable.split("__")[0] if "__" in variable else ""
        if this_group != group:
            lines.append("")
            group = this_group
        changed = variable in defaults and str(defaults[variable]) != value
        mark = f"  * (default {defaults[variable]})" if changed else ""
        lines.append(f"{variable} = {value}{mark}")
        lines.extend(_wrap_columns(meaning, width, "    "))
    return lines


def _wrap_columns(text: str, width: int, indent: str) -> list[str]:
    """Wrap by terminal columns: a Chinese character takes two (textwrap counts one, and the
    settings' Chinese descriptions overflowed 80 columns)."""
    import re
    import unicodedata

    def columns(part: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in part)

    wide = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
    lines: list[str] = []
    current, used = indent, columns(indent)  # the line so far and its width (K5: not recounted)
    for token in re.findall(rf"[{wide}]|[^\s{wide}]+|\s+", text):
        if token.isspace():
            if current.strip():
                current, used = current + " ", used + 1
            continue
        size = columns(token)
        if current.strip() and used + size > width:
            lines.append(current.rstrip())
            current, used = indent, columns(indent)
        current, used = current + token, used + size
    if current.strip():
        lines.append(current.rstrip())
    return lines


def _port_free_or_die(host: str, port: int) -> None:
    """K7: a taken port fails before the banner (and before any data is written)."""
    import socket

    if not 0 < port < 65536:
        _die(f"端口 {port} 无效（1–65535）", f"port {port} is not between 1 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        _die(f"无法解析地址 {host}", f"cannot resolve host {host!r}: {exc.strerror}")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            _die(
                f"端口 {port} 已被占用或不可用，请换一个：--port 或 XIAODIAN_PORT",
                f"cannot listen on {host}:{port}: {exc.strerror}; choose another with --port "
                "or XIAODIAN_PORT",
            )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port", min=1, max=65535)] = None,
    with_worker: Annotated[bool, typer.Option(help="also run the scheduler in-process")] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="HTTP worker processes (the scheduler still runs in one place only: this "
            "supervising process)",
        ),
    ] = 1,
) -> None:
    """Run the API and console (migrates the database first)."""
    settings = _settings()
    host, port = host or settings.host, port or settings.port
    _port_free_or_die(host, port)
    _serve(_runtime(settings), host, port, with_worker, workers=workers)


def _serve(rt: Runtime, host: str, port: int, with_worker: bool, workers: int = 1) -> None:
    """Issue 16: with ``workers`` > 1, uvicorn's supervisor spawns that many processes, each
    building its own app and pool from the same settings (``create_app`` as a factory); the
    scheduler (sweeps and jobs) runs in this supervising process only, in a thread with an
    engine of its own, so the sweeps run once per tick whatever the number of HTTP workers
    (and, on PostgreSQL, each sweep still takes its advisory lock against any separate
    ``xiaodian worker``). With one worker the app runs in this process beside the thread."""
    import threading

    import uvicorn

    _check_bind(rt, host)
    if with_worker:
        thread = threading.Thread(
            target=_worker_forever, args=(rt,), name="xiaodian-worker", daemon=True
        )
        thread.start()
    if workers > 1:
        uvicorn.run(
            "xiaodian.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
        )
        return
    from xiaodian.api.app import create_app

    uvicorn.run(create_app(rt), host=host, port=port, log_level="info")


def _check_bind(rt: Runtime, host: str) -> None:
    """S3: no simulated clock beyond loopback unless allowed — one bilingual line, exit 2."""
    from xiaodian.api.bind import PublicSimulatedClock, check_bind

    try:
        check_bind(rt.settings, host, simulated=rt.simulated)
    except PublicSimulatedClock as exc:
        _console(stderr=True).print(f"[red]✗ {exc}[/]", soft_wrap=True, highlight=False)
        raise typer.Exit(code=2) from exc


def _worker_forever(rt: Runtime) -> None:
    """``serve``'s in-process worker: the same loop as ``xiaodian worker``, which retries a
    failing tick with back-off (W2). Its own engine (W5): the app's pool is exactly as large
    as the requests it admits, so a sweep never takes a request's connection."""
    from xiaodian import scheduler
    from xiaodian.clock import SimulatedClock
    from xiaodian.runtime import Runtime

    own = Runtime.create(rt.settings, migrate=False)
    own.clock = SimulatedClock(own.engine) if rt.simulated else rt.clock
    scheduler.worker_loop(own, console=_console(stderr=True))


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="run one tick, print what it did, exit")] = False,
) -> None:
    """Run every context's sweeps on each tick (XIAODIAN_TICK_SECONDS) and the jobs (webhooks).
    A failing tick (database restarting or unreachable) is retried with back-off (W2)."""
    from xiaodian import scheduler

    if not once:
        scheduler.worker_loop(_worker_runtime(), console=_console())
        return
    rt = _runtime()
    report = scheduler.run_tick(rt)
    jobs = scheduler.run_jobs(rt)
    table = _table("sweep / job", "what it did")
    for name, counts in {**report.counts, **jobs}.items():
        table.add_row(name, _counts(counts))
    _console().print(f"one tick at {_local(rt, report.now)} ({rt.settings.timezone})")
    _console().print(table)


def _table(*columns: str) -> Table:
    from rich.table import Table

    return Table(*columns)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}={value}" for key, value in counts.items() if value) or "—"


def _worker_runtime() -> Runtime:
    """W2: a worker started while the database is down waits for it instead of exiting."""
    from xiaodian.db import is_database_unavailable

    settings = _settings()
    backoff = settings.worker.min_backoff_seconds
    while True:
        try:
            return _runtime(settings)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            _console(stderr=True).log(
                f"[red]database unavailable[/]: {exc!r}; retrying in {backoff:.1f} s"
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, settings.worker.max_backoff_seconds)


@app.command()
def tick(
    advance: Annotated[
        str | None, typer.Option(help="simulated clock only: move time forward, e.g. 90s, 6h, 1d")
    ] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="run the sweeps in this process even when a simulated server is up",
        ),
    ] = False,
) -> None:
    """Run one tick now, or advance the simulated clock and run every sweep due on the way.

    When the server XIAODIAN_HOST / XIAODIAN_PORT name runs on a simulated clock and
    XIAODIAN_APP_KEY / XIAODIAN_APP_SECRET name an app with the simulation scope, the server
    does it (signed POST /sim/clock/advance) and this command starts in a fraction of a second
    (K5); otherwise, or with --local, it runs the sweeps itself."""
    from xiaodian.durations import parse_duration

    seconds = None
    if advance:
        try:
            seconds = parse_duration(advance)
        except ValueError as exc:
            _die(f"时长无效：{advance}，例如 90s、15m、6h、1d", str(exc))
        if seconds < 0:
            _die("时长不能为负", "the duration must not be negative")
    server = None if local else _probe_server()
    if server is not None:
        base, clock = server
        if clock == "system" and seconds is not None:
            _refuse_system_server(base)
        credentials = _app_credentials()
        asked = clock == "simulated" and credentials is not None
        if asked and _tick_on_server(base, credentials or ("", ""), seconds or 0):
            return
    from xiaodian import scheduler

    rt = _runtime()
    start = rt.clock.now()
    if seconds is not None:
        if local:  # not probed above
            _refuse_if_server_ignores(rt)
        with _console().status(f"advancing {advance} …"):
            report = scheduler.advance(rt, seconds)
    else:
        report = scheduler.run_tick(rt)
    _console().print(_report_table(rt, start, report))


# K5: what ``tick`` needs to find the server without importing pydantic-settings — the same
# environment variables and defaults as ``Settings`` (tests/test_K5_tick_via_server.py holds
# them equal).
LIGHT_DEFAULTS = {"host": "127.0.0.1", "port": "8000", "timezone": "Asia/Shanghai"}


def _light_setting(name: str) -> str:
    return os.environ.get(f"XIAODIAN_{name.upper()}", LIGHT_DEFAULTS[name])


def _server_url(host: str, port: int | str) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def _probe_server() -> tuple[str, str] | None:
    """(base URL, "simulated" | "system") of our server answering ``/healthz`` where
    XIAODIAN_HOST / XIAODIAN_PORT say; None when nothing of ours listens there."""
    base = _server_url(_light_setting("host"), _light_setting("port"))
    clock = _probe_server_at(base)
    return (base, clock) if clock in ("simulated", "system") else None


def _app_credentials() -> tuple[str, str] | None:
    key = os.environ.get("XIAODIAN_APP_KEY", "")
    secret = os.environ.get("XIAODIAN_APP_SECRET", "")
    return (key, secret) if key and secret else None


def _tick_on_server(base: str, credentials: tuple[str, str], seconds: int) -> bool:
    """K5: the running simulated server advances its clock and runs the sweeps (the same
    ``scheduler.advance`` as ``POST /sim/clock/advance``, signed like ``call``); this process
    only prints the report. False (after a note on stderr) when the server refuses the app
    (401/403: nothing was done there) — the caller then runs the tick itself."""
    from datetime import datetime, timedelta
    from urllib.parse import urlsplit
    from zoneinfo import ZoneInfo

    from xiaodian import http_light
    from xiaodian.signing import signed_headers

    path = "/sim/clock/advance"
    raw = json.dumps({"seconds": seconds}).encode()
    headers = signed_headers(*credentials, "POST", path, raw)
    headers["Content-Type"] = "application/json"
    parts = urlsplit(base)
    host = parts.hostname or "127.0.0.1"
    try:
        status, answer = http_light.request(
            host, parts.port or 80, "POST", path, raw, headers, timeout=600
        )
    except OSError as exc:
        _die(f"无法连接服务器 {base}", f"cannot reach {base}: {exc}")
    text = answer.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        body = {}
    zh = body.get("message_zh") if isinstance(body, dict) else None
    en = body.get("message_en") if isinstance(body, dict) else None
    if status in (401, 403):
        typer.secho(
            f"· 服务器未接受该应用的模拟控制请求（{status}），改为在本进程运行"
            f"（{en or 'refused'}; running the tick in this process）",
            err=True,
            fg="yellow",
        )
        return False
    if status != 200 or not isinstance(body, dict) or "now" not in body:
        _die(
            f"{base} 未能快进（{status}）：{zh or text[:200]}",
            f"{base} did not advance ({status}): {en or text[:200]}",
        )
    tz = ZoneInfo(_light_setting("timezone"))
    until = datetime.fromisoformat(body["now"])
    start = until - timedelta(seconds=seconds)

    def local(when: datetime) -> str:
        return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    table = _table(f"from → until ({tz.key})", "ticks", "what the rules did")
    table.add_row(
        f"{local(start)} → {local(until)}", str(body.get("ticks", "")), _summary(body["sweeps"])
    )
    _console().print(table)
    _console().print(f"(by the server at {base})", style="dim", highlight=False)
    return True


def _refuse_system_server(base: str) -> NoReturn:
    _die(
        f"{base} 上运行的服务器使用系统时钟，不会理会模拟时钟的快进；"
        "请先用 XIAODIAN_CLOCK_MODE=simulated 重启它（或 xiaodian demo --simulated）",
        f"the server running at {base} uses the system clock and "
        "would ignore this advance; restart it with XIAODIAN_CLOCK_MODE=simulated "
        "(or xiaodian demo --simulated)",
    )


def _refuse_if_server_ignores(rt: Runtime) -> None:
    """U7: moving the simulated clock (the ``sim_clock`` row) means nothing to a server that
    runs on the system clock — its console and sweeps would go on at wall time. When the
    server this installation is configured for (XIAODIAN_HOST / XIAODIAN_PORT) answers
    ``/healthz`` with ``"clock": "system"``, refuse: one bilingual line, exit 2 (K6)."""
    if not rt.simulated:
        return  # scheduler.advance refuses a system clock itself (clock_not_simulated)
    base = _server_url(rt.settings.host, rt.settings.port)
    if _probe_server_at(base) == "system":
        _refuse_system_server(base)


def _probe_server_at(base: str) -> str | None:
    """The ``clock`` our server at ``base`` reports on ``/healthz``; None if none answers.
    (``http_light``, as ``call`` uses: ``http.client`` and ``urllib.request`` cost more to
    import, K5.)"""
    from urllib.parse import urlsplit

    from xiaodian import http_light

    try:
        parts = urlsplit(base)
        status, answer = http_light.request(
            parts.hostname or "", parts.port or 80, "GET", "/healthz", timeout=1
        )
        body = json.loads(answer[:65536]) if status == 200 else None
    except Exception:
        return None  # nothing (of ours) listening there: no server to ignore the clock
    return str(body.get("clock")) if isinstance(body, dict) else None


def _report_table(rt: Runtime, start: datetime, report: TickReport) -> Table:
    """K7: what a tick or an advance did, like ``simulate``, in local time."""
    table = _table(f"from → until ({rt.settings.timezone})", "ticks", "what the rules did")
    table.add_row(
        f"{_local(rt, start)} → {_local(rt, report.now)}",
        str(report.ticks),
        _summary(report.counts),
    )
    return table


@app.command()
def simulate(
    days: Annotated[int, typer.Option(min=1, max=400, help="how many days to replay")] = 10,
    step: Annotated[str, typer.Option(help="report granularity, e.g. 1d, 6h")] = "1d",
) -> None:
    """Simulated clock only: replay DAYS of platform rules, a row per step of what each rule
    did (judgments, deductions, expiries, reminders, reviews, …)."""
    from rich.progress import Progress

    from xiaodian import scheduler
    from xiaodian.clock import parse_duration

    try:
        seconds = parse_duration(step)
    except ValueError as exc:
        _die(f"时长无效：{step}，例如 1d、6h", str(exc))
    if seconds <= 0:
        _die("--step 必须大于 0", "--step must be positive")
    rt = _runtime()
    _refuse_if_server_ignores(rt)
    steps = max(1, (days * 86400) // seconds)
    table = _table(f"until ({rt.settings.timezone})", "ticks", "what the rules did")
    console = _console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"replaying {days} days", total=steps)
        for _ in range(steps):
            report = scheduler.advance(rt, seconds)
            table.add_row(_local(rt, report.now), str(report.ticks), _summary(report.counts))
            progress.advance(task)
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
    from xiaodian.accounts import service as accounts

    rt = _runtime()
    with rt.unit("cli") as ctx:
        shop, user = accounts.create_shop(
            ctx,
            name=name,
            username=username,
            password=password,
            phone=phone,
            douyin_account=douyin_account,
        )
        typer.echo(f"✓ shop #{shop.id} {shop.name}, main account {user.username}")


@shop_app.command("app")
def shop_app_create(
    shop_id: Annotated[int, typer.Option(help="shop id")],
    name: Annotated[str, typer.Option(help="app name, e.g. the ERP's")] = "ERP",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="S2: a scope the app gets (repeat, or comma-separated): "
            + ", ".join(APP_SCOPES)
            + "; default: "
            + ", ".join(DEFAULT_APP_SCOPES)
        ),
    ] = None,
) -> None:
    """Create an open-API app for a shop and print its app_key, secret and scopes."""
    from xiaodian.accounts import service as accounts

    scopes = [part.strip() for item in scope for part in item.split(",")] if scope else None
    rt = _runtime()
    with rt.unit("cli") as ctx:
        accounts.get_shop(ctx.session, shop_id)
        api_app = accounts.create_app(ctx, shop_id, name, scopes)
        typer.echo(
            f"app_key = {api_app.app_key}\nsecret  = {api_app.secret}\nscopes  = {api_app.scopes}"
        )


@shop_app.command("app-code")
def shop_app_code(
    app_key: Annotated[str, typer.Option(help="the app's app_key")],
) -> None:
    """Issue a one-time 抖店 authorization code for an app (token.create with
    grant_type=authorization_code; issue 12, D2)."""
    from xiaodian.accounts import service as accounts
    from xiaodian.doudian import service as doudian

    rt = _runtime()
    with rt.unit("cli") as ctx:
        creds = accounts.app_credentials(ctx.session, app_key)
        if creds is None:
            _console(stderr=True).print(
                f"[red]✗ 没有有效的应用 app_key {app_key}（no live app with this app_key）[/]",
                soft_wrap=True,
                highlight=False,
            )
            raise typer.Exit(2)
        code, expires = doudian.issue_auth_code(ctx, creds.shop_id, creds.app_id)
        typer.echo(f"code    = {code}\nexpires = {expires.isoformat()}")


@shop_app.command("list")
def shop_list() -> None:
    """List shops with their main account."""
    from sqlalchemy import select

    from xiaodian.accounts.models import Shop, User

    rt = _runtime()
    table = _table("id", "name", "main account", "人店一体")
    with rt.unit("cli") as ctx:
        rows = ctx.session.execute(
            select(Shop, User)
            .join(User, (User.shop_id == Shop.id) & User.is_main)
            .order_by(Shop.id)
        )
        for shop, user in rows:
            table.add_row(str(shop.id), shop.name, user.username, shop.douyin_account or "—")
    _console().print(table)


def _is_set_secret(row: SettingRow) -> bool:
    return row.variable.endswith("SECRET_KEY") and row.truthy


def _send(
    scheme: str,
    host: str,
    port: int | None,
    method: str,
    target: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float = 30,
) -> tuple[int, bytes]:
    """One request: plain HTTP over a socket (``http_light``, K5), HTTPS by ``http.client``.
    Every failure to get an answer is an ``OSError``."""
    if scheme == "http":
        from xiaodian import http_light

        return http_light.request(host, port or 80, method, target, body, headers, timeout)
    import http.client

    connection = http.client.HTTPSConnection(host, port, timeout=timeout)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc) or type(exc).__name__) from exc
    finally:
        connection.close()


def _base_url() -> str:
    """Where ``serve`` listens by the same settings (XIAODIAN_HOST / XIAODIAN_PORT, K7) — all
    of them checked, as ``Settings`` would (K6), but read without pydantic when they can be."""
    values = {row.variable: row.shown for row in _current_settings()[0]}
    return _server_url(values["XIAODIAN_HOST"], values["XIAODIAN_PORT"])


@app.command("call")
def api_call(
    method: Annotated[str, typer.Argument(help="GET, POST, PATCH …")],
    path: Annotated[str, typer.Argument(help="e.g. /api/v1/funds")],
    app_key: Annotated[str, typer.Option(envvar="XIAODIAN_APP_KEY")],
    secret: Annotated[str, typer.Option(envvar="XIAODIAN_APP_SECRET")],
    body: Annotated[str | None, typer.Option(help="JSON body")] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="server (default: XIAODIAN_HOST and XIAODIAN_PORT, as serve uses)"),
    ] = None,
) -> None:
    """Send one signed open-API request and print the JSON answer (an ERP client in a line)."""
    from urllib.parse import urlsplit

    from xiaodian.signing import signed_headers

    method = method.upper()
    if not method.isalpha():
        _die(f"HTTP 方法无效：{method}", f"bad HTTP method {method!r}; use GET, POST, …")
    if not path.startswith("/"):
        _die(
            f"路径必须以 / 开头，例如 /{path}",
            f"the path must start with '/', e.g. /{path}",
        )
    raw = b""
    if body:
        try:
            raw = json.dumps(json.loads(body), ensure_ascii=False).encode()
        except json.JSONDecodeError as exc:
            _die("--body 不是有效的 JSON", f"--body is not valid JSON: {exc}")
    base = base_url or _base_url()
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _die(f"服务器地址无效：{base}", f"bad --base-url {base!r}; e.g. http://127.0.0.1:8000")
    try:
        port = parts.port
    except ValueError:
        _die(f"服务器地址无效：{base}", f"bad port in --base-url {base!r}")
    headers = signed_headers(app_key, secret, method, path, raw)
    headers["Content-Type"] = "application/json"
    target = parts.path.rstrip("/") + path
    try:
        status, answer = _send(parts.scheme, parts.hostname, port, method, target, raw, headers)
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        _die(
            f"无法连接服务器 {base}，请先运行 xiaodian serve 或用 --base-url 指定",
            f"cannot reach {base}: {reason}",
        )
    text = answer.decode("utf-8", "replace")
    try:
        print(json.dumps(json.loads(text), ensure_ascii=False, indent=2))
    except json.JSONDecodeError:
        print(text or status)
    if status >= 400:
        raise typer.Exit(1)


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the server")
    ] = True,
    reset: Annotated[bool, typer.Option(help="delete the demo database first")] = False,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port", min=1, max=65535)] = None,
    simulated: Annotated[
        bool,
        typer.Option(
            "--simulated",
            help="run on a simulated clock (XIAODIAN_CLOCK_MODE=simulated): the console shows "
            "the simulated time and a 快进 control for the main account",
        ),
    ] = False,
) -> None:
    """Create a demo shop with realistic data on the embedded SQLite, then serve the console."""
    from xiaodian import demo as demo_data

    settings = _settings()
    if simulated:  # U7
        settings = settings.model_copy(update={"clock_mode": "simulated"})
    if "XIAODIAN_WEBHOOKS__ALLOW_LOOPBACK" not in os.environ:
        # S1: the demo is local development — webhooks may go to a receiver on this machine.
        settings.webhooks.allow_loopback = True
    if "XIAODIAN_SMS__DEMO_PHONE" not in os.environ:
        # F3: the demo has no SMS provider — its codes go to the 演示手机 page.
        settings.sms.demo_phone = True
    if "XIAODIAN_STOREFRONT__DEMO_SIGN_IN" not in os.environ:
        # F8: the demo's buyer pages let the merchant pick a buyer to walk the buyer's path.
        settings.storefront.demo_sign_in = True
    host, port = host or settings.host, port or settings.port
    if serve_after:
        _port_free_or_die(host, port)
    if reset and settings.database_url.startswith("sqlite:///"):
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    rt = _runtime(settings)
    if serve_after:
        _check_bind(rt, host)  # before seeding: refuse at once
    console = _console()
    info = demo_data.ensure_demo(rt, console=console)
    console.rule("小店 demo")
    if serve_after:
        console.print(f"控制台 console : http://{host}:{port}/console/", soft_wrap=True)
    else:
        console.print(
            "控制台 console : 运行 xiaodian serve 后打开 /console/ (run xiaodian serve)",
            soft_wrap=True,
        )
    # Whole lines (no wrapping inside the secret): they are meant to be copied.
    console.print(f"登录 login     : {info['username']} / {info['password']}", soft_wrap=True)
    console.print(f"子账号 sub     : {info['sub_username']} / {info['password']}", soft_wrap=True)
    console.print(
        f"开放平台 API   : app_key={info['app_key']} secret={info['secret']}", soft_wrap=True
    )
    if rt.simulated:
        console.print(
            f"模拟时间 sim   : {_local(rt, rt.clock.now())} ({rt.settings.timezone}) — 快进："
            "控制台顶栏，或 xiaodian tick --advance 1d (advance: console header or tick --advance)",
            soft_wrap=True,
        )
    if serve_after and info.get("shop_id"):  # F8: walk the buyer's path (pick a demo buyer)
        console.print(
            f"买家页面 buyer : http://{host}:{port}/shop/{info['shop_id']}", soft_wrap=True
        )
    if serve_after:
        console.print(f"API docs       : http://{host}:{port}/docs", soft_wrap=True)
        _serve(rt, host, port, with_worker=True)


def main() -> None:
    """The ``xiaodian`` entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""``xiaodian operator …``: platform operator accounts (issue 17, F1).

``xiaodian operator create --username ops1`` asks for the password twice (hidden);
``--password-stdin`` reads it from the first line of standard input instead (scripts, CI).
The password is hashed with argon2 through the accounts' password helpers (S4 gate)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

app = typer.Typer(help="平台运营 operator accounts.", no_args_is_help=True)


@app.command("create")
def create(
    username: Annotated[str, typer.Option(help="operator login (3–64 letters, digits, _.@-)")],
    display_name: Annotated[str, typer.Option(help="name shown in the operator console")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a platform operator account (separate from every shop); log in at /operator."""
    from xiaodian.config import get_settings
    from xiaodian.platform import service
    from xiaodian.runtime import Runtime

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    rt = Runtime.create(get_settings())
    with rt.unit("cli") as ctx:
        operator = service.create_operator(ctx, username, password, display_name)
        typer.echo(f"✓ operator #{operator.id} {operator.username}; console: /operator/")


@app.command("list")
def list_operators() -> None:
    """List operator accounts."""
    from sqlalchemy import select

    from xiaodian.config import get_settings
    from xiaodian.platform.models import Operator
    from xiaodian.runtime import Runtime

    rt = Runtime.create(get_settings())
    with rt.unit("cli") as ctx:
        for op in ctx.session.scalars(select(Operator).order_by(Operator.id)):
            state = "active" if op.active else "disabled"
            typer.echo(f"#{op.id}\t{op.username}\t{op.display_name}\t{state}")


def _set_active(username: str, active: bool) -> None:
    from xiaodian.config import get_settings
    from xiaodian.errors import XiaodianError
    from xiaodian.platform import service
    from xiaodian.runtime import Runtime

    rt = Runtime.create(get_settings())
    try:
        with rt.unit("cli") as ctx:
            operator, ended = service.set_operator_active(ctx, username, active)
            name = operator.username
    except XiaodianError as exc:
        typer.secho(f"✗ {exc.message_zh}（{exc.message_en}）", err=True, fg="red")
        raise typer.Exit(code=2) from None
    if active:
        typer.echo(f"✓ operator {name} enabled")
    else:
        typer.echo(f"✓ operator {name} disabled; {ended} console session(s) ended")


@app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="the operator's username")]) -> None:
    """Disable an operator account: it can no longer log in or decide, and every console
    session it has ends at once (F1)."""
    _set_active(username, False)


@app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="the operator's username")]) -> None:
    """Enable a disabled operator account again (a new login is needed)."""
    _set_active(username, True)

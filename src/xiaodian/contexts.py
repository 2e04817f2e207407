"""The one registry of bounded contexts (issue 15 M4).

``CONTEXTS`` says, for every context, which of its modules play which role; every module list
the foundation uses (API routers, console routes, sweeps and jobs, subscribers, platform push
formats, demo seeds, CLI groups, event types) is derived from it, in the order of this list —
orders first: the others build on orders and payments (their sweeps run after its sweeps, their
subscribers after earlier ones).

A role's module has a conventional name inside the context's package:

============  =================  ======================================================
role          module             what the foundation reads from it
============  =================  ======================================================
api           ``api.py``         ``router`` (and ``sim_router`` with the simulated clock)
web           ``web.py``         ``router`` (console pages)
sweeps        ``sweeps.py``      ``SWEEPS`` (``context.Sweep``) and ``JOBS`` (``context.Job``)
subscribers   ``subscribers.py`` importing it registers its ``@notify.subscribe`` handlers
push          ``push.py``        importing it registers platform wire formats
demo          ``demo.py``        ``seed(rt, shop_id, progress)``
cli           ``cli.py``         ``app`` (a Typer group, mounted lazily as ``xiaodian <name>``)
events        ``events.py``      ``EVENT_TYPES`` (the domain events the context emits)
============  =================  ======================================================

A declared module that does not exist, or a role module on disk that is not declared, fails at
start-up with ``ContextRegistryError`` naming it (``check()``), instead of silently disabling
a context. This module imports nothing but the standard library: ``xiaodian --help`` reads it
(K5).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).parent
ROLES = ("api", "web", "sweeps", "subscribers", "push", "demo", "cli", "events")


class ContextRegistryError(RuntimeError):
    """The ``CONTEXTS`` declaration and the source tree disagree (a typo, a missing module)."""


@dataclass(frozen=True)
class Context:
    name: str  # the package under xiaodian/
    api: tuple[str, ...] = ()  # modules with `router`, in include order
    web: tuple[str, ...] = ()  # console modules with `router`, in include order
    sweeps: bool = False
    subscribers: bool = False
    push: bool = False
    demo: bool = False
    cli: str | None = None  # the line `xiaodian --help` shows for the context's group
    cli_group: str | None = None  # the group's name when not the context's (`operator`)
    events: bool = False

    def modules(self, role: str) -> tuple[str, ...]:
        """The dotted names of this context's modules playing ``role``."""
        if role not in ROLES:
            raise ContextRegistryError(f"unknown context role {role!r} (roles: {ROLES})")
        value = getattr(self, role)
        if isinstance(value, tuple):
            names: tuple[str, ...] = value
        elif value:
            names = (role,)
        else:
            names = ()
        return tuple(f"xiaodian.{self.name}.{name}" for name in names)


CONTEXTS: tuple[Context, ...] = (
    Context("accounts", api=("api",), sweeps=True),
    Context("ledger", api=("api",)),
    Context("notify", api=("api",), sweeps=True),
    Context(
        "orders",
        # export.api before api: /api/v1/orders/{order_id} would otherwise shadow
        # /api/v1/orders/exports.
        api=("export.api", "api"),
        web=("web", "products_web", "export.web"),
        sweeps=True,
        demo=True,
        cli="订单 orders: review flags, unbans, payment faults, bulk seeding, export.",
        events=True,
    ),
    Context(
        "aftersales",
        api=("api",),
        web=("web",),
        sweeps=True,
        subscribers=True,
        demo=True,
        events=True,
    ),
    Context(
        "redpackets",
        api=("api",),
        web=("web",),
        sweeps=True,
        subscribers=True,
        demo=True,
        events=True,
    ),
    Context("luckybags", api=("api",), web=("web",), sweeps=True, demo=True, events=True),
    Context("service", api=("api",), web=("web",), events=True),
    Context(
        "coupons",
        api=("api",),
        web=("web", "staff_web", "phone_web"),  # F4: 核销人员 (console), the staff phone page
        sweeps=True,
        demo=True,
        events=True,
    ),
    Context("doudian", api=("api",), web=("web",), subscribers=True, push=True, events=True),
    Context("laike", api=("api",), sweeps=True, subscribers=True, push=True, events=True),
    Context(
        "platform",
        web=("web",),
        cli="平台运营 platform operator accounts (F1).",
        cli_group="operator",
        events=True,
    ),
    # F8: the buyer's pages (/shop, /my); they call the other contexts' services.
    Context("storefront", web=("web",)),
)


def modules(role: str) -> tuple[str, ...]:
    """Every context's modules playing ``role``, in ``CONTEXTS`` order (not imported)."""
    return tuple(name for context in CONTEXTS for name in context.modules(role))


def load(role: str) -> list[ModuleType]:
    """Import every context's modules playing ``role``, in order. A declared module that does
    not exist raises ``ContextRegistryError`` naming it; an import error inside it raises."""
    loaded = []
    for name in modules(role):
        try:
            loaded.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                raise ContextRegistryError(_missing(name, role)) from exc
            raise
    return loaded


def context(name: str) -> Context:
    for found in CONTEXTS:
        if found.name == name:
            return found
    raise ContextRegistryError(f"no context named {name!r} in xiaodian.contexts.CONTEXTS")


def check() -> None:
    """Fail with ``ContextRegistryError`` when the declaration and the tree disagree: a
    declared module that does not exist (a typo), or a role module on disk that no context
    declares (it would silently never run). Cheap: reads the file system, imports nothing."""
    problems: list[str] = []
    declared = set()
    for ctx in CONTEXTS:
        if not (PACKAGE_DIR / ctx.name / "__init__.py").is_file():
            problems.append(f"context {ctx.name!r} has no package xiaodian/{ctx.name}/")
            continue
        for role in ROLES:
            for name in ctx.modules(role):
                declared.add(name)
                if importlib.util.find_spec(name) is None:
                    problems.append(_missing(name, role))
    for ctx in CONTEXTS:
        for role in ("sweeps", "subscribers", "push", "demo", "cli", "events"):
            name = f"xiaodian.{ctx.name}.{role}"
            if (PACKAGE_DIR / ctx.name / f"{role}.py").is_file() and name not in declared:
                problems.append(
                    f"{name} exists but context {ctx.name!r} does not declare the role "
                    f"{role!r} in xiaodian.contexts.CONTEXTS (it would never run)"
                )
    if problems:
        raise ContextRegistryError("; ".join(problems))


def _missing(name: str, role: str) -> str:
    return (
        f"xiaodian.contexts.CONTEXTS declares {name} as a {role!r} module, "
        "but that module does not exist"
    )


def optional_module(name: str) -> ModuleType | None:
    """Import ``name`` if that module exists; a missing import *inside* it still raises.
    (The console itself, ``xiaodian.web``, is optional for the API app.)"""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return None
        raise

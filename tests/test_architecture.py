"""Issue 15: one context contract. Structural tests read the source's syntax trees (ast), not
strings; behaviour tests use a real database and the HTTP API."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from xiaodian import contexts, scheduler
from xiaodian.context import Job, Sweep
from xiaodian.contexts import CONTEXTS, Context, ContextRegistryError
from xiaodian.coupons import rules
from xiaodian.coupons.models import ClaimStatus

PACKAGE = Path(contexts.__file__).parent
CONTEXT_NAMES = [ctx.name for ctx in CONTEXTS]


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` gives a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _context_files() -> list[Path]:
    return [p for name in CONTEXT_NAMES for p in sorted((PACKAGE / name).rglob("*.py"))]


# The layers that run the contexts (ARCHITECTURE.md): a context imports none of them.
ABOVE_THE_CONTEXTS = {
    "xiaodian.scheduler",
    "xiaodian.api.app",
    "xiaodian.web.routes",
    "xiaodian.cli",
    "xiaodian.demo",
}


def test_M1_no_context_imports_the_scheduler() -> None:
    # `from xiaodian import scheduler` counts: _imports gives xiaodian.scheduler for it
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in _context_files()
        for module in _imports(path)
        if module in ABOVE_THE_CONTEXTS or module.startswith("xiaodian.scheduler.")
    ]
    assert offenders == []


def test_M1_sweep_and_job_live_beside_ctx_and_the_scheduler_hard_wires_no_context() -> None:
    assert Sweep.__module__ == Job.__module__ == "xiaodian.context"
    tree = ast.parse((PACKAGE / "scheduler.py").read_text(encoding="utf-8"))
    named = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert not any(text.startswith(tuple(f"xiaodian.{c}" for c in CONTEXT_NAMES)) for text in named)
    assert "importlib" not in _imports(PACKAGE / "scheduler.py")
    # what the scheduler runs is exactly what the contexts declare, in CONTEXTS order
    declared = [s for m in contexts.load("sweeps") for s in m.SWEEPS]
    assert scheduler.registered_sweeps() == declared
    assert [s.name for s in declared][:3] == [
        "orders.judge_late",
        "orders.deduct_penalties",
        "orders.auto_close",
    ]
    jobs = {job.name for job in scheduler.registered_jobs()}
    assert jobs == {"webhooks.deliver", "api.purge_nonces", "orders.export"}


def test_M2_sweeps_py_holds_every_time_driven_rule_and_rules_py_writes_nothing() -> None:
    for ctx in CONTEXTS:
        package = PACKAGE / ctx.name
        rules_file = package / "rules.py"
        if rules_file.is_file():
            text_tree = ast.parse(rules_file.read_text(encoding="utf-8"))
            assigned = {
                t.id
                for node in ast.walk(text_tree)
                if isinstance(node, ast.Assign)
                for t in node.targets
                if isinstance(t, ast.Name)
            }
            assert "SWEEPS" not in assigned, f"{ctx.name}/rules.py declares sweeps"
            imported = _imports(rules_file)
            writers = {"sqlalchemy", "xiaodian.db", "xiaodian.notify", "xiaodian.ledger"}
            assert not {m for m in imported if m.split(".")[0] in writers or m in writers}, (
                f"{ctx.name}/rules.py imports a writer: {sorted(imported)}"
            )
            assert f"xiaodian.{ctx.name}.service" not in imported
        if ctx.sweeps:
            assert (package / "sweeps.py").is_file()
    # every SWEEPS list in the package is in a sweeps.py
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "SWEEPS" for t in targets):
                    assert path.name == "sweeps.py", path


def test_M2_condition_kinds_are_a_table_and_an_unknown_kind_raises() -> None:
    assert set(rules.CONDITION_KINDS) == {"discount", "amount_off"}

    class Terms:
        condition_kind: str | None = "discount"
        discount_percent: int | None = 95
        discount_cap_fen: int | None = 30_000
        threshold_fen: int | None = 50_000
        amount_off_fen: int | None = 3_000

    terms = Terms()
    assert rules.condition_summary(terms) == "9.5折，最多减300元"
    # a kind stores its own fields only
    assert rules.condition_values(terms) == {
        "discount_percent": 95,
        "discount_cap_fen": 30_000,
        "threshold_fen": None,
        "amount_off_fen": None,
    }
    assert rules.face_value(terms) == 30_000
    terms.condition_kind = "amount_off"
    assert rules.condition_summary(terms) == "满500元减30元"
    assert rules.face_value(terms) == 3_000
    terms.condition_kind = "buy_one_get_one"  # a kind added to the column, not to the table
    with pytest.raises(rules.UnknownConditionKind):
        rules.condition_summary(terms)
    with pytest.raises(rules.UnknownConditionKind):
        rules.face_value(terms)
    assert [e["field"] for e in rules.check_condition(terms)] == ["condition_kind"]
    # condition_summary has no fall-through branch: it reads the table
    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    summary = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "condition_summary"
    )
    assert not any(isinstance(n, ast.If) for n in ast.walk(summary))


class _Claim:
    def __init__(self, **values: Any) -> None:
        self.status = values.get("status", ClaimStatus.UNUSED)
        self.valid_from = values["valid_from"]
        self.valid_until = values["valid_until"]
        self.verified_at = values.get("verified_at")


def test_M2_check_verifiable_decides_from_its_arguments_and_the_scope_rule_is_written_once() -> (
    None
):
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    claim = _Claim(valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=1))
    scopes = rules.StoreScopes(frozenset({1, 2}), frozenset({2, 3}))
    terms = rules.VerificationTerms(claim=claim, scopes=scopes)
    tz = "Asia/Shanghai"
    shop = {1: "西湖店", 2: "滨江店", 3: "萧山店", 4: "余杭店"}
    assert rules.usable_stores(scopes, shop) == [rules.StoreRef(2, "滨江店")]
    assert rules.check_verifiable(terms, rules.StoreRef(2, "滨江店"), now, tz) is None
    refused = rules.check_verifiable(terms, rules.StoreRef(3, "萧山店"), now, tz)
    assert refused is not None and refused.code == "store_out_of_campaign_scope"
    refused = rules.check_verifiable(terms, rules.StoreRef(1, "西湖店"), now, tz)
    assert refused is not None and refused.code == "store_out_of_coupon_scope"
    late = rules.check_verifiable(terms, rules.StoreRef(2, "滨江店"), now + timedelta(days=2), tz)
    assert late is not None and late.code == "expired"
    # every store decision in usable_stores agrees with check_verifiable's scope refusal
    for store_id, name in shop.items():
        store = rules.StoreRef(store_id, name)
        assert (store in rules.usable_stores(scopes, shop)) == (
            rules.out_of_scope(scopes, store) is None
        )
    # the scope codes appear once in the source of the coupons package
    codes = ("store_out_of_campaign_scope", "store_out_of_coupon_scope")
    for code in codes:
        sites = [
            path.name
            for path in (PACKAGE / "coupons").glob("*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and node.value == code
        ]
        assert sites.count("rules.py") == 1, (code, sites)
    service_tree = ast.parse((PACKAGE / "coupons" / "service.py").read_text(encoding="utf-8"))
    service_functions = {n.name for n in service_tree.body if isinstance(n, ast.FunctionDef)}
    assert "_usable_stores" not in service_functions
    # check_verifiable takes no session: its parameters are its inputs
    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    fn = next(
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check_verifiable"
    )
    assert [a.arg for a in fn.args.args] == ["terms", "store", "now", "tz"]


def test_M4_every_module_list_is_derived_from_CONTEXTS() -> None:
    from xiaodian.api import app as api_app
    from xiaodian.cli import CONTEXT_CLIS
    from xiaodian.demo import CONTEXT_SEEDS
    from xiaodian.notify import service as notify
    from xiaodian.notify import webhooks
    from xiaodian.web import routes

    contexts.check()
    assert ("xiaodian.api.system", *contexts.modules("api")) == api_app.API_MODULES
    assert contexts.modules("web") == routes.CONTEXT_WEB_MODULES
    assert contexts.modules("subscribers") == notify.SUBSCRIBER_MODULES
    assert contexts.modules("push") == webhooks.WIRE_MODULES
    assert tuple(m.split(".")[1] for m in contexts.modules("demo")) == CONTEXT_SEEDS
    assert set(CONTEXT_CLIS) == {c.cli_group or c.name for c in CONTEXTS if c.cli}
    # every declared module exists (today's SUBSCRIBER_MODULES named three that did not)
    for role in contexts.ROLES:
        for name in contexts.modules(role):
            path = PACKAGE.parent / (name.replace(".", "/") + ".py")
            assert path.is_file(), name
    # the lists are not written by hand: no module-level tuple of context module names
    for rel in ("api/app.py", "web/routes.py", "notify/service.py", "notify/webhooks.py"):
        tree = ast.parse((PACKAGE / rel).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Tuple):
                literals = [e for e in node.value.elts if isinstance(e, ast.Constant)]
                assert len(literals) <= 1, rel


def test_M4_a_typo_in_CONTEXTS_fails_at_start_up_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from xiaodian.api.app import create_app

    typo = tuple(replace(c, api=("apii",)) if c.name == "coupons" else c for c in contexts.CONTEXTS)
    monkeypatch.setattr(contexts, "CONTEXTS", typo)
    with pytest.raises(ContextRegistryError, match=r"xiaodian\.coupons\.apii"):
        contexts.check()
    with pytest.raises(ContextRegistryError, match=r"xiaodian\.coupons\.apii"):
        create_app()
    # a role module on disk that no context declares is an error too
    undeclared = tuple(replace(c, subscribers=False) if c.name == "redpackets" else c for c in typo)
    monkeypatch.setattr(contexts, "CONTEXTS", undeclared)
    with pytest.raises(ContextRegistryError, match=r"redpackets\.subscribers exists"):
        contexts.check()
    monkeypatch.setattr(contexts, "CONTEXTS", (*contexts.CONTEXTS, Context("nosuch")))
    with pytest.raises(ContextRegistryError, match="nosuch"):
        contexts.check()


def test_M4_each_context_declares_its_event_types_in_one_pattern() -> None:
    import re

    pattern = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
    seen: dict[str, str] = {}
    for module in contexts.load("events"):
        for type_ in module.EVENT_TYPES:
            assert pattern.match(type_), type_
            assert type_ not in seen, (type_, seen.get(type_), module.__name__)
            seen[type_] = module.__name__
    # every event type the source emits by name is declared by some context
    from xiaodian.notify.service import event_catalogue

    known = event_catalogue()
    emitted: dict[str, str] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            position = {"emit": 2, "NewEvent": 1}.get(name or "")
            if position is not None and len(node.args) > position:
                arg = node.args[position]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    emitted[arg.value] = str(path.relative_to(PACKAGE))
    assert len(emitted) > 40
    assert {t: where for t, where in emitted.items() if t not in known} == {}


def test_M4_webhook_subscription_to_an_unknown_event_type_is_refused(shop: Any) -> None:
    response = shop.api.post(
        "/api/v1/webhooks",
        {"url": "https://erp.example/hook", "event_types": ["order.paid", "order.payed"]},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "unknown_event_type"
    assert problem["field"] == "event_types" and "order.payed" in str(problem)
    ok = shop.api.post(
        "/api/v1/webhooks",
        {"url": "https://erp.example/hook", "event_types": ["order.paid", "coupon.verified"]},
    )
    assert ok.status_code in (200, 201), ok.text
    assert sorted(ok.json()["event_types"]) == ["coupon.verified", "order.paid"]


# ----- M2: every context decides in rules.py --------------------------------------------------

DECISION_CONTEXTS = ("orders", "redpackets", "luckybags", "aftersales", "coupons")
# What a decision module must not import: it is given its inputs and writes nothing.
NOT_IN_RULES = (
    "sqlalchemy",
    "xiaodian.db",
    "xiaodian.context",
    "xiaodian.runtime",
    "xiaodian.notify",
    "xiaodian.ledger",
)


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_M2_every_context_rules_py_is_a_pure_decision_module() -> None:
    for name in DECISION_CONTEXTS:
        path = PACKAGE / name / "rules.py"
        assert path.is_file(), f"{name} has no rules.py"
        imported = _imports(path)
        bad = sorted(
            m
            for m in imported
            if any(m == w or m.startswith(w + ".") for w in NOT_IN_RULES)
            or m.endswith(".service")
            or ".service." in m
            or m.endswith(".sweeps")
            or m.endswith(".Session")
        )
        assert bad == [], f"{name}/rules.py imports {bad}"
        # inputs are arguments: no function takes a session or a Ctx
        for fn in _functions(path).values():
            params = [a.arg for a in [*fn.args.args, *fn.args.kwonlyargs]]
            assert not {"ctx", "session", "rt"} & set(params), (name, fn.name, params)
    # a sweeps.py wherever SWEEPS are declared (and only there)
    for ctx in CONTEXTS:
        package = PACKAGE / ctx.name
        declares = [
            path.name
            for path in package.rglob("*.py")
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(t, ast.Name) and t.id == "SWEEPS"
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
            )
        ]
        assert declares in ([], ["sweeps.py"]), (ctx.name, declares)
        if ctx.sweeps:
            assert declares == ["sweeps.py"], ctx.name


# decision → (module it lives in, modules that must not define it again)
MOVED_DECISIONS = {
    "decide_penalties": ("orders", ("sweeps.py", "service.py")),
    "next_local_day": ("orders", ("sweeps.py",)),
    "ship_by": ("orders", ("service.py", "prize.py")),
    "pick_winners": ("luckybags", ("sweeps.py", "service.py")),
    "draw_rng": ("luckybags", ("sweeps.py",)),
    "win_status": ("luckybags", ("service.py",)),
    "extension_refusal": ("redpackets", ("service.py",)),
    "extension_allowed_seconds": ("redpackets", ("service.py",)),
    "display_status": ("redpackets", ("service.py",)),
    "kind_refusal": ("aftersales", ("service.py",)),
    "merchant_deadline": ("aftersales", ("service.py",)),
    "refund_retry_at": ("aftersales", ("service.py",)),
}


def test_M2_the_decisions_moved_out_of_sweeps_and_service() -> None:
    for decision, (ctx_name, elsewhere) in MOVED_DECISIONS.items():
        package = PACKAGE / ctx_name
        assert decision in _functions(package / "rules.py"), (ctx_name, decision)
        for other in elsewhere:
            path = package / other
            if path.is_file():
                assert decision not in _functions(path), f"{ctx_name}/{other} defines {decision}"
    # the draw is given its random generator: same generator state, same winners
    import random

    from xiaodian.luckybags import rules as lb_rules

    fn = _functions(PACKAGE / "luckybags" / "rules.py")["pick_winners"]
    assert [a.arg for a in fn.args.args] == ["rng", "buyer_ids", "winners"]
    buyers = [5, 3, 9, 1, 7]
    assert lb_rules.pick_winners(random.Random(7), buyers, 2) == lb_rules.pick_winners(
        random.Random(7), list(reversed(buyers)), 2
    )
    assert lb_rules.pick_winners(random.Random(7), buyers, 9) == sorted(buyers)


# ----- M3: modules by SPEC section, helpers written once ---------------------------------------


def _module_names() -> set[str]:
    root = PACKAGE.parent
    return {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for p in PACKAGE.rglob("*.py")
    }


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_M3_no_private_imports_across_modules() -> None:
    modules = _module_names()
    offenders: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(PACKAGE))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xiaodian"):
                for alias in node.names:
                    if _is_private(alias.name):
                        offenders.append(f"{where}: from {node.module} import {alias.name}")
                    if f"{node.module}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("xiaodian") and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _is_private(node.attr)
            ):
                offenders.append(f"{where}: {aliases[node.value.id]}.{node.attr}")
    assert offenders == []


# Files that other branches own at the time of M3 (coupons verification, the orders export
# package); they adopt db.rowcount when they land.


def test_M3_rowcount_is_read_in_db_py_only() -> None:
    from sqlalchemy import delete

    from xiaodian.db import rowcount

    sites: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(PACKAGE))
        if where == "db.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "rowcount":
                sites.append(f"{where}:{node.lineno}")
            if isinstance(node, ast.Constant) and node.value == "rowcount":
                sites.append(f"{where}:{node.lineno}")
            if isinstance(node, ast.FunctionDef) and node.name == "_rowcount":
                sites.append(f"{where}:{node.lineno}")
    assert sites == []
    assert rowcount(object()) == 0
    from sqlalchemy import create_engine

    from xiaodian.accounts.models import ApiNonce

    engine = create_engine("sqlite://")
    ApiNonce.__table__.create(engine)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        assert rowcount(conn.execute(delete(ApiNonce))) == 0


def test_M3_ship_by_ban_check_and_stock_take_are_written_once() -> None:
    orders = PACKAGE / "orders"
    # the stock UPDATE (stock = stock - qty) is products.take_stock, used by orders and prizes
    takes: list[str] = []
    ship_by_writes: list[str] = []
    ban_refusals: list[str] = []
    for path in sorted(orders.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        for fn in functions:
            for node in ast.walk(fn):
                if isinstance(node, ast.keyword) and node.arg == "stock":
                    value = node.value
                    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Sub):
                        takes.append(f"{path.name}:{fn.name}")
                targets = node.targets if isinstance(node, ast.Assign) else []
                if any(isinstance(t, ast.Attribute) and t.attr == "ship_by" for t in targets):
                    ship_by_writes.append(f"{path.name}:{fn.name}")
                if isinstance(node, ast.Constant) and node.value == "product_banned":
                    ban_refusals.append(f"{path.name}:{fn.name}")
    assert takes == ["products.py:take_stock"]
    assert ship_by_writes == ["products.py:start_ship_clock"]
    assert set(ban_refusals) == {"product_rules.py:banned_refusal"}
    prize = _functions(orders / "prize.py")["create_prize_order"]
    calls = {
        getattr(n.func, "id", None) or getattr(n.func, "attr", None)
        for n in ast.walk(prize)
        if isinstance(n, ast.Call)
    }
    assert {"take_stock", "start_ship_clock", "banned_refusal"} <= calls
    assert "update" not in calls and "timedelta" not in calls


# M5: ORM rows → response models in one layer, <ctx>/mappers.py. Import direction:
# api.py / web.py → mappers.py → schemas.py + models (+ service reads); schemas.py and
# service.py never import the layer above them.
_SERVICE_OR_MAPPERS = re.compile(r"^xiaodian(\.\w+)+\.(service|mappers)$")
_SCHEMAS_OR_MAPPERS = re.compile(r"^xiaodian(\.\w+)+\.(schemas|mappers)$")


def _all_function_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _from_attributes_calls(path: Path) -> int:
    """``Model.model_validate(row, from_attributes=True)``: an ORM row mapped in place."""
    return sum(
        1
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and any(k.arg == "from_attributes" for k in node.keywords)
    )


def test_M5_mapping_lives_in_mappers_and_schemas_and_service_import_nothing_above_them() -> None:
    files = _context_files()
    schemas = [p for p in files if p.name == "schemas.py"]
    services = [p for p in files if p.name == "service.py"]
    # a context's API and its sub-packages' (orders/export/api.py)
    apis = [
        p
        for name in CONTEXT_NAMES
        for p in sorted((PACKAGE / name).rglob("api.py"))
        if "__pycache__" not in p.parts
    ]
    assert len(schemas) >= 9 and len(services) >= 10 and len(apis) >= 12
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p) if _SERVICE_OR_MAPPERS.match(m))
        for p in schemas
    }
    offenders |= {
        str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p) if _SCHEMAS_OR_MAPPERS.match(m))
        for p in services
    }
    assert {where: found for where, found in offenders.items() if found} == {}
    # routes call mappers; they define no mapping of their own
    mapping = {
        str(p.relative_to(PACKAGE)): [
            f
            for f in _all_function_names(p)
            if f.lstrip("_").startswith("to_") or f.endswith(("_out", "_view"))
        ]
        + (["model_validate(from_attributes=True)"] if _from_attributes_calls(p) else [])
        for p in apis
    }
    assert {where: found for where, found in mapping.items() if found} == {}
    # every context with an API has its mappers: below the routes, and the routes use them
    for p in apis:
        mappers = p.with_name("mappers.py")
        assert mappers.is_file(), f"{p.relative_to(PACKAGE)} has no mappers.py beside it"
        package = "xiaodian." + ".".join(p.parent.relative_to(PACKAGE).parts)
        assert not {f"{package}.api", f"{package}.web"} & _imports(mappers), mappers
        users = [q for q in p.parent.glob("*.py") if f"{package}.mappers" in _imports(q)]
        assert users, f"nothing in {package} uses its mappers"

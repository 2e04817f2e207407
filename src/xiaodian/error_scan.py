"""Find every error code the source raises, by reading it (issue 14, K4).

The catalogue (``docs/errors.md``) is only a promise if something checks it against the code.
This module walks the package's syntax trees — no import, no execution — and reports each
place that constructs an ``XiaodianError`` (or a subclass, or a helper that builds one) with
its stable code:

* a class's code is the argument its ``__init__`` passes on as ``code`` (or, for the 抖店
  dialect's ``PlatformError``, ``sub_code``), or the literal its ``__init__`` fixes
  (``NotFound`` → ``not_found``);
* a function that builds an error from its own parameter named ``code`` forwards that
  parameter: each call of it with a literal code is a raise site of that code
  (``_refuse("already_verified", …)``, the 抖店 ``business("order_not_found", …)``);
* a code written as an f-string ``"family:{detail}"`` (``isv.missing-parameter:{name}``) is
  the family before the colon: the platform's stable part.

A code that is neither a literal nor a forwarded parameter is reported as dynamic, with its
place, so the test can name it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT_CLASS = "XiaodianError"
CODE_PARAMS = ("code", "sub_code")


@dataclass(frozen=True)
class Site:
    """One place in the source that constructs an error with a known code."""

    code: str
    path: str  # relative to the package's parent, e.g. ``xiaodian/orders/service.py``
    line: int
    builder: str  # the class or helper called
    status: int | None  # the HTTP status of the class built (None: not read)


@dataclass(frozen=True)
class Dynamic:
    """A construction whose code the scan cannot read (neither literal nor forwarded)."""

    path: str
    line: int
    builder: str
    source: str


@dataclass
class _Builder:
    """How a class or helper takes its code: a fixed one, or one argument (position/keyword)."""

    fixed: str | None = None
    position: int | None = None
    keyword: str | None = None
    status: int | None = None  # the HTTP status of the class it builds


def _files(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if p.name != "error_codes.py")


def _family(node: ast.expr) -> list[str] | None:
    """The literal code(s): a string, the family of ``f"family:{detail}"``, or both branches of
    ``"a" if … else "b"``; None when the code is not written out."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str) and ":" in head.value:
            return [head.value.split(":", 1)[0]]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return ["".join(_template_part(part) for part in node.values)]
    if isinstance(node, ast.IfExp):
        body, orelse = _family(node.body), _family(node.orelse)
        if body is not None and orelse is not None:
            return [*body, *orelse]
    return None


def _template_part(part: ast.expr) -> str:
    """``http_{exc.status_code}`` → ``http_{status_code}``: a family of codes, listed as one."""
    if isinstance(part, ast.Constant):
        return str(part.value)
    value = part.value if isinstance(part, ast.FormattedValue) else part
    while isinstance(value, ast.Call):
        value = value.func
    name = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", "value")
    return "{" + name + "}"


def _problem_body(
    node: ast.Dict, answered: bool, hint: int | None
) -> tuple[list[str], int | None] | None:
    """A problem+json body written as a dict — ``{"type": "urn:xiaodian:error:…", "code": …}``,
    or any ``{"code": …}`` a ``JSONResponse`` answers (``hint``: its ``status_code``)."""
    keys = {
        k.value: v
        for k, v in zip(node.keys, node.values, strict=True)
        if isinstance(k, ast.Constant) and isinstance(k.value, str)
    }
    kind = keys.get("type")
    if "code" not in keys:
        return None
    if not answered and (kind is None or "urn:xiaodian:error:" not in ast.unparse(kind)):
        return None
    codes = _family(keys["code"])
    if codes is None:
        return None
    status = keys.get("status")
    if isinstance(status, ast.Constant) and isinstance(status.value, int):
        return codes, status.value
    return codes, hint


def _passed_on(node: ast.expr) -> bool:
    """``exc.code`` / ``exc.sub_code``: an error already raised, wrapped in a dialect's terms."""
    return isinstance(node, ast.Attribute) and node.attr in CODE_PARAMS


def _forwarded(node: ast.expr, params: list[str]) -> str | None:
    """The parameter named ``code``/``sub_code`` this expression passes on, if any."""
    names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    for name in names:
        if name in CODE_PARAMS and name in params:
            return name
    return None


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool) -> list[str]:
    args = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
    return args[1:] if method else args


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _code_arg(call: ast.Call, builder: _Builder) -> ast.expr | None:
    if builder.keyword is not None:
        for kw in call.keywords:
            if kw.arg == builder.keyword:
                return kw.value
    if builder.position is not None and builder.position < len(call.args):
        arg = call.args[builder.position]
        return None if isinstance(arg, ast.Starred) else arg
    return None


class _Scan:
    def __init__(self, package: Path) -> None:
        self.package = package
        self.paths = {self._module(p): p for p in _files(package)}
        self.sources = {m: p.read_text(encoding="utf-8") for m, p in self.paths.items()}
        self.trees = {m: ast.parse(text, str(self.paths[m])) for m, text in self.sources.items()}
        self.classes: dict[str, ast.ClassDef] = {}
        for tree in self.trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    self.classes.setdefault(node.name, node)
        # error classes by name; helpers by (module, name)
        self.class_builders: dict[str, _Builder] = {
            ROOT_CLASS: _Builder(position=0, keyword="code", status=400)
        }
        self.helpers: dict[tuple[str, str], _Builder] = {}
        self.imports = {module: self._imports(tree) for module, tree in self.trees.items()}

    def _module(self, path: Path) -> str:
        rel = path.relative_to(self.package.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    @staticmethod
    def _imports(tree: ast.Module) -> dict[str, str]:
        """Local name → the dotted name it stands for (``business`` →
        ``xiaodian.doudian.gateway.business``, ``gateway`` → ``xiaodian.doudian.gateway``)."""
        found: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        found[alias.asname] = alias.name
        return found

    def _base_names(self, node: ast.ClassDef) -> list[str]:
        return [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]

    def _is_error_class(self, name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == ROOT_CLASS:
            return True
        node = self.classes.get(name)
        if node is None or name in seen:
            return False
        return any(self._is_error_class(b, seen | {name}) for b in self._base_names(node))

    def _class_builder(self, name: str) -> _Builder:
        if name in self.class_builders:
            return self.class_builders[name]
        node = self.classes[name]
        init = next(
            (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
            None,
        )
        builder: _Builder
        if init is None:
            base = next(b for b in self._base_names(node) if self._is_error_class(b))
            builder = self._class_builder(base)
        else:
            params = _params(init, method=True)
            own = next((p for p in CODE_PARAMS if p in params), None)
            if own is not None:
                builder = _Builder(position=params.index(own), keyword=own)
            else:
                builder = _Builder(fixed=self._super_code(init))
        builder = _Builder(builder.fixed, builder.position, builder.keyword, self._status(name))
        self.class_builders[name] = builder
        return builder

    def _status(self, name: str) -> int | None:
        """The class's ``status = N``, or its nearest error base's."""
        if name == ROOT_CLASS:
            return 400
        node = self.classes[name]
        for item in node.body:
            if (
                isinstance(item, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "status" for t in item.targets)
                and isinstance(item.value, ast.Constant)
                and isinstance(item.value.value, int)
            ):
                return item.value.value
        base = next(b for b in self._base_names(node) if self._is_error_class(b))
        return self._status(base)

    @staticmethod
    def _super_code(init: ast.FunctionDef) -> str | None:
        for call in ast.walk(init):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "__init__"
                and call.args
            ):
                codes = _family(call.args[0])
                return codes[0] if codes else None
        return None

    def builder_of(self, module: str, call: ast.Call) -> tuple[str, _Builder] | None:
        """What ``call`` (in ``module``) calls, if it builds an error."""
        func = call.func
        if isinstance(func, ast.Name):
            name = func.id
            if name in self.class_builders:
                return name, self.class_builders[name]
            if (module, name) in self.helpers:
                return name, self.helpers[(module, name)]
            dotted = self.imports[module].get(name, "")
            owner, _, attr = dotted.rpartition(".")
            if (owner, attr) in self.helpers:
                return name, self.helpers[(owner, attr)]
        elif isinstance(func, ast.Attribute):
            name = func.attr
            if name in self.class_builders:
                return name, self.class_builders[name]
            if isinstance(func.value, ast.Name):
                owner = self.imports[module].get(func.value.id, func.value.id)
                if (owner, name) in self.helpers:
                    return name, self.helpers[(owner, name)]
        return None

    def _functions(self) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        return [
            (module, node)
            for module, tree in self.trees.items()
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]

    def resolve(self) -> None:
        """Every error class, then every helper that forwards its ``code`` (to a fixpoint)."""
        for name in list(self.classes):
            if self._is_error_class(name):
                self._class_builder(name)
        changed = True
        while changed:
            changed = False
            for module, fn in self._functions():
                if fn.name == "__init__" or (module, fn.name) in self.helpers:
                    continue
                params = _params(fn, method=False)
                if params and params[0] in ("self", "cls"):
                    params = params[1:]
                for call in self._own_calls(fn):
                    found = self.builder_of(module, call)
                    if found is None or found[1].fixed is not None:
                        continue
                    arg = _code_arg(call, found[1])
                    own = _forwarded(arg, params) if arg is not None else None
                    if own is not None:
                        self.helpers[(module, fn.name)] = _Builder(
                            position=params.index(own), keyword=own, status=found[1].status
                        )
                        changed = True
                        break

    def sites(self) -> tuple[list[Site], list[Dynamic]]:
        self.resolve()
        sites: list[Site] = []
        dynamic: list[Dynamic] = []
        for module, tree in self.trees.items():
            rel = self.paths[module].relative_to(self.package.parent).as_posix()
            scopes: list[ast.AST] = [tree, *self._defs(tree)]
            for scope in scopes:
                params = (
                    _params(scope, method=False)
                    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
                    else []
                )
                for call in self._own_calls(scope):
                    found = self.builder_of(module, call)
                    if found is None:
                        continue
                    name, builder = found
                    if builder.fixed is not None:
                        sites.append(Site(builder.fixed, rel, call.lineno, name, builder.status))
                        continue
                    arg = _code_arg(call, builder)
                    codes = _family(arg) if arg is not None else None
                    if codes is not None:
                        sites.extend(
                            Site(code, rel, call.lineno, name, builder.status) for code in codes
                        )
                    elif arg is not None and (_forwarded(arg, params) or _passed_on(arg)):
                        continue  # a forwarding helper (its callers are the sites) or a re-wrap
                    else:
                        text = ast.get_source_segment(self.sources[module], call) or name
                        dynamic.append(Dynamic(rel, call.lineno, name, " ".join(text.split())))
            sites.extend(self._bodies(tree, rel))
        return sites, dynamic

    @staticmethod
    def _bodies(tree: ast.AST, rel: str) -> list[Site]:
        """Problem bodies written as dicts (the app's own 422/404/405/413/500 answers)."""
        hints: dict[int, int | None] = {}
        for call in ast.walk(tree):
            if (
                isinstance(call, ast.Call)
                and call.args
                and isinstance(call.args[0], ast.Dict)
                and getattr(call.func, "id", None) == "JSONResponse"
            ):
                given = next((k.value for k in call.keywords if k.arg == "status_code"), None)
                hint = None
                if isinstance(given, ast.Constant) and isinstance(given.value, int):
                    hint = given.value
                hints[id(call.args[0])] = hint
        sites: list[Site] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                found = _problem_body(node, id(node) in hints, hints.get(id(node)))
                if found is not None:
                    sites.extend(
                        Site(c, rel, node.lineno, "problem body", found[1]) for c in found[0]
                    )
        return sites

    @staticmethod
    def _defs(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]

    @staticmethod
    def _own_calls(scope: ast.AST) -> list[ast.Call]:
        """Calls directly in ``scope`` (a module or function), not in nested functions."""
        calls: list[ast.Call] = []
        stack = list(ast.iter_child_nodes(scope))
        while stack:
            node = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(node, ast.Call):
                calls.append(node)
            stack.extend(ast.iter_child_nodes(node))
        return calls


def scan(package: Path = PACKAGE) -> tuple[list[Site], list[Dynamic]]:
    """Every raise site with a readable code, and every construction whose code is not."""
    return _Scan(package).sites()

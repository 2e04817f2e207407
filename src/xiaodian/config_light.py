"""The settings as ``xiaodian config`` and ``xiaodian call`` read them, without pydantic (K5).

Importing pydantic and pydantic-settings and building the settings models costs more than
the rest of ``xiaodian config`` together (docs/benchmarks.md, K5 third pass). What those
commands need is small: every variable's default and meaning, and the values of the few
variables the environment sets. So the *catalogue* — per variable, what
``describe(Settings.model_construct())`` says (name, default as printed, meaning) and how
pydantic-settings reads its value (its type: ``str``, ``int``, ``float``, ``bool`` or a
choice of strings; its bounds; whether a validator of ``config.py`` reads it) — is derived
from :class:`xiaodian.config.Settings` itself, by pydantic, the first time a command needs it
(``store``), and kept beside the bytecode (``__pycache__/settings.<hash>.json``, the hash of
``config.py`` and of the installed pydantic), so any change of ``config.py`` rebuilds it.

``read`` reads the environment as pydantic-settings does, for what it can be sure of:
variables named in any case (``XIAODIAN_`` prefix, groups nested with ``__``), a plain string,
a decimal integer or number, ``true``/``false``/``1``/``0``, one of a choice's strings, inside
the field's bounds. Anything else — another spelling of a value, a bound crossed, a variable
a validator reads, a whole group given as JSON, one variable set under two spellings — and it
answers None: the caller then builds ``Settings``, whose answer (or error, K6) is the one that
counts. tests/test_K5_config_light.py holds ``read`` equal to ``Settings`` on many
environments. This module imports only the standard library.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

PREFIX = "XIAODIAN_"
FORMAT = "1"  # bump when the catalogue's shape changes
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_BOUNDS = {"ge": float.__ge__, "gt": float.__gt__, "le": float.__le__, "lt": float.__lt__}


class Row(NamedTuple):
    """One setting as ``config`` prints it: the value as ``str(value)`` and whether the value
    is truthy (``config`` shows a set secret key as ``(set)``)."""

    variable: str
    shown: str
    truthy: bool
    meaning: str


class Catalogue(NamedTuple):
    rows: list[dict[str, Any]]  # describe() order
    groups: list[str]  # XIAODIAN_<GROUP> of every nested model, for JSON-valued groups
    watched: list[str]  # variables, or prefixes ending in "__" (whole groups), validators read


def cache_file() -> Path | None:
    """Where the catalogue of this ``config.py`` (and this pydantic) is kept."""
    here = Path(__file__).parent
    try:
        source = (here / "config.py").read_bytes()
    except OSError:
        return None
    import hashlib

    digest = hashlib.sha256(source)
    digest.update(f"\0{FORMAT}\0{_pydantic_stamp()}".encode())
    return here / "__pycache__" / f"settings.{digest.hexdigest()[:20]}.json"


def _pydantic_stamp() -> str:
    """The installed pydantic's version file (size and time), without importing pydantic."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("pydantic")
        origin = spec.origin if spec is not None else None
        stat = Path(origin).with_name("version.py").stat() if origin else None
    except (ImportError, ValueError, OSError):
        return "?"
    return f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "?"


def load() -> Catalogue | None:
    """The kept catalogue, or None when there is none for this ``config.py`` yet."""
    path = cache_file()
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Catalogue(rows=data["rows"], groups=data["groups"], watched=data["watched"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store() -> Catalogue | None:
    """Derive the catalogue from ``Settings`` (imports pydantic) and keep it; None, without
    deriving it, when the package directory cannot be written."""
    path = cache_file()
    if path is None or not os.access(path.parent.parent, os.W_OK):
        return None  # an installation this user cannot write to: Settings every time
    catalogue = build()
    try:
        path.parent.mkdir(exist_ok=True)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_text(json.dumps(catalogue._asdict(), ensure_ascii=False), encoding="utf-8")
        os.replace(part, path)
        for old in path.parent.glob("settings.*.json"):  # those of earlier config.py
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return catalogue


def read(catalogue: Catalogue, environ: Mapping[str, str] | None = None) -> list[Row] | None:
    """Every setting with its current value, as ``describe(Settings())`` would give them —
    or None when the environment holds anything this reader is not sure of."""
    env: dict[str, str] = {}
    for key, value in (os.environ if environ is None else environ).items():
        lowered = key.lower()
        if lowered.startswith("xiaodian_"):
            if lowered in env:  # one variable under two spellings
                return None
            env[lowered] = value
    known = {row["variable"].lower() for row in catalogue.rows}
    for key in env.keys() - known:
        for group in catalogue.groups:
            if key == group.lower() or key.startswith(group.lower() + "__"):
                return None  # a group as JSON, or a name pydantic-settings might still read
    watched = [name.lower() for name in catalogue.watched]
    if "*" in watched:  # config.py reads the environment otherwise than this reader knows
        return None
    rows: list[Row] = []
    for row in catalogue.rows:
        variable = row["variable"]
        raw = env.get(variable.lower())
        if raw is None:
            rows.append(Row(variable, row["shown"], row["truthy"], row["meaning"]))
            continue
        lowered = variable.lower()
        if any(lowered == n or (n.endswith("_") and lowered.startswith(n)) for n in watched):
            return None  # a validator reads it (a prefix: the whole group)
        value = _parse(raw, row)
        if value is _UNSURE:
            return None
        rows.append(Row(variable, str(value), bool(value), row["meaning"]))
    return rows


_UNSURE = object()


def _parse(raw: str, row: dict[str, Any]) -> Any:
    """``raw`` as pydantic reads it into the row's type, or _UNSURE."""
    kind = row["kind"]
    if kind == "str":
        return raw
    if kind == "choice":
        return raw if raw in row["choices"] else _UNSURE
    value: Any
    if kind == "bool":
        value = _BOOLS.get(raw, _UNSURE)
        return value
    if kind == "int" and _INT.fullmatch(raw):
        value = int(raw)
    elif kind == "float" and _FLOAT.fullmatch(raw):
        value = float(raw)
    else:
        return _UNSURE
    for name, bound in row["bounds"].items():
        if not _BOUNDS[name](float(value), float(bound)):
            return _UNSURE
    return value


# ----- the catalogue from Settings (pydantic) -------------------------------------------------


def build() -> Catalogue:
    """The catalogue of ``Settings`` as pydantic defines it (imports pydantic)."""
    from pydantic import BaseModel

    from xiaodian.config import Settings, describe

    kinds: dict[str, dict[str, Any]] = {}
    groups: list[str] = []
    watched: set[str] = set()

    def walk(model: type[BaseModel], prefix: str) -> None:
        watched.update(_watched(model, prefix))
        for name, field in model.model_fields.items():
            variable = f"{prefix}{name.upper()}"
            if field.alias or field.validation_alias:  # read under another name
                watched.add("*")
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                groups.append(variable)
                walk(field.annotation, variable + "__")
            else:
                kinds[variable] = _kind(field)

    walk(Settings, PREFIX)
    if not _reads_environment_plainly(Settings):
        watched = {"*"}
    rows = [
        {
            "variable": variable,
            "shown": str(value),
            "truthy": bool(value),
            "meaning": meaning,
            **kinds.get(variable, {"kind": "other"}),
        }
        for variable, value, meaning in describe(Settings.model_construct())
    ]
    return Catalogue(rows=rows, groups=groups, watched=sorted(watched))


# The pydantic-settings configuration ``read`` follows (config.py's, and the library's
# defaults); any other makes the catalogue refuse every environment ("*").
_PLAIN_CONFIG = {
    "env_prefix": PREFIX,
    "env_nested_delimiter": "__",
    "case_sensitive": False,
    "env_file": None,
    "secrets_dir": None,
    "env_ignore_empty": False,
    "env_parse_none_str": None,
    "cli_parse_args": None,
    "nested_model_default_partial_update": False,
    "env_nested_max_split": None,
}


def _reads_environment_plainly(settings: Any) -> bool:
    from pydantic_settings import BaseSettings

    config = settings.model_config
    plain = all(config.get(key) == value for key, value in _PLAIN_CONFIG.items())
    own_sources = vars(settings).get("settings_customise_sources")
    return plain and own_sources is None and issubclass(settings, BaseSettings)


def _kind(field: Any) -> dict[str, Any]:
    """How pydantic reads an environment string into this field, when it is a plain type."""
    import types
    import typing

    import annotated_types

    annotation = field.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(rest) != 1:
            return {"kind": "other"}
        annotation = rest[0]
    bounds: dict[str, Any] = {}
    for item in field.metadata:
        limits = {
            name: getattr(item, name)
            for name in ("ge", "gt", "le", "lt")
            if isinstance(item, getattr(annotated_types, name.capitalize()))
        }
        if not limits or not all(isinstance(v, int | float) for v in limits.values()):
            return {"kind": "other"}  # any other constraint: let pydantic judge
        bounds.update(limits)
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        if bounds or not all(isinstance(choice, str) for choice in choices):
            return {"kind": "other"}
        return {"kind": "choice", "choices": list(choices), "bounds": {}}
    if annotation in (str, int, float, bool) and not (bounds and annotation in (str, bool)):
        return {"kind": annotation.__name__, "bounds": bounds}
    return {"kind": "other"}


def _watched(model: Any, prefix: str) -> set[str]:
    """The variables (or whole groups, ``…__``) that a validator of ``model`` reads: for an
    ``after`` model validator, the ``self.a.b`` chains in its source; anything else it might
    read — another validator kind, ``self`` passed on, a source not found — the whole model."""
    decorators = model.__pydantic_decorators__
    found: set[str] = set()
    for decorator in decorators.field_validators.values():
        fields = decorator.info.fields
        if "*" in fields:
            return {prefix}
        found.update(f"{prefix}{name.upper()}" for name in fields)
    if decorators.root_validators or decorators.validators:
        return {prefix}
    if "model_post_init" in vars(model):
        return {prefix}
    for decorator in decorators.model_validators.values():
        if decorator.info.mode != "after":
            return {prefix}
        chains = _self_chains(decorator.func)
        if chains is None:
            return {prefix}
        found.update(_resolve(model, prefix, chain) for chain in chains)
    return found


def _self_chains(func: Any) -> list[list[str]] | None:
    """The attribute chains read from the validator's first argument, or None when it is
    used otherwise (or its source cannot be read)."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(getattr(func, "__func__", func))))
    except (OSError, TypeError, SyntaxError):
        return None
    function = tree.body[0]
    if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or not function.args.args:
        return None
    self_name = function.args.args[0].arg
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(function):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    chains: list[list[str]] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and node.id == self_name:
            chain: list[str] = []
            here: ast.AST = node
            while isinstance(parents.get(here), ast.Attribute):
                here = parents[here]
                assert isinstance(here, ast.Attribute)
                chain.append(here.attr)
            if not chain and not isinstance(parents.get(node), ast.Return):
                return None  # `self` itself handed on (getattr(self, …), a call): anything
            if chain:
                chains.append(chain)
    return chains


def _resolve(model: Any, prefix: str, chain: list[str]) -> str:
    """The variable a chain reads, or the group prefix when it reads more than one field."""
    from pydantic import BaseModel

    for name in chain:
        field = model.model_fields.get(name)
        if field is None:
            return prefix  # a property or method: anything in this model
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, prefix = annotation, f"{prefix}{name.upper()}__"
            continue
        return f"{prefix}{name.upper()}"
    return prefix

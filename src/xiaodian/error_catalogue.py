"""The error catalogue (issue 14, K4): every stable error code, one registry per context.

Each context lists the codes it owns in ``xiaodian/<context>/error_codes.py`` (the
foundation's in ``xiaodian/error_codes.py``) as ``ErrorCode`` entries — code, HTTP status,
Chinese and English message template, the rule it enforces — the way Saleor keeps an error
enum per module. ``docs/errors.md`` is generated from them (``xiaodian errors --markdown``),
and ``tests/test_errors_catalogue.py`` reads the source (``xiaodian.error_scan``) to fail when
a raised code is missing here, an entry is never raised (unless ``reserved``), or the page is
out of date.

A code names one reason and keeps it: clients branch on ``code``, never on the messages, which
may be reworded. Message templates show variable parts as ``{name}``.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

# The registries in the order the page lists them (the foundation first, the dialects last).
CONTEXTS: tuple[str, ...] = (
    "foundation",
    "api",
    "web",
    "accounts",
    "ledger",
    "notify",
    "redpackets",
    "luckybags",
    "service",
    "orders",
    "aftersales",
    "coupons",
    "platform",
    "doudian",
    "laike",
    "storefront",
)
ROOT = Path(__file__).resolve().parents[2]
DOC = "docs/errors.md"
RULES_DOC = "docs/rules.md"
SECURITY_DOC = "docs/security.md"
_RULE = re.compile(r"^[RLOACX][1-9](?:\.[1-9])?$")
_SECURITY = re.compile(r"^S[1-9]$")


@dataclass(frozen=True)
class ErrorCode:
    """One stable code: what it answers and why.

    ``status`` is the HTTP status of ``application/problem+json`` (200 for the platform
    dialects, whose envelopes carry the refusal); ``other_statuses`` lists the rarer statuses
    the same code is also answered with; ``platform`` is the number a dialect's client reads
    (抖店 envelope ``code``, 来客 ``error_code``); ``reserved`` marks a code kept stable for
    clients although nothing raises it today."""

    code: str
    status: int
    message_zh: str
    message_en: str
    rule: str | None = None
    other_statuses: tuple[int, ...] = ()
    platform: int | None = None
    reserved: bool = False


@dataclass(frozen=True)
class Registry:
    context: str
    title: str
    summary: str
    codes: tuple[ErrorCode, ...]


def registry_module(context: str) -> str:
    if context == "foundation":
        return "xiaodian.error_codes"
    return f"xiaodian.{context}.error_codes"


def registries() -> list[Registry]:
    """Every context's registry, in ``CONTEXTS`` order (imports only the registry modules)."""
    found = []
    for context in CONTEXTS:
        module = importlib.import_module(registry_module(context))
        registry: Registry = module.REGISTRY
        found.append(registry)
    return found


def all_codes() -> dict[str, tuple[Registry, ErrorCode]]:
    """code → (its registry, its entry); a code listed twice raises ``ValueError``."""
    found: dict[str, tuple[Registry, ErrorCode]] = {}
    for registry in registries():
        for entry in registry.codes:
            if entry.code in found:
                other = found[entry.code][0].context
                raise ValueError(f"{entry.code} is listed by {other} and {registry.context}")
            found[entry.code] = (registry, entry)
    return found


def lookup(code: str) -> ErrorCode | None:
    """The entry for a code as a client receives it: ``http_405`` is ``http_{status_code}``."""
    catalogue = all_codes()
    if code in catalogue:
        return catalogue[code][1]
    for listed, (_registry, entry) in catalogue.items():
        if "{" in listed:
            pattern = re.sub(r"\\\{[a-z_]+\\\}", "[0-9a-z_]+", re.escape(listed))
            if re.fullmatch(pattern, code):
                return entry
    return None


def anchor(code: str) -> str:
    """The page's anchor for a code: ``isv.sign-invalid`` → ``isv-sign-invalid``,
    ``http_{status_code}`` → ``http_status_code``."""
    return re.sub(r"[^a-z0-9_-]", "-", re.sub(r"[{}]", "", code.lower()))


def _security_anchors(root: Path) -> dict[str, str]:
    """``S2`` → the GitHub anchor of docs/security.md's ``## S2 …`` heading."""
    path = root / SECURITY_DOC
    if not path.is_file():
        return {}
    found = {}
    for heading in re.findall(
        r"^##\s+(S[1-9])\s+(.+?)\s*$", path.read_text(encoding="utf-8"), re.M
    ):
        text = f"{heading[0]} {heading[1]}".lower()
        text = re.sub(r"[^\w\- ]", "", text)
        found[heading[0]] = text.replace(" ", "-")
    return found


def rule_link(rule: str | None, security: dict[str, str]) -> str:
    """A rule id as a link into docs/rules.md (or docs/security.md for S-ids), from docs/."""
    if not rule:
        return ""
    if _RULE.match(rule):
        return f"[{rule}](rules.md#{rule.lower().replace('.', '-')})"
    if _SECURITY.match(rule) and rule in security:
        return f"[{rule}](security.md#{security[rule]})"
    return rule


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _status(entry: ErrorCode) -> str:
    return " / ".join(str(s) for s in (entry.status, *entry.other_statuses))


INTRO = """\
# Error codes 错误码

<!-- Generated by `xiaodian errors --markdown` from the registries in
src/xiaodian/**/error_codes.py; do not edit by hand. -->

Every refusal is `application/problem+json` with a stable `code`, the HTTP `status`, and a
message in Chinese (`message_zh`) and English (`message_en`); a refusal that enforces a rule
names it in `rule`:

```json
{"type": "urn:xiaodian:error:insufficient_funds", "status": 409, "code": "insufficient_funds",
 "message_zh": "…", "message_en": "…"}
```

Branch on `code`: it names one reason and keeps it. The messages below are templates
(`{name}` is filled in) and may be reworded. A `ValidationFailed` (422) may also carry
`errors`, one entry per field. Codes marked *reserved* are kept stable although nothing answers
them today.

The platform dialects answer HTTP 200 with the platform's envelope instead:

* 抖店 (`/doudian/…`): any xiaodian code `X` below is envelope `code` 50002 with `sub_code`
  `isv.business-failed:X` and the Chinese message as `sub_msg`; the dialect's own parameter,
  signature and token errors are listed under [抖店](#doudian).
* 抖音来客 (`/goodlife/v1/…`, `/oauth/…`): `data.error_code` is 2100005 for a not-found,
  invalid-value or authentication code and 2200001 for any other refusal, with xiaodian's
  code in `extra.sub_description`; the dialect's own codes are listed under [来客](#laike).
"""


def render_markdown(root: Path = ROOT) -> str:
    """``docs/errors.md``: one section per context, one anchor per code."""
    security = _security_anchors(root)
    regs = registries()
    all_codes()  # refuses a code listed twice
    lines = [INTRO, "## Contexts", ""]
    for registry in regs:
        lines.append(f"* [{registry.title}](#{registry.context}) — {len(registry.codes)} codes")
    for registry in regs:
        dialect = any(entry.platform is not None for entry in registry.codes)
        lines += [
            "",
            f'## <a id="{registry.context}"></a>{registry.title}',
            "",
            registry.summary,
            "",
        ]
        head = "| Code | HTTP | " + ("Platform | " if dialect else "") + "Message | Rule |"
        lines += [head, "|" + "---|" * (5 if dialect else 4)]
        for entry in sorted(registry.codes, key=lambda e: e.code):
            code = f'<a id="{anchor(entry.code)}"></a>`{entry.code}`'
            if entry.reserved:
                code += " *reserved*"
            message = f"{_cell(entry.message_zh)}<br>{_cell(entry.message_en)}"
            platform = f"{entry.platform or ''} | " if dialect else ""
            link = rule_link(entry.rule, security)
            lines.append(f"| {code} | {_status(entry)} | {platform}{message} | {link} |")
    return "\n".join(lines) + "\n"


def write_markdown(root: Path = ROOT) -> Path:
    path = root / DOC
    path.write_text(render_markdown(root), encoding="utf-8")
    return path

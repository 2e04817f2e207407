"""Full-width punctuation in Chinese UI copy (issue 13 U8): a checker and an idempotent fixer.

Chinese text uses full-width punctuation ，：；！？（） and no spaces around it. This module finds
the half-width ``, : ; ! ? ( )`` that touch a CJK character in

* console templates (``*.html``): text between tags and the user-visible attributes
  (``title``, ``placeholder``, ``alt``, ``aria-label``, ``data-confirm``) — never inside Jinja
  code ``{{ }}``/``{% %}``/``{# #}``, tag names, other attributes, ``<script>``, ``<style>``,
  ``<code>`` or ``<pre>``;
* Python string literals that contain CJK (messages, labels, flashes) — never docstrings,
  comments, raw or bytes literals, format fields ``{…}``, escapes, ``%(name)s`` or text that is
  mostly English.

A pair of parentheses is converted together when either side touches CJK. A line holding
``cn-punct: keep`` is left alone (external formats that must stay byte-exact).

``python tools/cn_punctuation.py`` lists what it would change and exits 1 if anything;
``--fix`` rewrites the files (running it twice changes nothing).
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

FULL = {",": "，", ":": "：", ";": "；", "!": "！", "?": "？", "(": "（", ")": "）"}
KEEP_MARK = "cn-punct: keep"
VISIBLE_ATTRIBUTES = ("title", "placeholder", "alt", "aria-label", "data-confirm")
_SPACES_AFTER = set(",:;!?)")
_QUERY = re.compile(r"[\w.-]+=")


def is_cjk(char: str) -> bool:
    """A CJK ideograph or a full-width/CJK punctuation mark."""
    code = ord(char)
    return (
        0x3400 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x3000 <= code <= 0x303F
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x2FFFF
    )


def _mostly_english(text: str) -> bool:
    cjk = sum(1 for c in text if is_cjk(c))
    letters = len(re.findall(r"[A-Za-z]{2,}", text))
    return cjk == 0 or letters > cjk


OUT, TEXT, HELD = 0, 1, 2  # mask states: not copy / fixable copy / code held inside copy


def fix_text(text: str, mask: list[int]) -> str:
    """Convert the half-width marks at TEXT positions that touch CJK, to a fixed point."""
    chars = list(text)
    ok = list(mask)
    while True:
        chars, ok, changed = _fix_once(chars, ok)
        if not changed:
            return "".join(chars)


def _fix_once(chars: list[str], ok: list[int]) -> tuple[list[str], list[int], bool]:
    def touches(i: int) -> bool:
        before = chars[i - 1] if i > 0 else ""
        after = chars[i + 1] if i + 1 < len(chars) else ""
        if after == " " and chars[i] in ",:;!?" and i > 0 and ok[i - 1] == HELD:
            # "{amount}, 已退回": after a field, look past the space
            k = i + 1
            while k < len(chars) and chars[k] == " ":
                k += 1
            after = chars[k] if k < len(chars) and ok[k] == TEXT else ""
        return bool(before and is_cjk(before)) or bool(after and is_cjk(after))

    convert: set[int] = set()
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for i, char in enumerate(chars):
        if ok[i] != TEXT or char not in FULL:
            continue
        if char == "(":
            stack.append(i)
        elif char == ")":
            if stack:
                j = stack.pop()
                pairs[i], pairs[j] = j, i
            if touches(i):
                convert.add(i)
            continue
        elif _in_url(chars, i):
            continue
        if touches(i):
            convert.add(i)
    for i in list(convert):
        if i in pairs:
            convert.add(pairs[i])
    if not convert:
        return chars, ok, False
    drop: set[int] = set()
    for i in convert:
        if chars[i] in _SPACES_AFTER:
            k = i + 1
            while k < len(chars) and chars[k] == " " and ok[k] == TEXT:
                k += 1
            if k < len(chars) and k > i + 1 and ok[k] != OUT and not chars[k].isspace():
                drop.update(range(i + 1, k))
        if chars[i] != ")":
            k = i - 1
            while k >= 0 and chars[k] == " " and ok[k] == TEXT:
                k -= 1
            if k >= 0 and k < i - 1 and ok[k] != OUT and not chars[k].isspace():
                drop.update(range(k + 1, i))
    new_chars: list[str] = []
    new_ok: list[int] = []
    for i, char in enumerate(chars):
        if i in drop:
            continue
        new_chars.append(FULL[char] if i in convert else char)
        new_ok.append(ok[i])
    return new_chars, new_ok, True


def _in_url(chars: list[str], i: int) -> bool:
    """``https://…`` and ``…?a=1``: the marks of an address stay as they are."""
    ahead = "".join(chars[i + 1 : i + 40])
    return (chars[i] == ":" and ahead.startswith("//")) or (
        chars[i] == "?" and _QUERY.match(ahead) is not None
    )


# ----- templates -------------------------------------------------------------------------

_TEMPLATE_CODE = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}"
    r"|<(script|style|code|pre)\b.*?</\1\s*>"
    r"|<[^>]*>",
    re.S | re.I,
)
_ATTRIBUTE = re.compile(r"\b(" + "|".join(VISIBLE_ATTRIBUTES) + r')\s*=\s*"([^"]*)"', re.I)
_JINJA_IN_ATTRIBUTE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def template_mask(source: str) -> list[int]:
    ok = [TEXT] * len(source)
    for match in _TEMPLATE_CODE.finditer(source):
        start, end = match.span()
        for i in range(start, end):
            ok[i] = HELD
        if match.group(0).startswith("<") and match.group(1) is None:
            for attr in _ATTRIBUTE.finditer(match.group(0)):
                vstart = start + attr.start(2)
                for i in range(vstart, start + attr.end(2)):
                    ok[i] = TEXT
                for code in _JINJA_IN_ATTRIBUTE.finditer(attr.group(2)):
                    for i in range(vstart + code.start(), vstart + code.end()):
                        ok[i] = HELD
                if vstart + len(attr.group(2)) < len(ok):
                    ok[vstart + len(attr.group(2))] = OUT  # the closing quote
    _keep_lines(source, ok)
    return ok


def _keep_lines(source: str, ok: list[int]) -> None:
    offset = 0
    for line in source.splitlines(keepends=True):
        if KEEP_MARK in line:
            for i in range(offset, offset + len(line)):
                ok[i] = OUT
        offset += len(line)


def fix_template(source: str) -> str:
    return fix_text(source, template_mask(source))


# ----- Python ----------------------------------------------------------------------------

_PREFIX = re.compile(r"^([A-Za-z]*)('''|\"\"\"|'|\")", re.S)
_FIELD = re.compile(r"\{\{|\}\}|\{[^{}]*\}|\\.|%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc]", re.S)


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


_DOC_KEYWORDS = frozenset({"description", "help", "summary", "doc"})


def _docs_keyword_spans(tree: ast.AST) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Spans of ``description=``/``help=`` values: API and CLI documentation, not UI copy."""
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in _DOC_KEYWORDS:
            value = node.value
            end = (value.end_lineno or value.lineno, value.end_col_offset or 0)
            spans.append(((value.lineno, value.col_offset), end))
    return spans


def _literal_spans(source: str) -> Iterator[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions (row, col) of every string literal, f-strings whole."""
    depth = 0
    start: tuple[int, int] | None = None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        name = tokenize.tok_name[tok.type]
        if name == "FSTRING_START":
            if depth == 0:
                start = tok.start
            depth += 1
        elif name == "FSTRING_END":
            depth -= 1
            if depth == 0 and start is not None:
                yield start, tok.end
        elif tok.type == tokenize.STRING and depth == 0:
            yield tok.start, tok.end


def _data_literal_spans(tree: ast.AST) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Literals turned into bytes (``"…".encode()``): file contents, not UI copy."""
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "encode":
            value = node.value
            end = (value.end_lineno or value.lineno, value.end_col_offset or 0)
            spans.append(((value.lineno, value.col_offset), end))
    return spans


def python_mask(source: str) -> list[int]:
    ok = [OUT] * len(source)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ok
    docstrings = _docstring_lines(tree)
    documentation = _docs_keyword_spans(tree) + _data_literal_spans(tree)
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return line_starts[pos[0] - 1] + pos[1]

    for begin, end in _literal_spans(source):
        if begin[0] in docstrings or any(s <= begin < e for s, e in documentation):
            continue
        a, b = offset(begin), offset(end)
        literal = source[a:b]
        match = _PREFIX.match(literal)
        if not match:
            continue
        prefix, quote = match.group(1).lower(), match.group(2)
        if "r" in prefix or "b" in prefix:
            continue
        body_start = a + match.end()
        body_end = b - len(quote)
        body = source[body_start:body_end]
        if _mostly_english(_FIELD.sub(" ", body)) or _looks_like_data(body):
            continue
        for i in range(body_start, body_end):
            ok[i] = TEXT
        for field in _FIELD.finditer(body):
            for i in range(body_start + field.start(), body_start + field.end()):
                ok[i] = HELD
    _keep_lines(source, ok)
    return ok


def _looks_like_data(body: str) -> bool:
    """CSV rows ("订单号,快递公司,快递单号\\n"), paths and URLs are data, not copy."""
    return body.startswith("/") or "://" in body or ("\\n" in body and "," in body)


def fix_python(source: str) -> str:
    return fix_text(source, python_mask(source))


# ----- files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    before: str
    after: str


DEFAULT_ROOTS = ("src",)


def candidate_files(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".html") and "__pycache__" not in path.parts:
                yield path


def fixed(path: Path, source: str) -> str:
    if path.suffix == ".html":
        return fix_template(source)
    if path.name in ("cn_punctuation.py", "test_U8_punctuation.py"):
        return source  # the checker and its tests name the marks on purpose
    if path.name == "rules_text.py":
        return source  # generated from docs/rules.md (English with Chinese quotes), kept equal
    return fix_python(source)


def check(roots: Iterable[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for path in candidate_files(roots):
        source = path.read_text(encoding="utf-8")
        after = fixed(path, source)
        if after == source:
            continue
        old_lines, new_lines = source.splitlines(), after.splitlines()
        for number, (old, new) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
            if old != new:
                findings.append(Finding(path, number, old.strip(), new.strip()))
    return findings


def fix(roots: Iterable[Path]) -> list[Path]:
    changed: list[Path] = []
    for path in candidate_files(roots):
        source = path.read_text(encoding="utf-8")
        after = fixed(path, source)
        if after != source:
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("paths", nargs="*", help="files or folders (default: src and tests)")
    parser.add_argument("--fix", action="store_true", help="rewrite the files in place")
    args = parser.parse_args(argv)
    roots = [Path(p) for p in args.paths] or [Path(p) for p in (*DEFAULT_ROOTS, "tests")]
    roots = [r for r in roots if r.exists()]
    if args.fix:
        for path in fix(roots):
            print(f"fixed {path}")
        return 0
    findings = check(roots)
    for f in findings:
        print(f"{f.path}:{f.line}: {f.before}\n    → {f.after}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

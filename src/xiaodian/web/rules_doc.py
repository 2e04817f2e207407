"""Read ``docs/rules.md`` into rule entries and write them as ``web/rules_text.py`` (U5).

``docs/rules.md`` is the one source of the rule texts. The console's legend page 规则说明 and
the rule badges' tooltips read the generated module (the package does not ship ``docs/``);
``tests/web/test_U5_labels.py`` fails when the module and the document disagree. Regenerate
with::

    python -m xiaodian.web.rules_doc docs/rules.md > src/xiaodian/web/rules_text.py

The Chinese text of every rule comes from ``docs/rules.zh-CN.md`` beside it (the same ids and
anchors, read by the same parser): the console shows a merchant the rules in Chinese, with the
English names kept as a subtitle.

Rule entries: every ``### <a id="r1"></a>R1 Issuance 发放`` heading (its section body is the
text), every ``- <a id="a2-1"></a>**A2.1 …** (中文名): …`` bullet and every numbered
``1. <a id="c2-1"></a>…`` criterion (C2.1–C2.7, named 审核标准第 n 条 after their parent).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

_CJK = r"[\u3400-\u9fff\uff00-\uffef]"
_HEADING = re.compile(r'^###\s+<a id="([a-z0-9-]+)"></a>([A-Z]\d+)\s+(.*)$')
_SUB = re.compile(r'^(?:-|\d+\.)\s+<a id="([a-z0-9-]+)"></a>(.*)$')
_SECTION = re.compile(r"^##\s+(?!#)(.*)$")


@dataclass(frozen=True)
class Rule:
    """One rule of ``docs/rules.md``: id (``A2.3``), anchor (``a2-3``), English and Chinese
    names, the section it belongs to, and its text as paragraphs (markdown inline) — in English
    and, from ``docs/rules.zh-CN.md``, in Chinese."""

    id: str
    anchor: str
    name_en: str
    name_zh: str
    section: str
    paragraphs: tuple[str, ...]
    section_zh: str = ""
    paragraphs_zh: tuple[str, ...] = ()


def _split_name(title: str) -> tuple[str, str]:
    """``Issuance 发放`` → (``Issuance``, ``发放``); ``Live streams and lucky bags 直播 / 福袋``
    → (``Live streams and lucky bags``, ``直播 / 福袋``): the Chinese name is what follows the
    last Latin letter."""
    match = re.search(r"^(.*[A-Za-z0-9)])\s+([^A-Za-z]*)$", title.strip())
    if match and re.search(_CJK, match.group(2)):
        return match.group(1).strip(), match.group(2).strip()
    return title.strip(), " · ".join(re.findall(rf"{_CJK}+", title))


def _join(lines: list[str]) -> str:
    """Wrapped lines as one paragraph: a space between Latin words, none where a Chinese
    character or full-width mark meets the line break (the Chinese text is not spaced)."""
    out = ""
    for line in lines:
        if out and not (re.search(f"{_CJK}$", out) or re.match(_CJK, line)):
            out += " "
        out += line
    return out


def _paragraphs(lines: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped == "---":
            if current:
                out.append(_join(current))
                current = []
            continue
        if re.match(r"^(?:-|\d+\.)\s", stripped) and current:
            out.append(_join(current))
            current = []
        current.append(re.sub(r'<a id="[a-z0-9-]+"></a>', "", stripped))
    if current:
        out.append(_join(current))
    return tuple(p for p in out if p)


def _sub_rule(anchor: str, rest: str, parent: Rule | None, section: str, n: int) -> Rule:
    rule_id = anchor.upper().replace("-", ".")
    bold = re.match(
        r"\*\*(?:[A-Z]\d+\.\d+\s+)?(.*?)\*\*\s*(?:[(（](.*?)[)）])?\s*[:：]?\s*(.*)$", rest
    )
    if bold:
        en, zh, text = bold.group(1), bold.group(2) or "", bold.group(3)
    else:
        en, zh, text = "", "", rest
    if not zh and parent is not None:
        zh = f"{parent.name_zh}标准第 {n} 条"
    return Rule(rule_id, anchor, en.strip(), zh.strip(), section, (text.strip(),))


def parse(markdown: str) -> dict[str, Rule]:
    """Every rule of the document, in document order."""
    rules: dict[str, Rule] = {}
    section = ""
    current: tuple[str, str, str, str] | None = None  # id, anchor, en, zh
    body: list[str] = []
    subs: list[tuple[str, str, int]] = []  # anchor, first line, number

    def close() -> None:
        if current is None:
            return
        rule_id, anchor, en, zh = current
        parent = Rule(rule_id, anchor, en, zh, section, _paragraphs(body))
        rules[rule_id] = parent
        for sub_anchor, sub_text, n in subs:
            sub = _sub_rule(sub_anchor, sub_text, parent, section, n)
            rules[sub.id] = sub

    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _HEADING.match(line)
        new_section = _SECTION.match(line)
        if heading or new_section:
            close()
            current, body, subs = None, [], []
            if new_section:
                section = new_section.group(1).strip()
            else:
                assert heading is not None
                en, zh = _split_name(heading.group(3))
                current = (heading.group(2), heading.group(1), en, zh)
            i += 1
            continue
        if current is not None:
            body.append(line)
            sub = _SUB.match(line.strip())
            if sub:
                text = [sub.group(2)]
                j = i + 1
                while j < len(lines) and lines[j][:1].isspace() and lines[j].strip():
                    text.append(lines[j].strip())
                    j += 1
                subs.append((sub.group(1), _join(text), len(subs) + 1))
        i += 1
    close()
    return rules


def with_chinese(rules: dict[str, Rule], chinese: dict[str, Rule]) -> dict[str, Rule]:
    """``rules`` (parsed from ``docs/rules.md``) with the section names and texts of the same
    ids in ``docs/rules.zh-CN.md``; an id missing from either document fails here."""
    if set(rules) != set(chinese):
        missing = sorted(set(rules) ^ set(chinese))
        raise ValueError(f"docs/rules.md and docs/rules.zh-CN.md differ in rule ids: {missing}")
    return {
        rule_id: replace(
            rule,
            section_zh=chinese[rule_id].section,
            paragraphs_zh=chinese[rule_id].paragraphs,
        )
        for rule_id, rule in rules.items()
    }


def parse_both(path: Path) -> dict[str, Rule]:
    """The rules of ``path`` (``docs/rules.md``) with the Chinese texts of its sibling."""
    chinese = path.with_name(f"{path.stem}.zh-CN{path.suffix}")
    return with_chinese(
        parse(path.read_text(encoding="utf-8")), parse(chinese.read_text(encoding="utf-8"))
    )


def module_source(rules: dict[str, Rule]) -> str:
    """The text of ``rules_text.py`` for these rules."""
    out = [
        '"""The rules of ``docs/rules.md`` (generated by ``xiaodian.web.rules_doc``; do not edit:',
        'change the document and regenerate, see that module)."""',
        "",
        "from __future__ import annotations",
        "",
        "from xiaodian.web.rules_doc import Rule",
        "",
        "RULES: dict[str, Rule] = {",
    ]
    for rule in rules.values():
        out.append(f"    {rule.id!r}: Rule(")
        for name in ("id", "anchor", "name_en", "name_zh", "section"):
            out.append(f"        {name}={getattr(rule, name)!r},")
        out.extend(_paragraphs_source("paragraphs", rule.paragraphs))
        out.append(f"        section_zh={rule.section_zh!r},")
        out.extend(_paragraphs_source("paragraphs_zh", rule.paragraphs_zh))
        out.append("    ),")
    out.append("}")
    return "\n".join(out) + "\n"


def _paragraphs_source(name: str, paragraphs: tuple[str, ...]) -> list[str]:
    out = [f"        {name}=("]
    for paragraph in paragraphs:
        chunks = _chunks(paragraph, 70)
        if len(chunks) == 1:
            out.append(f"            {paragraph!r},")
            continue
        out.append("            (")
        out.extend(f"                {chunk!r}" for chunk in chunks)
        out.append("            ),")
    out.append("        ),")
    return out


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _chunks(text: str, width: int) -> list[str]:
    """Cut ``text`` after spaces into pieces of at most about ``width`` columns (wide
    characters count two), so the generated module keeps the line length."""
    pieces: list[str] = []
    current = ""
    for word in re.split(r"(?<= )", text):
        if current and _width(current + word) > width:
            pieces.append(current)
            current = ""
        while _width(word) > width:  # a long run without spaces (Chinese)
            n = 1
            while _width(word[: n + 1]) <= width:
                n += 1
            pieces.append(word[:n])
            word = word[n:]
        current += word
    return [*pieces, current] if current else pieces


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "docs/rules.md")
    sys.stdout.write(module_source(parse_both(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

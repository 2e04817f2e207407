"""K1 (issue 14): the repository is self-contained — every relative link in the READMEs and
docs/ resolves (file and anchor) inside the clone, docs/rules.md documents every rule id the
code cites, and the README links the ids it cites there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from xiaodian.config import Settings, describe

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "rules.md"
PAGES = sorted([*ROOT.glob("README*.md"), *(ROOT / "docs").glob("*.md")])
# The SPEC's rule ids (sections 1–6) and the numbered parts the code cites (A2.3, C2.5).
SPEC_IDS = [
    *(f"R{n}" for n in range(1, 9)),
    *(f"L{n}" for n in range(1, 6)),
    *(f"O{n}" for n in range(1, 10)),
    *(f"A{n}" for n in range(1, 7)),
    *(f"C{n}" for n in range(1, 8)),
    *(f"X{n}" for n in range(1, 4)),
    *(f"A2.{n}" for n in range(1, 5)),
    *(f"C2.{n}" for n in range(1, 8)),
]
RULE_ID = re.compile(r"(?<![\w.#/-])([RLOACX][1-9](?:\.[1-9])?)(?![\w])")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HREF = re.compile(r"""<a\s[^>]*href=["']([^"']+)["']""", re.I)
ANCHOR = re.compile(r"""<a\s[^>]*(?:id|name)=["']([^"']+)["']""", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def anchor_of(rule: str) -> str:
    return rule.lower().replace(".", "-")


def _prose(markdown: str) -> str:
    """The text outside fenced code blocks and inline code spans."""
    without_fences = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", markdown, flags=re.S | re.M)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", without_fences, flags=re.S)


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, tags and punctuation dropped, spaces → '-'."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    markdown = page.read_text(encoding="utf-8")
    found = set(ANCHOR.findall(markdown))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _prose(markdown), flags=re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def relative_links(page: Path) -> list[str]:
    prose = _prose(page.read_text(encoding="utf-8"))
    return [
        target
        for target in [*LINK.findall(prose), *HREF.findall(prose)]
        if not SCHEME.match(target)
    ]


def test_K1_pages_to_check_exist() -> None:
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "README.zh-CN.md", "docs/rules.md", "docs/benchmarks.md"} <= names
    assert "docs/security.md" in names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_K1_every_relative_link_resolves_inside_the_clone(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(f"{target} (no such file in the repository)")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target} (no anchor #{fragment} in {resolved.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_K1_the_link_checker_catches_what_it_must(tmp_path: Path) -> None:
    """The checker itself: a missing file, a missing anchor, a link leaving the clone and a
    link in code are told apart (a checker that passes everything proves nothing)."""
    page = tmp_path / "page.md"
    page.write_text(
        '# Title here\n<a id="x1"></a>\n[a](other.md#nope) [b](#title-here) [c](#x1)\n'
        "`[d](ignored.md)`\n```\n[e](also-ignored.md)\n```\n[f](https://example.com)\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["other.md#nope", "#title-here", "#x1"]
    assert {"title-here", "x1"} <= anchors(page)
    assert slug('<a id="r1"></a>R1 Issuance 发放') == "r1-issuance-发放"
    assert slug("Coupons 卡券 and verification 核销") == "coupons-卡券-and-verification-核销"


def test_K1_rules_page_has_every_rule_with_its_setting_and_seed() -> None:
    text = RULES.read_text(encoding="utf-8")
    found = anchors(RULES)
    missing = [rule for rule in SPEC_IDS if anchor_of(rule) not in found]
    assert not missing, f"docs/rules.md lacks anchors for {missing}"
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    assert len(sections) == 38  # R1–R8, L1–L5, O1–O9, A1–A6, C1–C7, X1–X3
    for section in sections:
        title = section.splitlines()[0]
        assert re.search(r"Seeds? 00\d", section), f"{title}: no seed"
        assert "XIAODIAN_" in section or "*Fixed*" in section, f"{title}: no setting"
    settings = {variable for variable, _, _ in describe(Settings())}
    named = set(re.findall(r"XIAODIAN_[A-Z_]+[A-Z]", text))
    assert named <= settings, f"docs/rules.md names unknown settings {named - settings}"
    ruled = {
        variable
        for variable, _, meaning in describe(Settings())
        if re.match(r"[RLOACX]\d", meaning)
    }
    assert ruled <= named, f"settings of a rule missing from docs/rules.md: {ruled - named}"


def _docstrings() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    found.append((path.relative_to(ROOT).as_posix(), doc))
    return found


def test_K1_every_rule_id_cited_in_a_docstring_is_documented() -> None:
    found = anchors(RULES)
    cited: dict[str, str] = {}
    for where, doc in _docstrings():
        for rule in RULE_ID.findall(doc):
            cited.setdefault(rule, where)
    assert {"R6", "O8", "A3", "C7", "L4", "X2"} <= set(cited)  # the scan sees the citations
    missing = {rule: where for rule, where in cited.items() if anchor_of(rule) not in found}
    assert not missing, f"rule ids cited in src/ docstrings but not in docs/rules.md: {missing}"


def test_K1_readme_links_rules_benchmarks_and_security_not_the_shared_spec() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "shared/SPEC.md" not in readme and "../" not in "".join(LINK.findall(readme))
    for target in ("docs/rules.md", "docs/benchmarks.md", "docs/security.md", "README.zh-CN.md"):
        assert f"]({target}" in readme, f"README does not link {target}"
    prose = re.sub(r"\[[^\]]*\]\([^)]*\)", "", _prose(readme))
    table = re.search(r"<!-- settings-table:start -->.*<!-- settings-table:end -->", prose, re.S)
    cited = set(RULE_ID.findall(prose.replace(table.group(0), "") if table else prose))
    linked = set(re.findall(r"\]\(docs/rules\.md#([a-z0-9-]+)\)", readme))
    unlinked = sorted(rule for rule in cited if anchor_of(rule) not in linked)
    assert not unlinked, f"README cites rule ids it never links to docs/rules.md: {unlinked}"


def test_K1_chinese_readme_for_merchants() -> None:
    text = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "xiaodian demo" in text and "pytest" in text  # the two commands
    for label in ("中奖福袋", "发送兑奖链接", "售后小助手", "已发货仅退款待处理", "导出查询订单"):
        assert label in text, label
    prose = re.sub(r"\([^)]*\)", "", _prose(text))  # links and their targets aside
    chinese_then_ascii = re.findall(r"[\u4e00-\u9fff][,:;]", prose)
    assert not chinese_then_ascii, f"half-width punctuation after Chinese: {chinese_then_ascii}"


def test_K1_cli_messages_link_rules_to_their_anchor() -> None:
    """A refusal the CLI prints names its rule as ``docs/rules.md#<id>``; every such link
    lands on an anchor of the rules page."""
    from xiaodian.cli import _rule_link

    found = anchors(RULES)
    for rule in SPEC_IDS:
        link = _rule_link(rule)
        page, _, fragment = link.removeprefix(" — ").partition("#")
        assert (ROOT / page) == RULES and fragment in found, link

"""K4 (issue 14): the error catalogue — every stable code the product answers is listed, once,
in a context's registry (``xiaodian/<context>/error_codes.py``) and in the generated
``docs/errors.md``.

The source is read, not imported (``xiaodian.error_scan``): every construction of an
``XiaodianError`` subclass, or of a helper that forwards its ``code`` (``_refuse``, the 抖店
``business``), with a literal code is a raise site. These tests fail when a raised code is
missing from the registries, when an entry is raised nowhere and not marked reserved, when a
site's HTTP status disagrees with its entry, when a code cannot be read, and when the page is
out of date — and the scan itself is proved on a small package written here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ShopFixture
from xiaodian.error_catalogue import (
    CONTEXTS,
    DOC,
    ROOT,
    all_codes,
    anchor,
    lookup,
    registries,
    registry_module,
    render_markdown,
)
from xiaodian.error_scan import scan

DIALECTS = ("xiaodian/doudian/", "xiaodian/laike/")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
CODE = re.compile(r"^[a-z][a-z0-9_.-]*(?:\{[a-z_]+\})?$")


@pytest.fixture(scope="module")
def raised() -> tuple[list, list]:
    return scan()


def test_K4_every_raised_code_is_in_a_registry(raised: tuple[list, list]) -> None:
    sites, dynamic = raised
    assert len(sites) > 250, "the scan found too few raise sites to be reading the source"
    catalogue = all_codes()
    missing = sorted(f"{s.code} ({s.path}:{s.line})" for s in sites if s.code not in catalogue)
    assert not missing, "raised but not in any xiaodian/**/error_codes.py: " + ", ".join(missing)
    # A code the scan cannot read is a code nobody can list: write it out, or forward a
    # parameter named `code` from a helper whose callers write it out.
    assert not dynamic, "codes the scan cannot read: " + "; ".join(
        f"{d.path}:{d.line} {d.source}" for d in dynamic
    )


def test_K4_every_registry_entry_is_raised_or_reserved(raised: tuple[list, list]) -> None:
    codes = {s.code for s in raised[0]}
    catalogue = all_codes()
    never = sorted(c for c, (_, e) in catalogue.items() if c not in codes and not e.reserved)
    assert not never, f"listed but raised nowhere (remove, or mark reserved=True): {never}"
    stale = sorted(c for c, (_, e) in catalogue.items() if c in codes and e.reserved)
    assert not stale, f"marked reserved but raised: {stale}"


def test_K4_statuses_agree_with_the_raise_sites(raised: tuple[list, list]) -> None:
    """A site's class decides the HTTP status; the registry must say the same. The dialects
    answer HTTP 200 whatever class a refusal is built from, so their sites are not compared."""
    catalogue = all_codes()
    wrong = []
    for site in raised[0]:
        entry = catalogue[site.code][1]
        if site.path.startswith(DIALECTS):
            continue
        if site.status not in (None, entry.status, *entry.other_statuses):
            wrong.append(f"{site.code}: {site.status} at {site.path}:{site.line}")
    assert not wrong, wrong


def test_K4_registries_are_well_formed() -> None:
    regs = registries()
    assert [r.context for r in regs] == list(CONTEXTS)
    for registry in regs:
        module = registry_module(registry.context).removeprefix("xiaodian.").replace(".", "/")
        assert (ROOT / "src" / "xiaodian" / f"{module}.py").is_file()
    catalogue = all_codes()  # raises on a code listed by two registries
    anchors = [anchor(code) for code in catalogue] + list(CONTEXTS)
    assert len(anchors) == len(set(anchors)), "two codes (or a code and a context) share an anchor"
    for code, (registry, entry) in catalogue.items():
        assert CODE.match(code), code
        assert CHINESE.search(entry.message_zh), f"{code}: message_zh has no Chinese"
        assert entry.message_en and not CHINESE.search(entry.message_en), code
        assert 200 <= entry.status < 600, code
        if registry.context in ("doudian", "laike"):
            assert entry.status == 200 and entry.platform, f"{code}: a dialect code needs both"


def test_K4_docs_errors_md_is_generated_from_the_registries() -> None:
    page = (ROOT / DOC).read_text(encoding="utf-8")
    assert page == render_markdown(), (
        "docs/errors.md is out of date: run `xiaodian errors --markdown -o docs/errors.md`"
    )
    for code in all_codes():
        assert f'<a id="{anchor(code)}"></a>`{code}`' in page, code
    # rule ids link into docs/rules.md (tests/test_links.py checks every anchor resolves)
    assert "](rules.md#c6)" in page
    assert "(errors.md)" in (ROOT / "README.md").read_text(encoding="utf-8").replace(
        "docs/errors.md", "errors.md"
    )


def test_K4_the_cli_prints_the_page_and_the_list(tmp_path: Path) -> None:
    out = tmp_path / "errors.md"
    done = subprocess.run(
        [sys.executable, "-m", "xiaodian.cli", "errors", "--markdown", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == (ROOT / DOC).read_text(encoding="utf-8")
    listed = subprocess.run(
        [sys.executable, "-m", "xiaodian.cli", "errors"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^insufficient_funds\s+409\s+ledger\b", listed.stdout, re.M)
    assert len(listed.stdout.splitlines()) == len(all_codes())


def test_K4_answers_over_http_carry_catalogued_codes(shop: ShopFixture) -> None:
    """Real refusals through the app: each code is in the catalogue with that status."""
    answers = [
        shop.api.client.get("/api/v1/shop"),  # unsigned
        shop.api.get("/api/v1/orders/999999999"),
        shop.api.post("/api/v1/funds/balance/topup", {"amount_fen": -5}),
        shop.api.get("/api/v1/orders?limit=abc"),
        shop.api.request("DELETE", "/api/v1/shop"),
        shop.api.get("/api/v1/orders/99999999999999999999999"),
    ]
    seen = []
    for answer in answers:
        assert answer.status_code >= 400, answer.text
        body = answer.json()
        code = body["code"]
        entry = lookup(code)
        assert entry is not None, f"{code} answered but not catalogued"
        assert answer.status_code in (entry.status, *entry.other_statuses), code
        seen.append(code)
    assert seen == [
        "signature_missing",
        "not_found",
        "invalid_request",
        "invalid_request",
        "http_405",
        "value_out_of_range",
    ]


# ----- the scan itself ------------------------------------------------------------------------


def test_K4_the_scan_reads_classes_helpers_families_and_refuses_dynamic_codes(
    tmp_path: Path,
) -> None:
    """On a package written here: every way the product builds an error is found, with its
    status, and a code built at run time is reported rather than silently skipped."""
    package = tmp_path / "pkg"
    (package / "ctx").mkdir(parents=True)
    (package / "errors.py").write_text(
        textwrap.dedent(
            """
            class XiaodianError(Exception):
                status = 400
                def __init__(self, code, message_zh, message_en, *, rule=None): ...
            class Conflict(XiaodianError):
                status = 409
            class NotFound(XiaodianError):
                status = 404
                def __init__(self, what_zh, what_en):
                    super().__init__("not_found", what_zh, what_en)
            class Platform(XiaodianError):
                status = 200
                def __init__(self, number, sub_code, zh, en):
                    super().__init__(f"p_{number}", zh, en)
            """
        )
    )
    (package / "ctx" / "service.py").write_text(
        textwrap.dedent(
            """
            from pkg.errors import Conflict, NotFound, Platform

            def _refuse(code, zh, en):
                return Conflict(code, zh, en)

            def business(code, zh, en):
                return Platform(50002, f"isv.business-failed:{code}", zh, en)

            def work(flag, reason):
                if flag:
                    raise Conflict("plain", "中", "en", rule="O1")
                raise _refuse("via_helper" if reason else "other_branch", "中", "en")

            def more(exc, name):
                raise NotFound("订单", "Order")
                raise business("in_dialect", "中", "en")
                raise Platform(40001, f"isv.missing-parameter:{name}", "中", "en")
                raise Conflict(exc.code, "中", "en")  # a re-wrap: not a new code
                raise Conflict(name.upper(), "中", "en")  # unreadable
            """
        )
    )
    sites, dynamic = scan(package)
    found = {(s.code, s.status) for s in sites}
    assert {
        ("plain", 409),
        ("via_helper", 409),
        ("other_branch", 409),
        ("not_found", 404),
        ("in_dialect", 200),
        ("isv.business-failed", 200),
        ("isv.missing-parameter", 200),
    } <= found
    assert "_refuse" in {s.builder for s in sites}
    assert [d.source for d in dynamic] == ['Conflict(name.upper(), "中", "en")']

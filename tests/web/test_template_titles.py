"""Every console template's ``title`` block is plain text: it becomes the page's <title>,
where markup would show as text (a page's content once slipped into it)."""

from __future__ import annotations

import re
from pathlib import Path

import xiaodian.web

TEMPLATES = Path(xiaodian.web.__file__).parent / "templates"
TITLE = re.compile(r"{%-?\s*block title\s*-?%}(.*?){%-?\s*endblock", re.S)


def test_D4_title_blocks_hold_no_markup() -> None:
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        for title in TITLE.findall(path.read_text(encoding="utf-8"))
        if "<" in title or "\n" in title.strip()
    ]
    assert offenders == []

"""What an internal code looks like in a console page's visible text (U5), for the HTTP and the
Chromium tests: the enum values of every context that have a Chinese label (built from the
label registry), actors (``user:1``, ``buyer:16`` …) and transitions between ASCII codes."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from xiaodian.web.labels import ENUM_VALUES, GROUPS

# Groups whose values are everyday English words a technical page may legitimately print
# (the 抖店 SDK page explains its ``code`` parameter); they are still labelled and walked.
GENERIC_GROUPS = frozenset({"buyer_message", "verification_channel", "conversation_channel"})


def known_codes() -> frozenset[str]:
    codes: set[str] = set()
    for group, table in GROUPS.items():
        if group in GENERIC_GROUPS:
            continue
        values = set(table) | set(ENUM_VALUES.get(group, ()))
        codes |= {v for v in values if v and table.get(v) != v}
    return frozenset(codes)


ACTOR = re.compile(r"\b(?:user|buyer|app|staff|operator):\w+")
TRANSITION = re.compile(r"\b[a-z][a-z_]*\s*(?:→|->)\s*[a-z][a-z_]*\b")


def code_pattern() -> re.Pattern[str]:
    words = sorted(known_codes(), key=len, reverse=True)
    alternatives = "|".join(re.escape(w) for w in words)
    # Whole tokens only: SF1234567890123 (a tracking number) is not the carrier code SF.
    return re.compile(rf"(?<![\w.:/-])(?:{alternatives})(?![\w-])")


def internal_codes(text: str) -> list[str]:
    """Every internal code found in ``text`` (visible text of a page)."""
    found = [m.group(0) for m in ACTOR.finditer(text)]
    found += [m.group(0) for m in TRANSITION.finditer(text)]
    found += [m.group(0) for m in code_pattern().finditer(text)]
    return found


class _Visible(HTMLParser):
    HIDDEN = frozenset({"script", "style", "head", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The text a reader sees (tags, attributes, scripts and styles left out)."""
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())

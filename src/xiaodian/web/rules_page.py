"""规则说明 (``/console/rules``): every rule id the console cites, with its text (U5).

The rule badges of the console (``labels.rule_badge``) link here, to ``#<anchor>``. The texts
are those of ``docs/rules.zh-CN.md`` (the Chinese version of ``docs/rules.md``, through the
generated ``rules_text`` module); every logged-in account may read them.
"""

from __future__ import annotations

import re
from itertools import groupby

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from xiaodian.web.auth import ConsoleCtx
from xiaodian.web.labels import RULES_PATH
from xiaodian.web.render import render
from xiaodian.web.rules_text import RULES

router = APIRouter(include_in_schema=False)

_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|\[([^\]]+)\]\([^)]+\)")


def inline_markdown(text: str) -> Markup:
    """The inline markdown of the rule texts: `code`, **bold**, *emphasis*, [links](…)
    (kept as their text: the targets are repository paths)."""
    out: list[str] = []
    last = 0
    for match in _INLINE.finditer(text):
        out.append(str(escape(text[last : match.start()])))
        code, bold, em, link = match.groups()
        if code is not None:
            out.append(f"<code>{escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{escape(bold)}</strong>")
        elif em is not None:
            out.append(f"<em>{escape(em)}</em>")
        else:
            out.append(str(escape(link)))
        last = match.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


@router.get(RULES_PATH)
def rules_page(request: Request, console: ConsoleCtx) -> Response:
    sections = [
        (section, list(rules))
        for section, rules in groupby(RULES.values(), lambda r: r.section_zh or r.section)
    ]
    return render(request, "rules/legend.html", sections=sections, md=inline_markdown)

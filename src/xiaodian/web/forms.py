"""One way to show a console form's errors (issue 13 U8): beside the field, the form kept.

A console POST that fails with a 4xx ``XiaodianError`` (or a request validation error) does
not lead to a separate error page: ``errors.py`` calls :func:`form_page`, which renders the
page the form was on again (a GET of the same-site ``Referer``, dispatched in-process) with a
:class:`FormState` in the request scope, and answers with the error's status (422, 409 …).
``render`` puts the state in every page's context; the macros of ``_forms.html`` show

* ``forms.error(name)`` — the field's message beside the field (``.field-error``);
* ``forms.value(name, default)`` — what the user typed (never passwords or the CSRF token);
* ``forms.summary(action)`` — the message of the whole form at its top, and for an unusually
  large amount the question to confirm it (a hidden ``confirm_amount_fen`` field: the next
  submit with the same amount goes through).

Whatever no macro showed on the page (a form not converted yet, a field without a place),
``base.html`` shows in one alert above the page, so no message is ever lost.

Amounts: :func:`fen_from_yuan` is the one 元 → fen conversion of every console form (Decimal,
exact, at most two decimals); :func:`confirm_large_amount` asks to confirm amounts above
``XIAODIAN_CONSOLE__LARGE_AMOUNT_CONFIRM_FEN`` (default ¥10,000.00).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import FormData

from xiaodian.errors import ValidationFailed, XiaodianError, field_error
from xiaodian.money import yuan_label

SCOPE_KEY = "xiaodian.form_state"
CONFIRM_FIELD = "confirm_amount_fen"
MAX_YUAN = Decimal("9999999999.99")  # 10 billion 元: past anything a shop moves at once
_NEVER_KEPT = ("csrf_token", "password", "secret", "token")
_MAX_KEPT_CHARS = 100_000


@dataclass
class FormState:
    """A failed submit: which form, what was typed, what is wrong (field "" = the form)."""

    action: str
    values: dict[str, list[str]]
    errors: dict[str, list[str]]
    message: str
    confirm: dict[str, Any] | None = None
    shown: set[str] = field(default_factory=set)
    active: bool = True  # inside the refused form (``forms.summary`` opens each form)

    def enter(self, action: str | None) -> bool:
        """A form of the page begins: values and errors belong to it only if it was sent."""
        self.active = action is None or action == self.action
        return self.active

    def value(self, name: str) -> str | None:
        kept = self.values.get(name) if self.active else None
        return kept[0] if kept else None

    def chosen(self, name: str) -> list[str]:
        return self.values.get(name, []) if self.active else []

    def error(self, name: str) -> list[str]:
        if not self.active:
            return []
        self.shown.add(name)
        return self.errors.get(name, [])

    def unshown(self) -> list[str]:
        """Messages no macro placed on the page (shown above it by the layout)."""
        return [msg for name, msgs in self.errors.items() if name not in self.shown for msg in msgs]


# ----- amounts ---------------------------------------------------------------------------


def fen_from_yuan(text: str, name: str = "amount", *, label: str = "金额") -> int:
    """'1,234.5' 元 → 123450 fen, exactly (Decimal); refuses a third decimal, signs, words.

    Full-width digits and a leading ¥ are accepted (NFKC): what a merchant pastes."""
    cleaned = unicodedata.normalize("NFKC", str(text)).strip().lstrip("¥￥").replace(",", "")
    if not cleaned:
        raise ValidationFailed(
            "amount_required", f"请填写{label}（元）", f"{label} is required", field=name
        )
    try:
        value: Decimal | None = Decimal(cleaned)
    except InvalidOperation:
        value = None
    # digits and one point only: no sign, exponent, NaN, Infinity or inner spaces
    if value is None or not cleaned.replace(".", "", 1).isdigit():
        raise ValidationFailed(
            "invalid_amount",
            f"{label}格式不正确：{text}，请填写数字，例如 100.00",
            "Not an amount in yuan",
            field=name,
        )
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationFailed(
            "invalid_amount",
            f"{label}最多两位小数",
            "At most two decimals (fen)",
            field=name,
        )
    if value > MAX_YUAN:
        raise ValidationFailed("invalid_amount", f"{label}过大", "Amount too large", field=name)
    return int(value * 100)


class LargeAmountUnconfirmed(XiaodianError):
    """U8: an unusually large amount; the form comes back asking to confirm it."""

    status = 409

    def __init__(self, name: str, fen: int, threshold_fen: int) -> None:
        zh = f"金额 {yuan_label(fen)} 超过 {yuan_label(threshold_fen)}，请核对后再次提交以确认"
        en = f"Amount {fen} fen is above {threshold_fen} fen: submit again to confirm"
        super().__init__(
            "large_amount_unconfirmed", zh, en, field=name, errors=[field_error(name, zh, en)]
        )
        self.fen = fen


def confirm_large_amount(form: Mapping[str, Any], name: str, fen: int, threshold_fen: int) -> None:
    """Refuse an amount above the threshold unless the form confirmed this very amount."""
    if fen <= threshold_fen:
        return
    if str(form.get(CONFIRM_FIELD, "")) == str(fen):
        return
    raise LargeAmountUnconfirmed(name, fen, threshold_fen)


# ----- the failed submit, shown on its page ----------------------------------------------


def errors_by_field(exc: XiaodianError) -> dict[str, list[str]]:
    """Each message under its field; the form's own message under "" unless a field has it."""
    by_field: dict[str, list[str]] = {}
    for err in exc.errors:
        message = str(err.get("message_zh") or err.get("message_en") or "")
        by_field.setdefault(str(err.get("field") or ""), []).append(message)
    if not exc.errors and exc.field:
        by_field[exc.field] = [exc.message_zh]
    placed = [m for msgs in by_field.values() for m in msgs]
    if exc.message_zh not in placed:
        by_field.setdefault("", []).insert(0, exc.message_zh)
    return by_field


def state_of(request: Request | None) -> FormState | None:
    if request is None:
        return None
    state = request.scope.get(SCOPE_KEY)
    return state if isinstance(state, FormState) else None


def build_state(
    request: Request,
    form: FormData | None,
    exc: XiaodianError | None,
    message: str,
    errors: dict[str, list[str]],
) -> FormState:
    values: dict[str, list[str]] = {}
    budget = _MAX_KEPT_CHARS
    for key, value in form.multi_items() if form is not None else []:
        if not isinstance(value, str) or any(word in key.lower() for word in _NEVER_KEPT):
            continue
        budget -= len(value)
        if budget < 0:
            break
        values.setdefault(key, []).append(value)
    confirm = None
    if isinstance(exc, LargeAmountUnconfirmed):
        confirm = {"field": exc.field, "fen": exc.fen}
    return FormState(
        action=request.url.path, values=values, errors=errors, message=message, confirm=confirm
    )


def referer_path(request: Request) -> str | None:
    """The console page the form was on (same site only), with its query."""
    referer = request.headers.get("referer", "")
    if not referer:
        return None
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc != request.url.netloc:
        return None
    if not (parts.path == "/console" or parts.path.startswith("/console/")):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def form_page(request: Request, state: FormState, status: int) -> HTMLResponse | None:
    """The page the form was on, rendered again with ``state``; None when it cannot be."""
    if request.method != "POST" or SCOPE_KEY in request.scope:
        return None
    target = referer_path(request)
    if target is None:
        return None
    path, _, query = target.partition("?")
    scope = dict(request.scope)
    for key in ("route", "endpoint", "path_params", "router"):
        scope.pop(key, None)
    scope.update(
        method="GET",
        path=path,
        raw_path=path.encode(),
        query_string=query.encode(),
        headers=[
            (k, v)
            for k, v in request.scope["headers"]
            if k not in (b"content-type", b"content-length")
        ],
    )
    scope[SCOPE_KEY] = state
    scope["state"] = dict(request.scope.get("state") or {})
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    try:
        await request.app.router(scope, receive, send)
    except Exception:  # the page itself failed: the plain error page answers instead
        return None
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None or start["status"] != 200:
        return None
    headers = dict(start.get("headers") or [])
    if not headers.get(b"content-type", b"").startswith(b"text/html"):
        return None
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return HTMLResponse(body.decode("utf-8"), status_code=status)


def invalid_fields(exc: PydanticValidationError, message_zh: str) -> ValidationFailed:
    """A form validated by a pydantic model (e.g. the order filter): each problem beside its
    field, in Chinese (pydantic's English is not shown to a merchant)."""
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        name = str(loc[0]) if loc else ""
        kind, ctx = err.get("type", ""), err.get("ctx") or {}
        if kind == "time_range":  # OrderFilter: 开始时间 must be before 结束时间
            for prefix in str(ctx.get("ranges", "")).split(", "):
                end = f"{prefix}_to"
                errors.append(field_error(end, "结束时间须晚于开始时间", "End must be after start"))
            continue
        if kind == "string_too_long":
            zh = f"最多 {ctx.get('max_length')} 个字"
        elif kind == "string_too_short":
            zh = f"至少 {ctx.get('min_length')} 个字"
        elif kind.startswith("datetime") or kind.startswith("date_"):
            zh = "时间格式不正确"
        elif kind in ("enum", "literal_error"):
            zh = "请从列表中选择"
        else:
            zh = "格式不正确"
        errors.append(field_error(name, zh, str(err.get("msg", ""))))
    return ValidationFailed(
        "filter_invalid", message_zh, "The form has invalid fields", errors=errors
    )


def keep(request: Request, form: Mapping[str, Any], exc: XiaodianError) -> FormState:
    """For a route that renders its own page after a refusal: the same state the shared
    handler would build, put where ``render`` finds it (errors beside fields, values kept)."""
    errors = errors_by_field(exc)
    values = {
        k: [v]
        for k, v in form.items()
        if isinstance(v, str) and not any(word in k.lower() for word in _NEVER_KEPT)
    }
    state = FormState(action=request.url.path, values=values, errors=errors, message=exc.message_zh)
    if isinstance(exc, LargeAmountUnconfirmed):
        state.confirm = {"field": exc.field, "fen": exc.fen}
    request.scope[SCOPE_KEY] = state
    return state


@contextmanager
def form_fields(**renames: str) -> Iterator[None]:
    """A refusal naming the service's (API) field, placed beside the console form's field that
    stands for it: ``with form_fields(extension_seconds="days"): service.extend(...)``."""
    try:
        yield
    except XiaodianError as exc:
        if exc.field in renames:
            exc.field = renames[exc.field]
        for error in exc.errors:
            if error.get("field") in renames:
                error["field"] = renames[error["field"]]
        raise

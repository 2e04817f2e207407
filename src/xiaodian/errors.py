"""One exception hierarchy with stable codes and bilingual messages.

Every refusal carries its reason (the django-oscar idea): routes turn these into
``application/problem+json`` responses; the console shows ``message_zh``.
"""

from __future__ import annotations

from typing import Any


class XiaodianError(Exception):
    status = 400

    def __init__(
        self,
        code: str,
        message_zh: str,
        message_en: str,
        *,
        field: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        rule: str | None = None,
    ) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.field = field
        self.errors = errors or []
        self.rule = rule

    def to_problem(self) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": f"urn:xiaodian:error:{self.code}",
            "title": self.message_en,
            "status": self.status,
            "code": self.code,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }
        if self.field:
            problem["field"] = self.field
        if self.errors:
            problem["errors"] = self.errors
        if self.rule:
            problem["rule"] = self.rule
        return problem


class ValidationFailed(XiaodianError):
    status = 422


class NotFound(XiaodianError):
    status = 404

    def __init__(self, what_zh: str, what_en: str, ident: object = None) -> None:
        suffix = f" {ident}" if ident is not None else ""
        super().__init__("not_found", f"{what_zh}{suffix}不存在", f"{what_en}{suffix} not found")


class AuthFailed(XiaodianError):
    status = 401


class PermissionDenied(XiaodianError):
    status = 403


class Conflict(XiaodianError):
    status = 409


class InsufficientFunds(Conflict):
    pass


def field_error(field: str, zh: str, en: str) -> dict[str, Any]:
    """One entry of ``ValidationFailed.errors``: which field, and why, in both languages."""
    return {"field": field, "message_zh": zh, "message_en": en}


# A number the database cannot hold (an id of 10**20, an amount past BIGINT) is the caller's
# mistake, not a server fault: SQLite's driver raises OverflowError, PostgreSQL a DataError.
def out_of_range() -> ValidationFailed:
    return ValidationFailed(
        "value_out_of_range",
        "请求中的数值超出允许范围",
        "A number in the request is out of the allowed range",
    )


def nul_character() -> ValidationFailed:
    """S7: text with a NUL character (U+0000), which PostgreSQL cannot store."""
    return ValidationFailed(
        "nul_character",
        "文本中不能包含空字符（U+0000）",
        "Text must not contain the NUL character (U+0000)",
    )


def is_nul_error(exc: BaseException) -> bool:
    """The database driver refused a NUL character (psycopg: "cannot contain NUL")."""
    return "NUL" in str(exc)

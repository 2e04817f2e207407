"""Strict request bodies (issue 11, S7): integers are JSON integers, text holds no NUL.

Pydantic's default ("lax") mode takes ``true`` as 1, ``"100"`` as 100 and ``1e3``/``1.0`` as
1000/1: ``{"amount_fen": true}`` topped up one fen and ``{"extension_seconds": true}`` spent a
red packet's only extension on one second. Every integer of every request body — ids,
quantities, money in fen, durations — is a ``StrictInt``: only a JSON integer passes; anything
else is a 422 naming the field.

Every request body derives from ``RequestModel``: a NUL character (U+0000) anywhere in its text
is refused with its own error (``nul_character``) instead of reaching the database (PostgreSQL
cannot store it; the driver's error used to surface as "number out of range").

``tests/api/test_s7_strict_types.py`` walks every request schema of /openapi.json and proves
each integer refuses ``true`` and ``"1"``: a new, loose ``int`` fails that test.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Strict, field_validator
from pydantic_core import PydanticCustomError

StrictInt = Annotated[int, Strict()]

NUL_MESSAGE_EN = "Text must not contain the NUL character (U+0000)"
NUL_MESSAGE_ZH = "文本中不能包含空字符（U+0000）"


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class RequestModel(BaseModel):
    """Base of every request body (S7): no NUL character in any text."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise PydanticCustomError("nul_character", NUL_MESSAGE_EN)
        return value

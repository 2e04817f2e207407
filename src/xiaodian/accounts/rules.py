"""Pure decisions about console logins (issue 11 S4): the password rule and the lockout."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from xiaodian.errors import field_error

PASSWORD_MAX_LENGTH = 128


def password_problems(password: str, min_length: int) -> list[dict[str, Any]]:
    """S4: why ``password`` may not be used (empty list: it may). Refused: shorter than
    ``min_length``, longer than 128, only whitespace, one character repeated."""
    password = password or ""
    if len(password) < min_length:
        zh, en = f"密码至少{min_length}位", f"Password needs at least {min_length} characters"
        return [field_error("password", zh, en)]
    if len(password) > PASSWORD_MAX_LENGTH:
        zh = f"密码最多{PASSWORD_MAX_LENGTH}位"
        en = f"Password may have at most {PASSWORD_MAX_LENGTH} characters"
        return [field_error("password", zh, en)]
    if not password.strip():
        zh, en = "密码不能只包含空白字符", "Password cannot be only whitespace"
        return [field_error("password", zh, en)]
    if len(set(password)) == 1:
        zh = "密码不能由同一个字符重复组成"
        en = "Password cannot be one character repeated"
        return [field_error("password", zh, en)]
    return []


def lockout_seconds(failures: int, threshold: int, base_seconds: int, max_seconds: int) -> int:
    """S4 backoff: no lockout below ``threshold`` failures; at the threshold ``base_seconds``,
    doubling with each further failure, never more than ``max_seconds``."""
    if failures < threshold:
        return 0
    doublings = min(failures - threshold, 32)
    return int(min(base_seconds * (2**doublings), max_seconds))


def locked_until(
    failures: int, last_failure: datetime | None, threshold: int, base: int, cap: int
) -> datetime | None:
    """When a lockout caused by ``failures`` (the latest at ``last_failure``) ends; ``None``
    when there is none."""
    seconds = lockout_seconds(failures, threshold, base, cap)
    if seconds == 0 or last_failure is None:
        return None
    return last_failure + timedelta(seconds=seconds)

"""Money is an integer number of fen (分); 1 yuan = 100 fen. No floats, anywhere."""

from __future__ import annotations

import re

from xiaodian.errors import ValidationFailed

_YUAN = re.compile(r"^\s*(-)?(\d{1,12})(?:\.(\d{1,2}))?\s*$")


def yuan(fen: int) -> str:
    """Format fen as yuan with two decimals: 1050 → '10.50', -5 → '-0.05'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def yuan_label(fen: int) -> str:
    return f"¥{yuan(fen)}"


def parse_yuan(text: str, field: str = "amount") -> int:
    """Parse '10', '10.5', '10.50' into fen exactly (no float on the way)."""
    match = _YUAN.match(text)
    if not match:
        raise ValidationFailed(
            "invalid_amount",
            f"金额格式不正确：{text!r}（最多两位小数）",
            f"Invalid amount {text!r} (at most two decimals)",
            field=field,
        )
    negative, whole, frac = match.groups()
    fen = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    return -fen if negative else fen


def percent_of(fen: int, percent: int) -> int:
    """The smallest fen amount that is ≥ percent% of fen (ceiling, exact integer math)."""
    return -((-fen * percent) // 100)

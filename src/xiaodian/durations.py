"""Durations as people type them (``90s``, ``15m``, ``6h``, ``1d``, ``2w``).

Standard library only, so the CLI can read ``--advance`` without importing SQLAlchemy (K5,
issue 14); ``xiaodian.clock`` re-exports ``parse_duration``."""

from __future__ import annotations


def parse_duration(text: str) -> int:
    """'90', '90s', '15m', '6h', '1d', '2w' → seconds. Used by the CLI."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError as exc:
        raise ValueError(f"bad duration {text!r}; use e.g. 90s, 15m, 6h, 1d") from exc

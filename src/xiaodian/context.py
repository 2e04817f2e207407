"""What every service operation receives: its transaction, its instant, the settings, who acts.

"now" is read from the clock once per operation, so every row an operation writes agrees on
the time, and a sweep run at a given instant is repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from xiaodian.config import Settings


@dataclass
class Ctx:
    session: Session
    now: datetime
    settings: Settings
    actor: str = "system"  # "user:12", "app:3", "buyer:7", "staff:4", "system"

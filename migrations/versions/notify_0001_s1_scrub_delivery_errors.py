"""notify: S1 — the delivery log keeps an error class, never the receiver's words

Before S1 a failed delivery stored ``HTTP 500: <first 200 bytes of the receiver's reply>`` or
``ConnectError: <exception text>``. This keeps only the class (``HTTP 500``, ``ConnectError``)
in the rows already written. Data only; there is nothing to put back on downgrade.

Revision ID: notify_0001
Revises: 0001
Create Date: 2026-12-07 10:15:00
"""

from __future__ import annotations

from alembic import op

revision = "notify_0001"
down_revision = "0001"
branch_labels = ("notify",)
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE webhook_deliveries SET last_error = 'HTTP ' || CAST(last_status_code AS VARCHAR)"
        " WHERE last_error LIKE 'HTTP %' AND last_status_code IS NOT NULL"
    )
    cut = (
        "split_part(last_error, ':', 1)"
        if op.get_bind().dialect.name == "postgresql"
        else "substr(last_error, 1, instr(last_error, ':') - 1)"
    )
    op.execute(
        f"UPDATE webhook_deliveries SET last_error = {cut}"
        " WHERE last_error LIKE '%:%' AND last_error NOT LIKE 'HTTP %'"
    )


def downgrade() -> None:
    pass

"""Error codes of the ledgers context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="ledger",
    title="Ledgers 账本",
    summary="Balance and deposit accounts.",
    codes=(
        ErrorCode(
            "idempotency_key_reused",
            409,
            "幂等键 {key} 已用于另一笔不同的资金变动",
            "Idempotency key {key} was already used for a different movement",
        ),
        ErrorCode(
            "insufficient_funds",
            409,
            "{label}不足：需要 {need}，可用 {available}",
            "Insufficient {account}: need {need}, available {available}",
        ),
        ErrorCode(
            "invalid_account",
            422,
            "只能充值到账户余额或保证金",
            "Top up the balance or the deposit only",
        ),
        ErrorCode(
            "invalid_amount",
            422,
            "金额必须是正整数（分）",
            "Amount must be a positive integer (fen)",
        ),
        ErrorCode("invalid_legs", 422, "一笔资金变动至少两条分录", "A movement needs ≥ 2 legs"),
        ErrorCode("unbalanced", 422, "分录借贷不平衡", "Legs do not sum to zero"),
    ),
)

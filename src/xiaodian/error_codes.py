"""Error codes of the foundation context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="foundation",
    title="Foundation 基础",
    summary="Errors any part of the product can answer: bad values, missing records.",
    codes=(
        ErrorCode(
            "clock_backwards",
            409,
            "模拟时钟不能回拨（当前 {now}）",
            "The simulated clock cannot move backwards (now {now})",
        ),
        ErrorCode(
            "clock_not_simulated",
            409,
            "系统时钟模式下不能快进时间（设置 XIAODIAN_CLOCK_MODE=simulated）",
            "Time can only be advanced with XIAODIAN_CLOCK_MODE=simulated",
        ),
        ErrorCode("not_found", 404, "{what} {id}不存在", "{what} {id} not found"),
        ErrorCode(
            "nul_character",
            422,
            "文本中不能包含空字符（U+0000）",
            "Text must not contain the NUL character (U+0000)",
            rule="S7",
        ),
        ErrorCode(
            "value_out_of_range",
            422,
            "请求中的数值超出允许范围",
            "A number in the request is out of the allowed range",
        ),
    ),
)

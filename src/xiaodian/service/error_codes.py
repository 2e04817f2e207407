"""Error codes of the 飞鸽 customer-service console context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="service",
    title="飞鸽 console 客服",
    summary="The customer-service console and its win actions.",
    codes=(
        ErrorCode(
            "action_not_allowed",
            409,
            "中奖记录为{WIN_STATUS_LABELS}，请使用「{label}」",
            "The win is {value}; use {name} instead of {wanted}",
            rule="L4",
        ),
        ErrorCode(
            "invalid_channel",
            422,
            "不支持的进线渠道 {channel}",
            "Unknown channel {channel}; one of {CHANNELS}",
        ),
        ErrorCode(
            "invalid_message",
            422,
            "消息须为1-{MAX_TEXT}个字符",
            "A message is 1–{MAX_TEXT} characters",
        ),
        ErrorCode(
            "live_entry_unavailable",
            409,
            "店铺当前未开播，请发送直播预告",
            "{kind} is not available now",
            rule="L5",
        ),
        ErrorCode(
            "lucky_bags_unavailable",
            409,
            "仅当消费者通过抖音或抖音极速版进线、且本店铺参加过福袋活动时，才能查看中奖福袋",
            "Lucky bags are shown only for Douyin / Douyin Lite conversations of shops that ran lucky bags",
            rule="L4",
        ),
        ErrorCode(
            "shop_not_bound",
            409,
            "店铺未与抖音号唯一绑定（人店一体），不能发送直播链接或预告",
            "The shop is not bound to a Douyin account",
            rule="L5",
        ),
    ),
)

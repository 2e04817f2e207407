"""Error codes of the lucky bags context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="luckybags",
    title="Lucky bags 福袋",
    summary="Live streams, lucky bags and redemption.",
    codes=(
        ErrorCode(
            "already_live",
            409,
            "店铺正在直播「{title}」，请先结束",
            "The shop is already live; end that stream first",
        ),
        ErrorCode(
            "already_redeemed", 409, "该奖品已兑换", "This win was already redeemed", rule="L2"
        ),
        ErrorCode(
            "douyin_account_taken",
            409,
            "抖音号 {account} 已与其他店铺绑定（人店一体须唯一绑定）",
            "Douyin account {account} is bound to another shop",
            rule="L5",
        ),
        ErrorCode(
            "invalid_douyin_account",
            422,
            "抖音号须为2-64位字母、数字、下划线或点",
            "A Douyin account is 2–64 letters, digits, '_' or '.'",
            rule="L5",
        ),
        ErrorCode("invalid_live", 422, "直播信息有误", "Invalid live stream"),
        ErrorCode("invalid_lucky_bag", 422, "福袋信息有误", "Invalid lucky bag", rule="L1"),
        ErrorCode("invalid_redemption", 422, "兑奖信息有误", "Invalid redemption", rule="L2"),
        ErrorCode("invalid_time", 422, "时间格式不正确", "Invalid date/time"),
        ErrorCode("live_not_live", 409, "直播未在进行中", "The live stream is not live", rule="L1"),
        ErrorCode(
            "live_not_startable",
            409,
            "直播{LIVE_STATE_LABELS}，不能开播",
            "The live stream is {state}; it cannot start",
        ),
        ErrorCode(
            "lucky_bag_closed", 409, "福袋已开奖，不能参与", "The lucky bag was drawn", rule="L1"
        ),
        ErrorCode(
            "redeem_failed",
            409,
            "兑奖失败：{fail_reason}。{SUPPORT_HINT}",
            "Redemption failed ({fail_code}); please contact platform support",
            rule="L3",
        ),
        ErrorCode(
            "redeem_window_closed",
            409,
            "已超过兑奖期限，不能兑奖",
            "The redemption window has closed",
            rule="L2",
        ),
        ErrorCode(
            "risk_rejected",
            409,
            "兑奖失败：{fail_reason}。{SUPPORT_HINT}",
            "Redemption refused by risk control; please contact platform support",
            rule="L3",
        ),
    ),
)

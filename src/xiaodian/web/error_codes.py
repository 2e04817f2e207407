"""Error codes of the console context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="web",
    title="Console 控制台",
    summary="The merchant console in the browser.",
    codes=(
        ErrorCode(
            "push_scope_missing",
            409,
            "该应用没有订单（orders）、售后（aftersales）或 Webhook 权限范围，收不到任何消息",
            "The app has none of the orders, aftersales or webhooks scopes",
            rule="D4",
        ),
        ErrorCode(
            "filter_invalid",
            422,
            "筛选条件有误，请按提示修改",
            "The filter has invalid fields",
            rule="U8",
        ),
        ErrorCode("login_required", 401, "需要登录控制台", "Console login required"),
        ErrorCode(
            "csrf_failed",
            403,
            "页面已过期，请刷新后重试",
            "The page has expired (CSRF token missing or wrong); reload and try again",
        ),
        ErrorCode(
            "sim_duration_invalid",
            422,
            "快进时长无效：{text}，例如 90m、6h、3d（最多 400 天）",
            "Bad duration {text}: use e.g. 90m, 6h, 3d (at most 400 days)",
            rule="U7",
        ),
        ErrorCode(
            "password_mismatch", 422, "两次输入的新密码不一致", "The two new passwords differ"
        ),
        ErrorCode(
            "large_amount_unconfirmed",
            409,
            "金额 {amount} 超过 {threshold}，请核对后再次提交以确认",
            "Amount {fen} fen is above {threshold_fen} fen: submit again to confirm",
            rule="U8",
        ),
        ErrorCode("amount_required", 422, "请填写{label}（元）", "{label} is required", rule="U8"),
    ),
)

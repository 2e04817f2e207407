"""Error codes of the notifications and webhooks context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="notify",
    title="Notifications and webhooks 通知与推送",
    summary="Notices, webhooks and their deliveries.",
    codes=(
        ErrorCode("invalid_event_type", 422, "事件类型无效：{item}", "Invalid event type {item}"),
        ErrorCode(
            "unknown_event_type",
            422,
            "没有这种事件类型：{types}",
            "Unknown event type {types}",
        ),
        ErrorCode(
            "invalid_url",
            422,
            "请填写 http:// 或 https:// 开头的完整地址",
            "Give a full http:// or https:// URL",
        ),
        ErrorCode(
            "sms_failed",
            502,
            "短信发送失败（{reason}），请稍后重试",
            "The SMS could not be sent ({reason}); try again later",
            rule="O2",
        ),
        ErrorCode(
            "sms_not_configured",
            409,
            "未配置短信服务商，无法发送验证码：请管理员配置短信服务（XIAODIAN_SMS__PROVIDER）",
            "No SMS provider is configured, so no code can be sent: an administrator sets "
            "XIAODIAN_SMS__PROVIDER",
            rule="O2",
        ),
        ErrorCode(
            "webhook_url_forbidden",
            422,
            "Webhook 地址不能指向{target}，请填写公网可访问的地址",
            "A webhook URL may not point to {target}; give an address reachable on the public internet",
        ),
    ),
)

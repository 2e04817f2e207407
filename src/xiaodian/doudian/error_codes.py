"""Error codes of the 抖店 dialect context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="doudian",
    title="抖店 open platform dialect",
    summary=(
        "The 抖店 gateway: every refusal is HTTP 200 with an envelope `code` (Platform) and "
        "`sub_code`. The `isv.` codes are the `sub_code` itself (or its part before `:`); any "
        "other code `X`, here or in another context, is `sub_code` `isv.business-failed:X`."
    ),
    codes=(
        ErrorCode(
            "insufficient_scope",
            200,
            "应用未获得该接口的权限（{scope}）",
            "The app lacks scope {scope}",
            platform=50002,
        ),
        ErrorCode(
            "invalid_code",
            200,
            "授权码无效、已使用或已过期，请在 设置→抖店授权码 重新生成",
            "The code is unknown, used or expired",
            platform=50002,
        ),
        ErrorCode(
            "isv.access-token-expired",
            200,
            "access_token已过期，请使用 refresh_token 刷新",
            "access_token has expired",
            platform=30002,
        ),
        ErrorCode(
            "isv.access-token-no-existed",
            200,
            "access_token不存在或已失效，请重新获取",
            "access_token is not valid",
            platform=30001,
        ),
        ErrorCode(
            "isv.business-failed",
            200,
            "{message_zh}（sub_code 为 isv.business-failed:{code}）",
            "{message_en} (sub_code isv.business-failed:{code})",
            platform=50002,
        ),
        ErrorCode(
            "isv.method-not-exist",
            200,
            "接口不存在：{method}",
            "No such method: {method}",
            platform=40003,
        ),
        ErrorCode(
            "isv.missing-parameter",
            200,
            "缺少必选参数：{name}",
            "Missing parameter: {name}",
            platform=40001,
        ),
        ErrorCode(
            "isv.parameter-invalid",
            200,
            "参数不合法：{reason}（sub_code 为 isv.parameter-invalid:{name}）",
            "Invalid parameter: {reason} (sub_code isv.parameter-invalid:{name})",
            platform=40003,
        ),
        ErrorCode(
            "isv.sign-invalid",
            200,
            "签名校验失败，请检查 app_key、app_secret 与签名串",
            "Signature check failed",
            platform=40003,
        ),
        ErrorCode(
            "shop_not_authorized",
            200,
            "店铺 {shop_id} 未授权该应用",
            "Shop {shop_id} has not authorized this app",
            platform=50002,
        ),
        ErrorCode(
            "status_mismatch",
            200,
            "售后单当前状态为「{label}」，不能执行操作 {kind}",
            "The request is {status}; type {kind} does not apply",
            platform=50002,
        ),
        ErrorCode(
            "type_mismatch",
            200,
            "操作类型 {kind} 不适用于{label}售后单",
            "Operate type {kind} does not apply to a {kind} request",
            platform=50002,
        ),
        ErrorCode(
            "version_conflict",
            200,
            "售后单已变更（update_time 不是最新版本），请重新查询后再操作",
            "The request changed since update_time; read it again",
            platform=50002,
        ),
    ),
)

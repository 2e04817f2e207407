"""Error codes of the open API context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="api",
    title="Open API 开放接口",
    summary="Signed requests to /api/v1 and the buyer sandbox.",
    codes=(
        ErrorCode(
            "body_too_large",
            413,
            "请求内容过大（最多 {limit} 字节）",
            "The request body is larger than {limit} bytes",
            rule="S6",
        ),
        ErrorCode(
            "http_{status_code}",
            404,
            "地址不存在（404）、不支持该请求方法（405）或请求失败",
            "Not Found, Method Not Allowed or another HTTP error (the code carries the status)",
            other_statuses=(405,),
        ),
        ErrorCode(
            "unavailable",
            503,
            "服务暂时不可用（数据库无法连接），请稍后重试",
            "Service temporarily unavailable (database unreachable); retry later",
            rule="W4",
        ),
        ErrorCode(
            "overloaded",
            503,
            "服务器繁忙，请稍后重试",
            "Server busy; retry later",
            rule="W5",
        ),
        ErrorCode(
            "internal", 500, "系统内部错误，请稍后重试", "Internal error; please retry later"
        ),
        ErrorCode("invalid_request", 422, "请求参数有误：{fields}", "Invalid request: {fields}"),
        ErrorCode(
            "app_revoked",
            401,
            "该应用已被停用，请在控制台创建新应用",
            "This app has been revoked; create a new app in the console",
            rule="S9",
            other_statuses=(409,),
        ),
        ErrorCode(
            "bad_nonce", 401, "X-Nonce 须为8-64位字母数字", "X-Nonce: 8–64 [A-Za-z0-9_-]", rule="S9"
        ),
        ErrorCode("bad_signature", 401, "签名无效或应用不存在", "Invalid signature or unknown app"),
        ErrorCode("bad_upload", 422, "上传内容格式错误", "Malformed multipart upload"),
        ErrorCode("buyer_token_missing", 401, "缺少买家凭证", "Missing buyer bearer token"),
        ErrorCode("file_missing", 422, "请上传文件（字段 file）", "Upload a file (field 'file')"),
        ErrorCode(
            "main_account_only",
            403,
            "模拟控制仅限主账号，或带“模拟控制”范围的应用",
            "Simulation controls need the main account or an app with the 'simulation' scope",
            rule="S3",
        ),
        ErrorCode(
            "replayed_request",
            401,
            "重复的请求（Nonce 已使用）",
            "Replayed request (nonce already used)",
        ),
        ErrorCode(
            "scope_missing",
            403,
            "应用没有“{label}”（{scope}）权限范围，请创建带此范围的应用。",
            "This app lacks the '{scope}' scope; create an app with that scope.",
            rule="S2",
        ),
        ErrorCode(
            "signature_missing",
            401,
            "缺少签名头：X-App-Key、X-Timestamp、X-Nonce、X-Signature",
            "Missing signature headers: X-App-Key, X-Timestamp, X-Nonce, X-Signature",
            rule="S9",
        ),
        ErrorCode(
            "simulation_auth_required",
            401,
            "模拟控制需要签名请求（应用须有“模拟控制”范围），或主账号登录控制台",
            "Simulation controls need a signed request from an app with the 'simulation' scope, or the main account's console session",
        ),
        ErrorCode(
            "timestamp_malformed",
            401,
            "X-Timestamp 格式错误：应为 Unix 时间戳（整数秒，如 1767225600）",
            "Malformed X-Timestamp: expected unix seconds as an integer, e.g. 1767225600",
            rule="S9",
        ),
        ErrorCode(
            "timestamp_out_of_window",
            401,
            "时间戳超出允许范围（±{window}秒），请校准客户端时间",
            "Timestamp outside ±{window} s of server time",
            rule="S9",
        ),
    ),
)

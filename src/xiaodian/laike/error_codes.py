"""Error codes of the 抖音来客 dialect context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="laike",
    title="抖音来客 dialect",
    summary=(
        "The 来客 gateway: every refusal is HTTP 200 with `error_code` and xiaodian's code in "
        "`extra.sub_description`; for a code refused inside `certificate/verify` the number is "
        "that item's `result` (1–7, 99 for any other reason)."
    ),
    codes=(
        ErrorCode(
            "access_token_expired",
            200,
            "access_token 已过期，请重新获取 client_token",
            "access_token expired; get a new client_token",
            platform=2190008,
        ),
        ErrorCode(
            "access_token_invalid",
            200,
            "access_token 无效",
            "Invalid access_token",
            platform=2190002,
        ),
        ErrorCode(
            "access_token_missing",
            200,
            "缺少 access-token 请求头",
            "Missing access-token header",
            platform=2190002,
        ),
        ErrorCode(
            "bad_encrypted_code", 200, "加密券码无效", "Invalid encrypted_code", platform=2100005
        ),
        ErrorCode(
            "bad_grant_type",
            200,
            "参数错误：grant_type 须为 client_credential",
            "grant_type must be client_credential",
            platform=10002,
        ),
        ErrorCode(
            "bad_json", 200, "请求体不是合法的 JSON", "Malformed JSON body", platform=2100005
        ),
        ErrorCode(
            "client_key_unknown", 200, "client_key 不存在", "Unknown client_key", platform=10003
        ),
        ErrorCode(
            "client_secret_wrong",
            200,
            "client_key 或者 client_secret 错误",
            "Wrong client_key or client_secret",
            platform=10013,
        ),
        ErrorCode(
            "code_not_prepared",
            200,
            "券码与本次验券准备不符，请重新验券准备",
            "This code was not prepared with this verify_token",
            rule="C7",
            platform=7,
        ),
        ErrorCode(
            "param_invalid", 200, "参数不合法：{name}", "Invalid parameter {name}", platform=2100005
        ),
        ErrorCode(
            "param_missing", 200, "参数不合法：缺少 {name}", "Missing {name}", platform=2100005
        ),
        ErrorCode(
            "poi_not_found",
            200,
            "门店 {store_id} 不存在",
            "Store (poi_id) {store_id} not found",
            platform=2100005,
        ),
        ErrorCode(
            "verification_not_found",
            200,
            "核销记录不存在或与券 ID 不符",
            "No such verification for this certificate",
            platform=2100005,
        ),
    ),
)

"""Error codes of the accounts and permissions context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="accounts",
    title="Accounts and permissions 账号与权限",
    summary="Shops, sub-accounts, apps, logins and sessions.",
    codes=(
        ErrorCode(
            "account_disabled",
            401,
            "该账号已被主账号停用，请联系主账号。",
            "This account was disabled by the main account",
        ),
        ErrorCode("bad_buyer_token", 401, "买家凭证无效", "Invalid buyer token"),
        ErrorCode("bad_credentials", 401, "用户名或密码错误", "Wrong username or password"),
        ErrorCode("buyer_exists", 409, "抖音号 {douyin_id} 已存在", "{douyin_id} exists"),
        ErrorCode(
            "invalid_app",
            422,
            "应用名称必填，最多60字",
            "App name is required, ≤ 60 chars",
            rule="S2",
        ),
        ErrorCode("invalid_douyin_id", 422, "请填写抖音号", "A Douyin ID is required", rule="C5"),
        ErrorCode(
            "invalid_scope",
            422,
            "请至少选择一个门店，或选择全部门店",
            "Choose at least one store, or all stores",
            rule="C5",
        ),
        ErrorCode("invalid_shop", 422, "店铺信息有误", "Invalid shop"),
        ErrorCode(
            "invalid_store", 422, "门店名称必填，最多60字", "Store name is required, ≤ 60 chars"
        ),
        ErrorCode("invalid_user", 422, "子账号信息有误", "Invalid sub-account"),
        ErrorCode(
            "login_busy",
            503,
            "登录请求过多，请 {retry_after} 秒后重试",
            "Too many logins at once; retry in {retry_after} s",
        ),
        ErrorCode(
            "login_locked",
            429,
            "登录失败次数过多，已暂时锁定。请在 {minutes} 分钟后重试。",
            "Too many failed logins; locked, try again in {minutes} min.",
        ),
        ErrorCode(
            "main_account_protected",
            403,
            "主账号不能被停用或重置，请在“修改密码”中修改主账号密码",
            "The main account cannot be disabled or reset; change its password instead",
        ),
        ErrorCode(
            "permission_denied",
            403,
            "没有权限：{label}。请联系主账号授权。",
            "Permission '{permission}' is required; ask the main account to grant it.",
        ),
        ErrorCode(
            "scope_not_grantable",
            403,
            "不能授予应用自己没有的权限：{labels}。请联系主账号。",
            "You cannot give an app scopes you do not hold yourself: {beyond}",
            rule="S2",
        ),
        ErrorCode(
            "scopes_required", 422, "请至少选择一个权限范围", "Choose at least one scope", rule="S2"
        ),
        ErrorCode(
            "staff_exists",
            409,
            "抖音号 {douyin_id} 已是核销人员",
            "{douyin_id} is already staff",
            rule="C5",
        ),
        ErrorCode(
            "unknown_permission", 422, "未知权限 {permission}", "Unknown permission {permission}"
        ),
        ErrorCode(
            "unknown_scope",
            422,
            "未知的权限范围：{unknown}",
            "Unknown scope(s): {unknown}",
            rule="S2",
        ),
        ErrorCode("user_only", 403, "仅商家账号可以修改密码", "Only a merchant account", rule="S5"),
        ErrorCode(
            "username_taken", 409, "用户名 {username} 已被使用", "Username {username} is taken"
        ),
        ErrorCode(
            "weak_password",
            422,
            "密码不符合规则：{reason}",
            "The password breaks the rule: {reason}",
            rule="S4",
        ),
        ErrorCode(
            "wrong_current_password",
            422,
            "当前密码不正确",
            "The current password is wrong",
            rule="S5",
        ),
    ),
)

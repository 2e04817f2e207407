"""Error codes of the platform context 平台运营 (issue 17, F1; K4 registry)."""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="platform",
    title="Platform 平台运营",
    summary="Operator accounts and the platform's decisions (coupon review, unbans, shop "
    "review flags, 平台介入).",
    codes=(
        ErrorCode("invalid_operator", 422, "运营账号信息有误", "Invalid operator account"),
        ErrorCode(
            "operator_exists",
            409,
            "运营账号 {username} 已存在",
            "Operator {username} already exists",
        ),
        ErrorCode(
            "operator_only",
            403,
            "仅平台运营人员可以执行此操作",
            "Only a platform operator can do this",
        ),
        ErrorCode(
            "aftersale_open_elsewhere",
            409,
            "该订单有进行中的售后单 {id}，请处理该售后单",
            "Request {id} of this order is open; handle that one",
            rule="A4",
        ),
        ErrorCode("invalid_reason", 422, "处理原因有误", "Invalid reason"),
        ErrorCode(
            "shop_suspended",
            409,
            "店铺{state}，暂不能下单",
            "The shop is {state}: no new orders",
            rule="O8",
        ),
        ErrorCode(
            "operator_required",
            422,
            "请用 --operator 指定运营账号（xiaodian operator create 创建）",
            "Name the deciding operator with --operator (see xiaodian operator create)",
        ),
        ErrorCode(
            "operator_disabled",
            403,
            "运营账号 {username} 已停用",
            "Operator {username} is disabled",
        ),
        ErrorCode(
            "not_suspended",
            409,
            "店铺未处于停业整改，无需解除",
            "The shop is not suspended",
            rule="O8",
        ),
        ErrorCode(
            "sanction_final",
            409,
            "店铺已清退，清退不能解除",
            "The shop was cleared out; that cannot be lifted",
            rule="O8",
        ),
    ),
)

"""Error codes of the buyer pages 买家页面 (issue 17, F8; K4 registry)."""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="storefront",
    title="Buyer pages 买家页面",
    summary="The buyer's pages: sign-in, the shop homepage, 我的卡券, orders and after-sales, "
    "消息 (the decisions are the coupons' and after-sales' own codes).",
    codes=(
        ErrorCode("buyer_token_required", 422, "请填写买家凭证", "Enter the buyer token"),
        ErrorCode(
            "demo_sign_in_disabled",
            403,
            "演示登录未开启，请使用买家凭证登录",
            "Demo sign-in is off; sign in with a buyer token",
        ),
        ErrorCode("invalid_form", 422, "提交的内容有误，请刷新后重试", "{name}: not a number"),
        ErrorCode("too_many_images", 422, "图片凭证最多{max}张", "At most {max} images"),
    ),
)

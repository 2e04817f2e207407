"""Error codes of the coupons and verification context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="coupons",
    title="Coupons and verification 卡券与核销",
    summary="Coupons, review, campaigns, claims and verification.",
    codes=(
        ErrorCode(
            "already_cancelled",
            409,
            "该核销已撤销",
            "This verification was already cancelled",
            rule="C7",
        ),
        ErrorCode(
            "already_verified",
            409,
            "该券已于 {when} {where}核销，不能重复核销",
            "Code already verified at {when}",
            rule="C6",
        ),
        ErrorCode(
            "auto_review_failed",
            409,
            "该卡券未通过自动审核，将在审核期满后显示审核失败",
            "The automatic review already failed this coupon",
            rule="C2",
            reserved=True,  # F1: a flagged coupon now waits for a platform operator
        ),
        ErrorCode("bad_staff_token", 401, "核销人员凭证无效", "Invalid staff token"),
        ErrorCode(
            "bad_verify_token",
            401,
            "核销凭证无效，请重新查询券码",
            "Invalid verify token",
            rule="C7",
        ),
        ErrorCode(
            "campaign_not_online",
            409,
            "活动未上线或已下线，不能领取",
            "The campaign is not online",
            rule="C4",
        ),
        ErrorCode(
            "campaign_offline", 409, "活动已下线", "The campaign is already offline", rule="C3"
        ),
        ErrorCode(
            "cancel_window_passed",
            409,
            "核销已超过 {minutes} 分钟，不能撤销",
            "Verifications can only be cancelled within {minutes} minutes",
            rule="C7",
        ),
        ErrorCode(
            "code_generation_failed",
            409,
            "券码生成失败，请重试",
            "Could not draw a code; retry",
            rule="C4",
        ),
        ErrorCode(
            "coupon_unavailable",
            409,
            "卡券已失效，不能领取",
            "The coupon is no longer available",
            rule="C4",
        ),
        ErrorCode(
            "douyin_user_not_found",
            404,
            "未找到抖音号为 {douyin_id} 的用户，请核对后重试",
            "No user with Douyin ID {douyin_id}",
            rule="F4",
        ),
        ErrorCode(
            "expired",
            409,
            "该券已过期（有效期至 {valid_until}）",
            "Expired (valid until {valid_until})",
            rule="C6",
        ),
        ErrorCode(
            "invalid_campaign",
            422,
            "活动信息有误：{fields}",
            "Invalid campaign: {fields}",
            rule="C3",
        ),
        ErrorCode("invalid_coupon", 422, "卡券信息有误", "Invalid coupon", rule="C1"),
        ErrorCode(
            "invalid_image", 422, "请上传 jpg/png 图片", "Upload a JPEG or PNG image", rule="C6"
        ),
        ErrorCode(
            "no_code_in_image",
            422,
            "图片中未识别到券码二维码",
            "No coupon QR code found in the image",
            rule="C6",
        ),
        ErrorCode(
            "not_yet_valid",
            409,
            "该券尚未生效，{valid_from} 起可用",
            "Not valid before {valid_from}",
            rule="C6",
        ),
        ErrorCode(
            "per_user_limit_reached",
            409,
            "每人限领 {per_user_limit} 张，您已领完",
            "Per-user limit of {per_user_limit} reached",
            rule="C4",
        ),
        ErrorCode(
            "reason_required", 422, "驳回时请填写原因", "A rejection needs a reason", rule="C2"
        ),
        ErrorCode(
            "reason_too_long", 422, "原因最多500字", "Reason: at most 500 characters", rule="C2"
        ),
        ErrorCode(
            "review_closed",
            409,
            "卡券已{LABELS}，不能再审核",
            "The coupon is already {status}",
            rule="C2",
        ),
        ErrorCode(
            "staff_revoked",
            403,
            "核销人员 {douyin_id} 的核销权限已被取消",
            "Staff {douyin_id} has been revoked",
            rule="C5",
        ),
        ErrorCode(
            "staff_link_expired",
            410,
            "链接已过期，请让商家在后台重新生成手机核销链接",
            "This link expired",
            rule="F4",
        ),
        ErrorCode(
            "staff_link_invalid",
            410,
            "链接无效，请让商家在后台重新生成手机核销链接",
            "Unknown link",
            rule="F4",
        ),
        ErrorCode(
            "staff_link_used",
            410,
            "该链接已使用过（每个链接只能绑定一次），请让商家在后台重新生成手机核销链接",
            "This link was already used",
            rule="F4",
        ),
        ErrorCode(
            "staff_phone_unbound",
            401,
            "本机尚未绑定核销人员，请让商家在后台生成手机核销链接后用本机打开",
            "This phone is not bound to a verifier",
            rule="F4",
        ),
        ErrorCode("staff_token_missing", 401, "缺少核销人员凭证", "Missing staff bearer token"),
        ErrorCode(
            "store_out_of_campaign_scope",
            409,
            "门店「{name}」不在该活动的参与门店内",
            "Store {id} is not in the campaign's stores",
            rule="C6",
        ),
        ErrorCode(
            "store_out_of_coupon_scope",
            409,
            "该券限定门店使用，门店「{name}」不可用",
            "The coupon is restricted to other stores than {id}",
            rule="C6",
        ),
        ErrorCode(
            "store_out_of_staff_scope",
            409,
            "核销人员无权在门店「{name}」核销",
            "Staff may not verify at store {id}",
            rule="C6",
        ),
        ErrorCode(
            "total_limit_reached", 409, "卡券已领完", "All coupons have been claimed", rule="C4"
        ),
        ErrorCode(
            "unknown_code",
            404,
            "券码不存在，请核对后重新输入",
            "Unknown code; check and retry",
            rule="C6",
        ),
        ErrorCode(
            "verify_token_expired",
            409,
            "核销凭证已过期，请重新查询券码",
            "Verify token expired",
            rule="C7",
        ),
    ),
)

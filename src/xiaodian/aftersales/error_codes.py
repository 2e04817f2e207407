"""Error codes of the after-sales context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="aftersales",
    title="After-sales 售后",
    summary="Refund and return requests and the after-sales assistant.",
    codes=(
        ErrorCode(
            "aftersale_in_progress",
            409,
            "该订单已有进行中的售后单",
            "This order already has an open after-sale request",
            rule="A1",
        ),
        ErrorCode(
            "aftersale_state_changed",
            409,
            "售后单状态已变为「{status}」，请刷新后重试",
            "The request is now {status}; reload and retry",
        ),
        ErrorCode(
            "aftersale_wrong_state",
            409,
            "售后单状态为「{label}」，不能{action}",
            "The request is {status}; cannot {action}",
        ),
        ErrorCode(
            "bad_carrier_event",
            409,
            "包裹状态为{PACKAGE_LABELS}，不能变为{EVENT_LABELS}",
            "Package is {status}; cannot be {event}",
        ),
        ErrorCode(
            "change_pending",
            409,
            "已有待商家确认的撤销/修改申请",
            "A withdraw/modify request is already waiting for the merchant",
            rule="A5",
        ),
        ErrorCode(
            "evidence_bad_link",
            422,
            "举证链接须为 http(s) 地址且不超过190个字符：{bad}",
            "Evidence links must be http(s) URLs of at most 190 characters",
            rule="A4",
        ),
        ErrorCode("evidence_bad_type", 422, "图片尺寸过大", "Image dimensions too large"),
        ErrorCode("evidence_empty", 422, "上传的文件为空", "The uploaded file is empty"),
        ErrorCode(
            "evidence_too_large",
            422,
            "文件「{filename}」超过 {max_mb} MB",
            "File {filename} is larger than {max_bytes} bytes",
        ),
        ErrorCode(
            "evidence_too_many",
            409,
            "每个售后单最多上传 {evidence_max_files} 个举证文件",
            "At most {evidence_max_files} evidence files per request",
            rule="A4",
        ),
        ErrorCode(
            "interception_exists",
            409,
            "该包裹已发起拦截",
            "Interception already requested",
            rule="A2.3",
        ),
        ErrorCode(
            "interception_not_applicable",
            409,
            "仅已发货仅退款售后单可进行快递拦截",
            "Only shipped_refund requests can be intercepted",
            rule="A3.1",
        ),
        ErrorCode(
            "interception_note_required",
            422,
            "线下联系快递拦截须填写说明（快递公司、联系人、结果等）",
            "An offline interception needs a note",
            rule="A3.1",
        ),
        ErrorCode(
            "intervention_already_requested",
            409,
            "已申请平台介入，请等待平台处理",
            "Platform intervention was already requested; wait for the decision",
            rule="A4",
        ),
        ErrorCode(
            "intervention_decided",
            409,
            "平台已介入处理该售后单，不能再次申请",
            "The platform has already decided this request",
            rule="A4",
        ),
        ErrorCode(
            "invalid_aftersale", 422, "售后申请信息有误", "Invalid after-sale request", rule="A1"
        ),
        ErrorCode(
            "invalid_images",
            422,
            "图片凭证 {evidence_id} 不存在或已被使用",
            "Image {evidence_id} not found or already used",
        ),
        ErrorCode(
            "invalid_intervention_note",
            422,
            "说明最多{max}字",
            "Note: at most {max} characters",
        ),
        ErrorCode(
            "invalid_return_shipment",
            422,
            "退货物流信息有误（快递公司或单号格式）",
            "Invalid return carrier or tracking number",
        ),
        ErrorCode(
            "invalid_split",
            422,
            "拆分后原包裹不能为空（请直接修改原包裹单号）",
            "A split must leave items in the original package",
        ),
        ErrorCode(
            "invalid_threshold",
            422,
            "小金额阈值须为正整数（分）",
            "threshold_fen must be a positive integer (fen)",
            rule="A2.2",
        ),
        ErrorCode(
            "no_change_request", 409, "没有待确认的撤销/修改申请", "No change request", rule="A5"
        ),
        ErrorCode("no_interception", 409, "该包裹没有进行中的拦截", "No interception requested"),
        ErrorCode(
            "not_shipped_refund",
            409,
            "仅已发货仅退款可同意拒签后退款",
            "Only shipped_refund requests can be agreed on refusal",
            rule="A2.4",
        ),
        ErrorCode(
            "nothing_to_cancel",
            409,
            "订单没有可取消发货的包裹（已签收、拒签或已取消）",
            "No package of this order can be cancelled",
            rule="A2.1",
        ),
        ErrorCode(
            "nothing_to_intercept",
            409,
            "售后单涉及的包裹均不可拦截（已签收、拒签、已拦截、拦截中或已取消发货）",
            "No package of this request can be intercepted",
            rule="A3.1",
        ),
        ErrorCode(
            "order_already_shipped",
            409,
            "订单已发货，请申请已发货仅退款或退货退款",
            "The order has shipped; apply for shipped_refund or return_refund",
            rule="A1",
        ),
        ErrorCode(
            "order_id_missing", 422, "请填写订单号 order_id", "order_id is required", rule="A1"
        ),
        ErrorCode(
            "order_not_refundable",
            409,
            "订单未支付或已关闭，不能申请售后",
            "The order is unpaid or closed; no after-sale",
            rule="A1",
        ),
        ErrorCode(
            "order_not_shipped",
            409,
            "订单未发货，不能拆分包裹",
            "The order has not shipped",
            rule="A1",
        ),
        ErrorCode(
            "rejection_needs_evidence",
            422,
            "拒绝售后须选择拒绝原因并上传对应的举证材料",
            "Rejecting needs a reason and the evidence it demands",
            rule="A4",
        ),
        ErrorCode("unknown_action", 422, "未知操作 {action}", "Unknown action {action}"),
        ErrorCode(
            "unknown_carrier_event",
            422,
            "未知物流事件 {event}",
            "Unknown carrier event {event}; use one of {events}",
        ),
        ErrorCode(
            "unknown_interception_mode",
            422,
            "未知拦截方式 {mode}（可选：carrier 平台拦截，offline 线下联系快递）",
            "Unknown interception mode {mode}; use carrier or offline",
            rule="A3.1",
        ),
        ErrorCode("unknown_strategy", 422, "未知策略 {code}", "Unknown strategy {code}"),
    ),
)

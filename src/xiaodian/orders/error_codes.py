"""Error codes of the orders context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="orders",
    title="Orders 订单",
    summary="Orders, shipping, exports and penalties.",
    codes=(
        ErrorCode(
            "already_decided",
            409,
            "该审核已处理",
            "This review was already decided",
        ),
        ErrorCode(
            "banned_cannot_list",
            409,
            "商品已被平台封禁（规则 O8），商家不能自行上架。请先整改并提交申诉，"
            "由平台运营人员解除封禁后再上架。",
            "This product is banned by the platform (rule O8); the merchant cannot list it. "
            "Fix the cause and appeal: only a platform operator can lift the ban.",
            rule="O8",
        ),
        ErrorCode("bad_encoding", 422, "无法识别文件编码", "Unknown encoding"),
        ErrorCode(
            "bad_file_type", 422, "仅支持 CSV 或 XLSX 文件", "Only CSV or XLSX files are accepted"
        ),
        ErrorCode("bad_xlsx", 422, "XLSX 文件无法读取", "Unreadable XLSX file"),
        ErrorCode(
            "code_expired",
            422,
            "验证码已过期，请重新获取",
            "The code has expired; request a new one",
            rule="O2",
        ),
        ErrorCode(
            "code_locked",
            422,
            "验证码已错误{max_attempts}次被锁定，请重新获取",
            "Too many wrong tries ({max_attempts}); the code is locked, request a new one",
            rule="O2",
        ),
        ErrorCode(
            "code_required",
            422,
            "请先获取手机验证码",
            "Request a verification code first",
            rule="O2",
        ),
        ErrorCode(
            "code_throttled",
            429,
            "验证码发送太频繁，请{wait}秒后再试",
            "A code was sent recently; try again in {wait} s",
            rule="O2",
        ),
        ErrorCode(
            "code_used",
            422,
            "验证码已使用，请重新获取",
            "This code was already used; request a new one",
            rule="O2",
        ),
        ErrorCode(
            "code_wrong",
            422,
            "验证码错误，还可尝试{left}次",
            "Wrong code; {left} tries left",
            rule="O2",
        ),
        ErrorCode("empty_file", 422, "文件为空", "The file is empty"),
        ErrorCode(
            "export_file_missing",
            409,
            "导出文件已不存在，请重新导出",
            "The export file no longer exists; export again",
            rule="O2",
        ),
        ErrorCode(
            "export_not_ready",
            409,
            "导出尚未完成（当前状态：{record}），完成后才能下载",
            "The export is not finished (status {status}); download when it is done",
            rule="O2",
        ),
        ErrorCode("file_too_large", 422, "文件不能超过5MB", "File must be ≤ 5 MB"),
        ErrorCode(
            "invalid_after_sale", 422, "未知售后状态 {state}", "Unknown after-sale state {state}"
        ),
        ErrorCode(
            "invalid_decision",
            422,
            "未知处理结果 {decision}",
            "Unknown decision {decision}",
            rule="O8",
        ),
        ErrorCode(
            "invalid_format",
            422,
            "导出格式只能是 CSV 或 XLSX",
            "Export format must be csv or xlsx",
            rule="O2",
        ),
        ErrorCode(
            "invalid_order", 422, "优惠金额不能超过商品金额", "Discount exceeds goods amount"
        ),
        ErrorCode("invalid_product", 422, "商品信息有误", "Invalid product"),
        ErrorCode(
            "invalid_stock_adjustment",
            422,
            "库存不足：当前库存 {stock}，不能减少 {n}",
            "Stock is {stock}; it cannot be reduced by {n}",
        ),
        ErrorCode(
            "invalid_refund_amount",
            422,
            "退款金额须在 ¥0.01 到 {refundable} 之间",
            "Refund must be between 0.01 and {refundable}",
        ),
        ErrorCode("invalid_shipment", 422, "发货信息有误", "Invalid shipment", rule="O3"),
        ErrorCode("missing_columns", 422, "缺少列：{missing}", "Missing columns: {missing}"),
        ErrorCode(
            "no_phone",
            409,
            "账号未绑定手机号，无法进行手机验证",
            "No phone number is bound to this account or shop; phone verification impossible",
            rule="O2",
        ),
        ErrorCode("not_banned", 409, "商品未被封禁", "Product is not banned", rule="O8"),
        ErrorCode(
            "not_payable",
            409,
            "订单状态为{STATUS_LABELS}，不能支付",
            "Order is {status}; it cannot be paid",
        ),
        ErrorCode(
            "not_refundable",
            409,
            "订单状态为{STATUS_LABELS}，不能退款",
            "Order is {status}; no refund can be agreed",
            rule="A6",
        ),
        ErrorCode(
            "not_shippable",
            409,
            "订单状态已变化，不能发货",
            "Order changed; cannot ship",
            rule="O3",
        ),
        ErrorCode("not_shipped", 409, "订单未发货，不能确认收货", "Order is not shipped"),
        ErrorCode(
            "order_no_exhausted", 409, "订单号生成失败，请重试", "Could not allocate an order no"
        ),
        ErrorCode(
            "out_of_stock",
            409,
            "奖品「{title}」库存不足，请联系商家",
            "Prize product {product_id} is out of stock",
            rule="L2",
        ),
        ErrorCode("payment_failed", 409, "支付失败：{reason}", "Payment failed: {reason}"),
        ErrorCode(
            "product_banned",
            409,
            "奖品「{title}」已被封禁，暂不可兑换",
            "Prize product {product_id} is banned",
            rule="O8",
        ),
        ErrorCode(
            "product_delisted",
            409,
            "商品「{title}」已下架，暂不可购买",
            "Product {product_id} is not on sale (delisted)",
        ),
        ErrorCode(
            "refund_agreed",
            409,
            "订单已同意退款，不能发货",
            "A refund was agreed for this order; it cannot ship",
            rule="O3",
        ),
        ErrorCode("stock_changed", 409, "库存已变化，请重试", "Stock changed; retry"),
        ErrorCode(
            "too_many_rows",
            422,
            "一次最多导入{BATCH_MAX_ROWS}行",
            "At most {BATCH_MAX_ROWS} rows per file",
        ),
    ),
)

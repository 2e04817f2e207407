"""Error codes of the shop red packets context (issue 14, K4).

The registry ``docs/errors.md`` is generated from (``xiaodian errors --markdown -o
docs/errors.md``). A code, once listed, is stable. ``tests/test_errors_catalogue.py`` fails
when a code raised in ``src/`` is missing from every registry, or an entry here is raised
nowhere and not marked ``reserved=True``.
"""

from __future__ import annotations

from xiaodian.error_catalogue import ErrorCode, Registry

REGISTRY = Registry(
    context="redpackets",
    title="Shop red packets 店铺红包",
    summary="Issuing, spending, extending and reclaiming red packets.",
    codes=(
        ErrorCode(
            "already_reclaimed",
            409,
            "红包 {id} 已回收（{reclaimed_fen}），不会重复退回",
            "Red packet {id} was already reclaimed; nothing is credited twice",
            rule="R5",
        ),
        ErrorCode(
            "concurrent_change", 409, "红包刚刚发生变动，请刷新后重试", "Changed meanwhile; retry"
        ),
        ErrorCode(
            "extension_limit",
            409,
            "红包 {id} 已延长过 {extension_count} 次，每个红包最多延长 {max_extensions} 次",
            "Red packet {id} was already extended {extension_count} time(s); at most {max_extensions}",
            rule="R6",
        ),
        ErrorCode(
            "extension_too_long",
            422,
            "延长时长 {extension_seconds} 不能超过原有效期时长 {validity_seconds}",
            "The extension ({extension_seconds} s) may not exceed the original validity ({validity_seconds} s)",
            rule="R6",
        ),
        ErrorCode(
            "insufficient_balance",
            409,
            "商家账户余额不足：本次发放 {count} 个红包 × {amount}，共需 {total}，当前余额 {available}，整批未发放",
            "Insufficient balance: {count} packets × {amount} need {total}, available {available}; nothing was issued",
            rule="R1",
        ),
        ErrorCode("invalid_action", 422, "请选择操作", "Choose an action"),
        ErrorCode(
            "invalid_checkout", 422, "订单金额为0，无需使用红包", "Nothing to pay", rule="R3"
        ),
        ErrorCode("invalid_duration", 422, "请填写延长的天数或小时数", "Give days or hours"),
        ErrorCode(
            "invalid_extension", 422, "延长时长须大于0", "The extension must be positive", rule="R6"
        ),
        ErrorCode(
            "invalid_file",
            422,
            "文件编码无法识别，请使用 UTF-8 或 GBK 编码的 CSV",
            "Unreadable file: use a UTF-8 or GBK CSV",
            rule="R1",
        ),
        ErrorCode("invalid_number", 422, "请填写非负整数", "{field}: a whole number"),
        ErrorCode("invalid_redpacket", 422, "红包发放信息有误", "Invalid issuance", rule="R1"),
        ErrorCode(
            "invalid_remind_lead",
            422,
            "提醒提前时间须为1-720小时",
            "Reminder lead must be 1–720 hours",
            rule="R7",
        ),
        ErrorCode(
            "invalid_status",
            422,
            "状态须为 {labels} 之一",
            "status must be one of {DISPLAY_LABELS}",
        ),
        ErrorCode(
            "no_valid_buyers",
            422,
            "没有可发放的买家：{reasons}",
            "No buyer in the batch can receive a packet",
            rule="R1",
        ),
        ErrorCode(
            "not_expired",
            409,
            "红包 {id} 尚未过期（有效期至 {ctx}），只能回收已过期的红包",
            "Red packet {id} has not expired; only expired packets can be reclaimed",
            rule="R5",
        ),
        ErrorCode(
            "not_expiring_yet",
            409,
            "红包 {id} 有效期至 {local_end}，只有已过期或 {hours} 小时内即将过期的红包可以延长有效期",
            "Red packet {id} is valid until {expires_at} UTC; only an expired packet or one expiring within {hours} h can be extended",
            rule="R6",
        ),
        ErrorCode("nothing_selected", 422, "请至少选择一个红包", "Select at least one packet"),
        ErrorCode(
            "nothing_to_reclaim",
            409,
            "红包 {id} 已用完，没有可回收的金额",
            "Red packet {id} is used up; nothing to reclaim",
            rule="R5",
        ),
        ErrorCode(
            "redpacket_exceeds_goods",
            422,
            "红包抵扣 {amount} 不能超过商品金额 {goods}",
            "Packet amount {amount} exceeds goods {goods}",
            rule="R3",
        ),
        ErrorCode(
            "redpacket_expired",
            409,
            "红包已于 {expires_at} 过期作废，不能使用",
            "The packet expired at {expires_at}",
            rule="R4",
        ),
        ErrorCode(
            "redpacket_insufficient",
            409,
            "红包剩余 {remaining_fen}，不足抵扣 {amount}",
            "The packet has {remaining_fen} left, less than {amount}",
            rule="R3",
        ),
        ErrorCode(
            "redpacket_reclaimed",
            409,
            "红包已被商家回收，不能使用",
            "The packet was reclaimed",
            rule="R5",
        ),
        ErrorCode(
            "remaining_too_low",
            409,
            "剩余金额 {remaining} 低于原金额 {amount} 的 {percent}%（{minimum}），不能延长",
            "Remaining {remaining} is below {percent}% of the original {amount} ({minimum}); the packet cannot be extended",
            rule="R6",
        ),
        ErrorCode("too_many", 422, "一次选择的红包太多", "Too many packets at once"),
        ErrorCode(
            "validity_after_extension_too_long",
            422,
            "延长后的有效期（至 {new_end}，还剩 {after}）不能超过原有效期时长 {validity}；本次最多可延长 {allowed}",
            "After the extension the packet would be valid for {after} s more (until {new_end}), longer than its original validity ({validity} s); at most {allowed} s can be added now",
            rule="R6",
        ),
    ),
)

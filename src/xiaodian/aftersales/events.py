"""Domain events the after-sales context emits (issue 15 M4). Names are
``<subject>.<what_happened>``, lowercase; webhook subscriptions to other types are refused."""

# A1–A6: every action on a request is emitted as ``aftersale.<action>``.
AFTERSALE_ACTIONS: tuple[str, ...] = (
    "created",
    "modified",
    "agreed",
    "agreed_return",
    "agreed_on_refusal",
    "rejected",
    "return_shipped",
    "refunded",
    "refund_failed",
    "withdrawn",
    "closed",
    "reopened",
    "change_requested",
    "change_declined",
    "erp_cancel_not_applied",
    "interception_requested",
    "interception_failed",
    "intercepted_offline",  # A3.1 线下联系快递
    "intervention_requested",  # F1: the buyer asks for 平台介入 after a rejection
)
# A2 logistics: the carrier's tracking events are emitted as ``package.<event>``.
PACKAGE_EVENTS: tuple[str, ...] = (
    "created",
    "in_transit",
    "delivered",
    "refused",
    "returned",
    "intercepted",
    "interception_requested",
    "interception_failed",
    "interception_fee_collected",
    "interception_fee_unpaid",
    "shipment_cancelled",
    "intercepted_offline",  # A3.1 线下联系快递
)

EVENT_TYPES: tuple[str, ...] = (
    *(f"aftersale.{action}" for action in AFTERSALE_ACTIONS),
    "aftersale.strategy_saved",
    "aftersale.platform_overturned",  # F1: 平台介入 overturned the merchant's rejection
    *(f"package.{event}" for event in PACKAGE_EVENTS),
)

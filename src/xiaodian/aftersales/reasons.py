"""The reasons a buyer applies with (A1) and the reasons a merchant rejects with (A4).

A4: "若仍需拒绝(如生鲜、定制商品等),可选择对应的拒绝原因并根据提示上传对应的举证材料" — each
rejection reason says which evidence it needs (``hint``) and how many files at least
(``min_evidence``); a rejection without them is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from xiaodian.aftersales.models import RequestKind


@dataclass(frozen=True)
class BuyerReason:
    label: str
    images_required: bool = False  # the buyer must attach photos (A1)


BUYER_REASONS: dict[str, dict[str, BuyerReason]] = {
    RequestKind.UNSHIPPED_REFUND: {
        "no_longer_wanted": BuyerReason("不想要了"),
        "wrong_order": BuyerReason("拍错/多拍"),
        "wrong_address": BuyerReason("地址信息填写错误"),
        "out_of_stock": BuyerReason("商家缺货"),
        "other": BuyerReason("其他"),
    },
    RequestKind.SHIPPED_REFUND: {
        "no_longer_wanted": BuyerReason("不想要了"),
        "not_delivered": BuyerReason("快递一直未送达"),
        "no_tracking": BuyerReason("快递无物流记录"),
        "missing_items": BuyerReason("少件/漏发", images_required=True),
        "other": BuyerReason("其他"),
    },
    RequestKind.RETURN_REFUND: {
        "seven_days": BuyerReason("七天无理由退货"),
        "quality": BuyerReason("商品质量问题", images_required=True),
        "not_as_described": BuyerReason("商品与描述不符", images_required=True),
        "damaged": BuyerReason("收到商品破损", images_required=True),
        "other": BuyerReason("其他"),
    },
}


@dataclass(frozen=True)
class RejectReason:
    label: str
    hint: str  # what evidence to upload (举证提示)
    min_evidence: int = 1
    note_required: bool = False


REJECT_REASONS: dict[str, RejectReason] = {
    "fresh_food": RejectReason(
        "生鲜商品，不支持仅退款", "请上传商品详情页生鲜说明截图和物流签收/在途记录", 1
    ),
    "customized": RejectReason(
        "定制商品，不支持仅退款", "请上传与买家确认定制内容的聊天记录截图和定制单", 2
    ),
    "signed_intact": RejectReason(
        "买家已签收，商品完好", "请上传物流签收记录和商品完好的照片或视频截图", 1
    ),
    "agreed_with_buyer": RejectReason("已与买家协商一致", "请上传与买家协商一致的聊天记录截图", 1),
    "other": RejectReason("其他", "请上传能证明拒绝理由的材料，并填写说明", 1, note_required=True),
}

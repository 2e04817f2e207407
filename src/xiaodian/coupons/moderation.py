"""The automatic reviewer (C2): decides what a machine can decide, nothing more.

Machine-decidable rules, each producing a reason ``{rule, code, field, message_zh, message_en}``:

* rule 2 — merchant name consistent with the enterprise: after normalising (spaces removed,
  case-folded) the merchant name must be contained in the shop's 企业名称 ``registered_name``
  or in the shop name (the brand the shop trades under), or contain one of them. Example:
  "好物" ⊂ "杭州好物电子商务有限公司" passes; "星巴克" does not.
* rule 4 — absolute words banned by the advertising law, from ``data/banned_words.txt``
  (allowed phrases such as "最终解释权" are masked first).
* rule 5 — contact details in text (mobile/landline/400 numbers, URLs, WeChat IDs, QQ) and
  traffic diversion (VX号xxx, 微信, 公众号, 淘宝 …), and QR codes / barcodes in either image
  (zxing-cpp).
* rules 4, 5 and 7 on the text printed *inside* the images (F2), as read by OCR
  (``coupons/ocr.py``); an image whose text could not be read gives a reason marked
  ``needs_human``: it refuses nothing, and the coupon waits for a human.
* rule 7 — imitation of official wording, from ``data/official_phrases.txt``.

Text fields checked: title, merchant name, usage conditions text, claim instructions (the
customer-service phone field is *meant* to hold a phone number and is not checked).

What stays for a human (the review queue): rule 1 (pornographic/violent/religious content),
rule 2's logo, rule 3 (clarity, watermarks, consistency), rule 6 (goods allowed), rule 7's
icons — so even a clean pass goes to the queue.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from xiaodian.coupons.images import find_codes

DATA = Path(__file__).parent / "data"

TEXT_FIELDS = {
    "title": "卡券标题",
    "merchant_name": "商家名称",
    "usage_text": "使用条件",
    "claim_instructions": "领取说明",
    # F2: the text read inside the images
    "product_image": "商品图片中的文字",
    "logo": "商家logo中的文字",
}
IMAGE_LABELS = {"product_image": "商品图片", "logo": "商家logo"}

_CONTACT_PATTERNS: list[tuple[str, re.Pattern[str], str, str]] = [
    (
        "phone",
        re.compile(r"(?<!\d)1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"),
        "手机号",
        "mobile number",
    ),
    (
        "phone",
        re.compile(r"(?<!\d)0\d{2,3}[\s-]?\d{7,8}(?!\d)|(?<!\d)[48]00[\s-]?\d{3}[\s-]?\d{4}(?!\d)"),
        "电话号码",
        "telephone number",
    ),
    (
        "url",
        re.compile(
            r"https?://|www\.|[A-Za-z0-9-]+\.(?:com|cn|net|org|top|cc|xyz|vip|shop|io)\b",
            re.IGNORECASE,
        ),
        "网址",
        "URL",
    ),
    (
        "wechat",
        re.compile(
            r"(?:微信|威信|薇信|V信|vx|wx|weixin|wechat|加V|加v)\s*(?:号|id)?\s*[::]?\s*"
            r"[A-Za-z][-_A-Za-z0-9]{4,19}",
            re.IGNORECASE,
        ),
        "微信号",
        "WeChat ID",
    ),
    (
        "qq",
        re.compile(r"(?:QQ|扣扣)\s*(?:号|群)?\s*[::]?\s*\d{5,12}", re.IGNORECASE),
        "QQ号",
        "QQ number",
    ),
    (
        "diversion",
        re.compile(
            r"VX|微信|公众号|淘宝|天猫|拼多多|京东|小红书|快手|加V|私信领|加群", re.IGNORECASE
        ),
        "引流内容",
        "traffic diversion",
    ),
]


def _load(name: str) -> tuple[list[str], list[str]]:
    words: list[str] = []
    allowed: list[str] = []
    for raw in (DATA / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            allowed.append(line[1:].strip())
        else:
            words.append(line)
    return words, allowed


@lru_cache(maxsize=1)
def banned_words() -> tuple[list[str], list[str]]:
    return _load("banned_words.txt")


@lru_cache(maxsize=1)
def official_phrases() -> list[str]:
    return _load("official_phrases.txt")[0]


def _reason(rule: str, code: str, field: str, zh: str, en: str) -> dict[str, Any]:
    return {"rule": rule, "code": code, "field": field, "message_zh": zh, "message_en": en}


def needs_human(reason: dict[str, Any]) -> bool:
    """A note for the human reviewer (F2: an image not read), not a refusal."""
    return bool(reason.get("needs_human"))


def clear_failures(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reasons a machine may refuse a coupon for (everything but the notes)."""
    return [reason for reason in reasons if not needs_human(reason)]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def check_texts(texts: dict[str, str]) -> list[dict[str, Any]]:
    """Rules 4, 5 (text) and 7 over every text field; one reason per field and finding."""
    reasons: list[dict[str, Any]] = []
    words, allowed = banned_words()
    for field, text in texts.items():
        label = TEXT_FIELDS.get(field, field)
        masked = text
        for phrase in allowed:
            masked = masked.replace(phrase, "\u2400" * len(phrase))
        hits = [w for w in words if w in masked]
        if hits:
            shown = "、".join(hits)
            reasons.append(
                _reason(
                    "C2.4",
                    "absolute_words",
                    field,
                    f"{label}含广告法禁用的绝对化用语：{shown}",
                    f"{field} contains absolute words banned by the advertising law: {shown}",
                )
            )
        lowered = text.casefold()
        official = [p for p in official_phrases() if p.casefold() in lowered]
        if official:
            shown = "、".join(official)
            reasons.append(
                _reason(
                    "C2.7",
                    "imitation_official",
                    field,
                    f"{label}含仿冒官方的词汇：{shown}",
                    f"{field} imitates official wording: {shown}",
                )
            )
        found: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for kind, pattern, zh, en in _CONTACT_PATTERNS:
            match = pattern.search(text)
            if match and kind not in seen:
                seen.add(kind)
                found.append((match.group(0), zh, en))
        if found:
            zh = "、".join(f"{z}「{m}」" for m, z, _ in found)
            en = ", ".join(f"{e} '{m}'" for m, _, e in found)
            reasons.append(
                _reason(
                    "C2.5",
                    "contact_details",
                    field,
                    f"{label}含联系方式或引流内容：{zh}",
                    f"{field} contains contact details or traffic diversion: {en}",
                )
            )
    return reasons


def check_merchant_name(
    merchant_name: str, registered_name: str, shop_name: str
) -> list[dict[str, Any]]:
    """Rule 2 (name part): consistent with 企业名称 or the shop's brand name."""
    name = _normalise(merchant_name)
    for candidate in (registered_name, shop_name):
        other = _normalise(candidate)
        if other and name and (name in other or other in name):
            return []
    return [
        _reason(
            "C2.2",
            "merchant_name_mismatch",
            "merchant_name",
            f"商家名称「{merchant_name}」与企业号主体名称「{registered_name}」或品牌不一致",
            f"merchant_name '{merchant_name}' does not match the registered name "
            f"'{registered_name}' or the shop's brand",
        )
    ]


def check_images(images: dict[str, Image.Image]) -> list[dict[str, Any]]:
    """Rule 5 (images): no QR code or barcode inside an image."""
    reasons = []
    for field, image in images.items():
        codes = find_codes(image)
        if codes:
            reasons.append(
                _reason(
                    "C2.5",
                    "code_in_image",
                    field,
                    f"{IMAGE_LABELS.get(field, field)}中含二维码或条形码（联系方式/引流）",
                    f"{field} contains a QR code or barcode ({len(codes)} found)",
                )
            )
    return reasons


def unread_images(unread: dict[str, str]) -> list[dict[str, Any]]:
    """F2: one ``needs_human`` note per image whose text OCR could not read, with why."""
    return [
        {
            **_reason(
                "C2.5",
                "image_text_unread",
                field,
                f"{IMAGE_LABELS.get(field, field)}中的文字未能自动识别（{why}），需人工审核",
                f"the text inside {field} could not be read automatically ({why}); "
                "a human reviews it",
            ),
            "needs_human": True,
        }
        for field, why in unread.items()
    ]


def review(
    *,
    texts: dict[str, str],
    merchant_name: str,
    registered_name: str,
    shop_name: str,
    images: dict[str, Image.Image],
    image_texts: dict[str, str] | None = None,
    unread: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every machine-decidable failure at once, plus the notes for a human (``needs_human``)
    about images whose text could not be read. ``image_texts`` is the text OCR read inside
    each image (F2): it is checked like a text field."""
    return (
        check_merchant_name(merchant_name, registered_name, shop_name)
        + check_texts(texts)
        + check_images(images)
        + check_texts({field: text for field, text in (image_texts or {}).items() if text})
        + unread_images(unread or {})
    )

"""Benchmark F2: text inside coupon images — precision and recall of the machine review.

A generated set: product pictures (686×176) with one or two lines of printed text in a CJK font
(Debian ``fonts-wqy-zenhei``) at several sizes. Half of them carry what seed 004 forbids in
images (a mobile or landline number, a URL, a WeChat ID, an absolute word), half only clean
promotional copy. Each picture goes through the real reviewer (Tesseract OCR → the text rules
of ``coupons/moderation.py``); a picture counts as *flagged* when a C2.4/C2.5/C2.7 reason names
it. Prints precision and recall per font size, and the time per image beside its anchor measured
in the same run: zxing-cpp looking for QR codes in the same picture (the check images already
had before OCR).

    python -m bench.coupons_ocr [--per-size 40] [--sizes 16,20,28,40] [--seed 7]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from xiaodian.coupons import moderation, ocr
from xiaodian.coupons.images import find_codes

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
CLEAN = [
    "到店消费满100减20",
    "周末及节假日通用",
    "新品上市 欢迎品尝",
    "会员专享八折优惠",
    "每桌限用一张",
    "招牌烤鱼双人套餐",
    "本券不与其他优惠同享",
    "营业时间 10:00-22:00",
]


def _forbidden(rng: random.Random) -> str:
    kind = rng.choice(["mobile", "landline", "url", "wechat", "absolute"])
    if kind == "mobile":
        digits = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        return f"咨询电话 {digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if kind == "landline":
        return f"订座 0571-{rng.randrange(10**7, 10**8)}"
    if kind == "url":
        return f"详情见 www.{rng.choice(['haowu', 'meishi', 'daodian'])}{rng.randrange(100)}.com"
    if kind == "wechat":
        return f"加微信 {rng.choice(['hw', 'shop', 'kefu'])}_{rng.randrange(1000, 9999)}"
    return rng.choice(["全网最低价", "国家级品质", "史上最强优惠"])


def picture(lines: list[str], size: int) -> Image.Image:
    font = ImageFont.truetype(str(FONT), size)
    image = Image.new("RGB", (686, 176), (255, 244, 236))
    pen = ImageDraw.Draw(image)
    y = max(4, (176 - len(lines) * (size + 12)) // 2)
    for line in lines:
        pen.text((20, y), line, fill=(30, 30, 30), font=font)
        y += size + 12
    return image


def flagged(image: Image.Image, reader: ocr.TesseractOcr) -> bool:
    data = io.BytesIO()
    image.save(data, format="PNG")
    text = reader.read(image, hashlib.sha256(data.getvalue()).hexdigest())
    reasons = moderation.check_texts({"product_image": text})
    return any(
        r["code"] in {"contact_details", "absolute_words", "imitation_official"} for r in reasons
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-size", type=int, default=40)
    parser.add_argument("--sizes", default="16,20,28,40")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if ocr.missing_parts() or not FONT.exists():
        raise SystemExit("needs tesseract-ocr, tesseract-ocr-chi-sim and fonts-wqy-zenhei")
    rng = random.Random(args.seed)
    reader = ocr.TesseractOcr(ocr.OcrSettings(cache_entries=0))
    print("| font px | images | precision | recall | OCR ms/image | zxing ms/image | ratio |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in [int(s) for s in args.sizes.split(",")]:
        tp = fp = fn = 0
        ocr_s = zxing_s = 0.0
        for n in range(args.per_size):
            bad = n % 2 == 0
            lines = [rng.choice(CLEAN)] + ([_forbidden(rng)] if bad else [rng.choice(CLEAN)])
            rng.shuffle(lines)
            image = picture(lines, size)
            started = time.perf_counter()
            find_codes(image)
            zxing_s += time.perf_counter() - started
            started = time.perf_counter()
            hit = flagged(image, reader)
            ocr_s += time.perf_counter() - started
            tp += hit and bad
            fp += hit and not bad
            fn += bad and not hit
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        per_ocr, per_zxing = ocr_s / args.per_size * 1000, zxing_s / args.per_size * 1000
        print(
            f"| {size} | {args.per_size} | {precision:.2f} | {recall:.2f} | {per_ocr:.0f} | "
            f"{per_zxing:.1f} | {per_ocr / per_zxing:.0f}× |",
            flush=True,
        )


if __name__ == "__main__":
    main()

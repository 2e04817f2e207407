"""Text inside coupon images (issue 17 F2; C2 rules 4, 5 and 7 applied to pictures).

Seed 004: "图片中不得出现联系方式，包括电话、网址、微信号、二维码等" and "图文均不包含广告法禁止的
绝对性词汇". QR codes and barcodes are found by zxing-cpp (``images.find_codes``); printed text
is read here by Tesseract OCR with its Chinese (``chi_sim``) and English models, which ship in
Debian packages (``apt-get install tesseract-ocr tesseract-ocr-chi-sim``): nothing is downloaded
at run time. The recognised text then goes through the same checks as the text fields.

When OCR is unavailable (the program or a language model missing, a timeout, a crash) the
reviewer says so with a reason that sends the coupon to a human (``needs_human``): an image that
was not read never passes silently.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock

from PIL import Image, ImageOps

LANGUAGES = ("chi_sim", "eng")
# Tesseract reads small print badly: images lower than this are scaled up before reading.
MIN_HEIGHT = 352
_CJK = "\u3400-\u9fff，。：；！？（）、"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")


class OcrUnavailable(Exception):
    """Text in an image could not be read; the reason is for the reviewer's note."""


@dataclass(frozen=True)
class OcrSettings:
    enabled: bool = True
    timeout_seconds: float = 20.0
    cache_entries: int = 256


@lru_cache(maxsize=1)
def missing_parts() -> tuple[str, ...]:
    """What this machine lacks for OCR (empty: ready). Checked once per process."""
    program = shutil.which("tesseract")
    if program is None:
        return ("tesseract",)
    try:
        listed = subprocess.run(
            [program, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ("tesseract",)
    languages = set(listed.stdout.split())
    return tuple(language for language in LANGUAGES if language not in languages)


def normalise(text: str) -> str:
    """Tesseract puts spaces between Chinese characters: join them back, keep Latin spacing."""
    return _CJK_GAP.sub("", text).strip()


def _prepared(image: Image.Image) -> bytes:
    """Grayscale, auto-contrast, scaled up when small: what Tesseract reads best."""
    gray = ImageOps.autocontrast(image.convert("L"))
    if gray.height < MIN_HEIGHT:
        scale = MIN_HEIGHT / gray.height
        gray = gray.resize((round(gray.width * scale), MIN_HEIGHT), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    gray.save(buffer, format="PNG")
    return buffer.getvalue()


class TesseractOcr:
    """Reads an image's text with the ``tesseract`` program; results cached by image hash
    (a coupon's images are stored by SHA-256, and the same picture is often reused)."""

    def __init__(self, settings: OcrSettings) -> None:
        self.settings = settings
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = Lock()

    def read(self, image: Image.Image, sha256: str) -> str:
        if not self.settings.enabled:
            raise OcrUnavailable("文字识别已关闭")
        with self._lock:
            if sha256 in self._cache:
                self._cache.move_to_end(sha256)
                return self._cache[sha256]
        text = normalise(self._run(_prepared(image)))
        with self._lock:
            self._cache[sha256] = text
            while len(self._cache) > self.settings.cache_entries:
                self._cache.popitem(last=False)
        return text

    def _run(self, png: bytes) -> str:
        missing = missing_parts()
        if missing:
            raise OcrUnavailable("缺少 " + "、".join(missing))
        # One thread per call: several reviews at once must not each take every core.
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        try:
            done = subprocess.run(
                ["tesseract", "stdin", "stdout", "-l", "+".join(LANGUAGES), "--psm", "6"],
                input=png,
                capture_output=True,
                timeout=self.settings.timeout_seconds,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OcrUnavailable("识别超时") from exc
        except OSError as exc:
            raise OcrUnavailable("无法启动 tesseract") from exc
        if done.returncode != 0:
            raise OcrUnavailable(f"tesseract 退出码 {done.returncode}")
        return done.stdout.decode("utf-8", "replace")


_readers: dict[OcrSettings, TesseractOcr] = {}


def reader(settings: OcrSettings) -> TesseractOcr:
    """One reader (and cache) per distinct settings."""
    if settings not in _readers:
        _readers[settings] = TesseractOcr(settings)
    return _readers[settings]

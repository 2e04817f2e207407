"""Image decoding that cannot be turned against the host (issue 11, S8).

An uploaded image is judged in two steps:

1. ``read_header`` — Pillow's ``Image.open`` reads the format and the dimensions from the file's
   header and decodes **no pixel**. The callers refuse here whatever the header already rules
   out: a format other than JPEG/PNG, a logo that is not exactly 132×132, a product image or a
   photo with more pixels than its cap. A 2 KB PNG that claims 4096×4096 ends here.
2. ``decode`` — only what passed is decoded, and at most ``limits.image_decodes_in_flight``
   images are decoded at once per process (a semaphore; the others wait their turn), so 16
   uploads in parallel cost at most that many decoded bitmaps, not 16.

Pillow's own decompression-bomb guard stays on in both steps: ``DecompressionBombWarning`` is
turned into an error, ``DecompressionBombError`` is refused, and the process-global
``Image.MAX_IMAGE_PIXELS`` is left as it is. ``decodes_started`` counts full decodes (the S8
tests prove a refused header never reached one).
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

decodes_started = 0
_gates: dict[int, threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()
_count_lock = threading.Lock()


class ImageRefused(ValueError):
    """The bytes are not an image we decode (bad header, bomb, corrupt or truncated data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "format" | "bomb" | "corrupt"


@dataclass(frozen=True)
class Header:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@contextmanager
def _bomb_guard() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRefused("bomb") from exc
        except UnidentifiedImageError as exc:
            raise ImageRefused("format") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            if isinstance(exc, ImageRefused):
                raise
            raise ImageRefused("corrupt") from exc


def read_header(data: bytes) -> Header:
    """Format and dimensions from the header alone; no pixel is decoded (S8 step 1)."""
    with _bomb_guard(), Image.open(io.BytesIO(data)) as probe:
        width, height = probe.size
        return Header(str(probe.format or ""), int(width), int(height))


def _gate(in_flight: int) -> threading.BoundedSemaphore:
    size = max(1, in_flight)
    with _gates_lock:
        gate = _gates.get(size)
        if gate is None:
            gate = _gates[size] = threading.BoundedSemaphore(size)
        return gate


def decode(
    data: bytes, *, max_pixels: int, in_flight: int, mode: str | None = "RGB"
) -> Image.Image:
    """Decode an image whose header already passed (S8 step 2): at most ``in_flight`` decodes
    at once per process; the dimensions are checked again against ``max_pixels`` first."""
    global decodes_started
    with _gate(in_flight), _bomb_guard():
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > max_pixels or image.width <= 0 or image.height <= 0:
            raise ImageRefused("bomb")
        with _count_lock:
            decodes_started += 1
        image.load()
        return image.convert(mode) if mode else image

"""After-sales evidence (issue 15 M3: its own SPEC section): the buyer's photos at application
(A1) and the merchant's 举证 when rejecting (A4) — uploaded images checked and stored, or
links recorded (the 抖店 dialect). ``service.py`` re-exports these functions.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import func, select

from xiaodian.accounts.models import Buyer
from xiaodian.aftersales.models import (
    Evidence,
    RequestStatus,
)
from xiaodian.aftersales.records import get_request
from xiaodian.context import Ctx
from xiaodian.errors import Conflict, NotFound, ValidationFailed
from xiaodian.orders import service as orders

S = RequestStatus


_IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def check_evidence_file(
    filename: str,
    data: bytes,
    *,
    max_bytes: int,
    allow_pdf: bool,
    max_pixels: int = 40_000_000,
    in_flight: int = 2,
) -> tuple[str, str]:
    """Judge a file by its content, never its name: a JPEG/PNG that decodes (decompression-bomb
    safe) or, for merchants, a PDF. Returns (content_type, extension)."""
    kinds = "jpg/png 图片或 PDF" if allow_pdf else "jpg/png 图片"
    if not data:
        raise ValidationFailed(
            "evidence_empty", "上传的文件为空", "The uploaded file is empty", field="file"
        )
    if len(data) > max_bytes:
        raise ValidationFailed(
            "evidence_too_large",
            f"文件「{filename}」超过 {max_bytes // (1024 * 1024)} MB",
            f"File {filename!r} is larger than {max_bytes} bytes",
            field="file",
        )
    if data.startswith(b"%PDF-"):
        if allow_pdf and b"%%EOF" in data[-1024:]:
            return "application/pdf", "pdf"
        raise ValidationFailed(
            "evidence_bad_type",
            f"文件「{filename}」须为{kinds}",
            f"File {filename!r} must be a JPEG/PNG image" + (" or a PDF" if allow_pdf else ""),
            field="file",
        )
    bad_type = ValidationFailed(
        "evidence_bad_type",
        f"文件「{filename}」须为{kinds}（按文件内容判断）",
        f"File {filename!r} must be a JPEG/PNG image" + (" or a PDF" if allow_pdf else ""),
        field="file",
    )
    from xiaodian import imaging  # Pillow loads with the first upload, not with tick (K5)

    try:  # S8: format and dimensions from the header; only what passed is decoded
        header = imaging.read_header(data)
        fmt = header.format
        if fmt not in _IMAGE_TYPES:
            raise bad_type
        if header.pixels > max_pixels:
            raise ValidationFailed(
                "evidence_bad_type", "图片尺寸过大", "Image dimensions too large", field="file"
            )
        imaging.decode(data, max_pixels=max_pixels, in_flight=in_flight, mode=None)
    except imaging.ImageRefused as exc:
        if exc.reason == "bomb":
            raise ValidationFailed(
                "evidence_bad_type", "图片尺寸过大", "Image dimensions too large", field="file"
            ) from exc
        raise bad_type from exc
    return _IMAGE_TYPES[fmt], "jpg" if fmt == "JPEG" else "png"


def save_evidence(
    ctx: Ctx,
    shop_id: int,
    *,
    party: str,
    filename: str,
    data: bytes,
    request_id: int | None = None,
    uploaded_by: str | None = None,
) -> Evidence:
    knobs = ctx.settings.aftersales
    content_type, ext = check_evidence_file(
        filename,
        data,
        max_bytes=knobs.evidence_max_bytes,
        allow_pdf=party == "merchant",
        max_pixels=knobs.evidence_max_pixels,
        in_flight=ctx.settings.limits.image_decodes_in_flight,
    )
    if request_id is not None:
        count = ctx.session.scalar(
            select(func.count()).where(
                Evidence.shop_id == shop_id,
                Evidence.request_id == request_id,
                Evidence.party == party,
            )
        )
        if int(count or 0) >= knobs.evidence_max_files:
            raise Conflict(
                "evidence_too_many",
                f"每个售后单最多上传 {knobs.evidence_max_files} 个举证文件",
                f"At most {knobs.evidence_max_files} evidence files per request",
            )
    digest = hashlib.sha256(data).hexdigest()
    key = f"{shop_id}/{digest}.{ext}"
    path = Path(knobs.evidence_dir) / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    row = Evidence(
        shop_id=shop_id,
        request_id=request_id,
        party=party,
        uploaded_by=uploaded_by or ctx.actor,
        filename=(_SAFE_NAME.sub("_", filename).strip("_") or f"evidence.{ext}")[:120],
        content_type=content_type,
        size_bytes=len(data),
        sha256=digest,
        storage_key=key,
        used=False,
        created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return row


def buyer_upload(ctx: Ctx, buyer: Buyer, order_id: int, filename: str, data: bytes) -> Evidence:
    order = orders.buyer_order(ctx.session, buyer.id, order_id)
    return save_evidence(
        ctx,
        order.shop_id,
        party="buyer",
        filename=filename,
        data=data,
        uploaded_by=f"buyer:{buyer.id}",
    )


def merchant_upload(
    ctx: Ctx, shop_id: int, request_id: int, filename: str, data: bytes
) -> Evidence:
    req = get_request(ctx.session, shop_id, request_id)
    return save_evidence(
        ctx, shop_id, party="merchant", filename=filename, data=data, request_id=req.id
    )


def evidence_bytes(ctx: Ctx, ev: Evidence) -> bytes:
    if ev.storage_key.startswith(LINK_PREFIX):
        raise NotFound("举证文件（外部链接举证，请打开链接查看）", "Evidence file (a link)", ev.id)
    return (Path(ctx.settings.aftersales.evidence_dir) / ev.storage_key).read_bytes()


LINK_PREFIX = "link:"
_LINK_URL = re.compile(r"^https?://[^\s]{1,190}$")


def link_evidence(
    ctx: Ctx, shop_id: int, request_id: int, links: list[tuple[str, str, str]]
) -> list[Evidence]:
    """A4 evidence given as links instead of uploads — (kind, url, description) each, as the
    抖店 dialect's ``evidence[{type, url, desc}]`` sends it (issue 12, D3). The links are
    recorded as the merchant's evidence for the request (never fetched), so ``reject`` applies
    its own rule (the reason's minimum evidence) to them like to uploaded files."""
    req = get_request(ctx.session, shop_id, request_id)
    knobs = ctx.settings.aftersales
    bad = [url for _, url, _ in links if not _LINK_URL.match(url)]
    if bad:
        raise ValidationFailed(
            "evidence_bad_link",
            f"举证链接须为 http(s) 地址且不超过190个字符：{bad[0][:60]}",
            "Evidence links must be http(s) URLs of at most 190 characters",
            field="evidence",
        )
    count = ctx.session.scalar(
        select(func.count()).where(
            Evidence.shop_id == shop_id, Evidence.request_id == req.id, Evidence.party == "merchant"
        )
    )
    if int(count or 0) + len(links) > knobs.evidence_max_files:
        raise Conflict(
            "evidence_too_many",
            f"每个售后单最多上传 {knobs.evidence_max_files} 个举证文件",
            f"At most {knobs.evidence_max_files} evidence files per request",
        )
    rows = []
    for kind, url, desc in links:
        row = Evidence(
            shop_id=shop_id,
            request_id=req.id,
            party="merchant",
            uploaded_by=ctx.actor,
            filename=(desc.strip() or url.rsplit("/", 1)[-1] or "link")[:120],
            content_type=f"{kind}/link"[:40],
            size_bytes=0,
            sha256=hashlib.sha256(url.encode()).hexdigest(),
            storage_key=LINK_PREFIX + url,
            used=False,
            created_at=ctx.now,
        )
        ctx.session.add(row)
        rows.append(row)
    ctx.session.flush()
    return rows

"""Export records 导出记录 and their phone-verification codes 手机验证 (SPEC O2).

An export is a background job: the record is created ``queued`` (排队中) by the merchant's
"导出查询订单", claimed by one worker (``running`` 导出中), and ends ``done`` (已完成) with a
file, or ``failed`` (失败) with the reason. The file is written under a temporary name and
renamed only when complete, so a ``done`` record always points at a whole file.

Downloading needs a one-time SMS code: only its salted HMAC-SHA256 is stored, with its expiry,
wrong tries, lock and use.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.shard import TENANT, TENANT_IDENTITY, tenant_fk, tenant_pk


class ExportStatus(StrEnum):
    QUEUED = "queued"  # 排队中
    RUNNING = "running"  # 导出中
    DONE = "done"  # 已完成
    FAILED = "failed"  # 失败


EXPORT_STATUS_LABELS: dict[str, str] = {
    ExportStatus.QUEUED: "排队中",
    ExportStatus.RUNNING: "导出中",
    ExportStatus.DONE: "已完成",
    ExportStatus.FAILED: "失败",
}

EXPORT_FORMATS = ("csv", "xlsx")


class OrderExport(Base):
    """导出记录: one "导出查询订单" request and its progress."""

    __tablename__ = "order_exports"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        Index("ix_order_exports_shop", "shop_id", "id"),
        Index("ix_order_exports_shop_created", "shop_id", "created_at", "id"),  # U6
        Index("ix_order_exports_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    filter: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # OrderFilter, JSON
    format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.QUEUED)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)  # known once counted
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    row_count: Mapped[int | None] = mapped_column(BigInteger)  # rows in the finished file
    file_path: Mapped[str] = mapped_column(String(500), default="")
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(48))  # "user:12" | "app:3"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Wall-clock lease of the worker running it: a worker that died leaves it to expire.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")


class ExportCode(Base):
    """A 6-digit download code sent by SMS (手机验证). Stored as HMAC-SHA256(salt, code)."""

    __tablename__ = "order_export_codes"
    __shard__ = TENANT
    __mapper_args__ = TENANT_IDENTITY
    __table_args__ = (
        tenant_pk(),
        *tenant_fk("order_export_codes", "export_id", "order_exports"),
        Index("ix_order_export_codes_export", "shop_id", "export_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, autoincrement=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    export_id: Mapped[int] = mapped_column(BigId)
    phone: Mapped[str] = mapped_column(String(20))  # where it was sent
    requested_by: Mapped[str] = mapped_column(String(48))
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # wrong tries
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

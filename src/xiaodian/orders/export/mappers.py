"""O2 export records → response models (issue 15 M5: the one mapping layer)."""

from __future__ import annotations

from xiaodian.orders.export import service
from xiaodian.orders.export.models import OrderExport
from xiaodian.orders.export.schemas import ExportOut


def export_out(record: OrderExport) -> ExportOut:
    return ExportOut(
        id=record.id,
        status=record.status,
        status_label=service.status_label(record),
        format=record.format,
        filter=dict(record.filter),
        rows_total=record.rows_total,
        rows_done=record.rows_done,
        progress_percent=service.progress_percent(record),
        row_count=record.row_count,
        file_size=record.file_size,
        created_by=record.created_by,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
    )

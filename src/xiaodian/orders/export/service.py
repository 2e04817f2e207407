"""O2 导出查询订单: export exactly the orders the current filter selects, in the background,
downloadable only after phone verification (手机验证).

Flow
----
1. ``create_export`` stores the filter (``OrderFilter`` as JSON) and the format (csv | xlsx) in
   an export record (导出记录), status 排队中.
2. The worker job ``orders.export`` (``run_due_exports``) claims queued records — ``FOR UPDATE
   SKIP LOCKED`` on PostgreSQL, so two workers never run one export — and writes the file:
   batches of ``settings.orders.export_batch_rows`` orders, keyset on ``id`` (newest first, the
   order of the order list), each batch read in its own short transaction, progress committed
   after every batch. The file is written as ``*.part`` and renamed when complete: a record is
   已完成 only with a whole file; any error marks it 失败 with the reason and removes the part.
   Done → 站内通知 "订单导出已完成" and event ``orders.export.completed``.
3. ``request_code`` sends a 6-digit code by SMS to the acting account's phone (the shop's phone
   when the account has none, and for API apps). Only HMAC-SHA256(salt, code) is stored.
4. ``authorize_download`` checks the code: valid for ``export_code_ttl_seconds`` (inclusive: a
   code is still good at exactly 300 s, expired at 301 s), ``export_code_max_attempts`` wrong
   tries then locked (a new code must be requested), single use; a new code may be requested
   once every ``export_code_resend_seconds`` per phone.

Where the file is made (code layout): this module keeps the export's lifecycle — records,
the job that claims and runs them, phone verification for the download — and ``write_export``,
which hands an ``ExportJob`` to a writer. The columns, the batches and the row sources are in
``rows.py``, the CSV file (UTF-8 BOM, formula guard, ="<digits>" ids, COPY on PostgreSQL) in
``csv_export.py``, the XLSX file in ``xlsx_export.py`` (its SpreadsheetML writer in ``xlsx.py``);
the names callers read from this module are re-exported here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from xiaodian.accounts.models import Shop, User
from xiaodian.accounts.service import Principal
from xiaodian.config import Settings
from xiaodian.context import Ctx
from xiaodian.db import get_owned, is_postgres, rowcount, transaction
from xiaodian.errors import Conflict, ValidationFailed, XiaodianError
from xiaodian.notify import service as notify
from xiaodian.notify.sms import SmsGateway, gateway_for
from xiaodian.orders.export.csv_export import BOM as BOM
from xiaodian.orders.export.csv_export import copy_out as copy_out
from xiaodian.orders.export.csv_export import write_csv_copy, write_csv_rows
from xiaodian.orders.export.models import (
    EXPORT_FORMATS,
    EXPORT_STATUS_LABELS,
    ExportCode,
    ExportStatus,
    OrderExport,
)
from xiaodian.orders.export.rows import CARRIER_NAMES as CARRIER_NAMES
from xiaodian.orders.export.rows import HEADERS as HEADERS
from xiaodian.orders.export.rows import INT_COLUMNS as INT_COLUMNS
from xiaodian.orders.export.rows import ITEM_SEPARATOR as ITEM_SEPARATOR
from xiaodian.orders.export.rows import MONEY_COLUMNS as MONEY_COLUMNS
from xiaodian.orders.export.rows import ORDER_NO_COLUMN as ORDER_NO_COLUMN
from xiaodian.orders.export.rows import SERIAL_PLAN_SQL as SERIAL_PLAN_SQL
from xiaodian.orders.export.rows import TIME_FORMAT_PY as TIME_FORMAT_PY
from xiaodian.orders.export.rows import TIME_FORMAT_SQL as TIME_FORMAT_SQL
from xiaodian.orders.export.rows import TRACKING_COLUMN as TRACKING_COLUMN
from xiaodian.orders.export.rows import ExportJob as ExportJob
from xiaodian.orders.export.rows import Progress as Progress
from xiaodian.orders.export.rows import RowSource as RowSource
from xiaodian.orders.export.rows import batch_ranges as batch_ranges
from xiaodian.orders.export.rows import compiled_sql, pg_rows, py_rows
from xiaodian.orders.export.rows import copy_session_sql as copy_session_sql
from xiaodian.orders.export.rows import fen_to_yuan as fen_to_yuan
from xiaodian.orders.export.rows import formatted_select as formatted_select
from xiaodian.orders.export.xlsx_export import XLSX_SHEET_NAME as XLSX_SHEET_NAME
from xiaodian.orders.export.xlsx_export import XLSX_WIDTHS as XLSX_WIDTHS
from xiaodian.orders.export.xlsx_export import write_xlsx
from xiaodian.orders.export.xlsx_export import xlsx_writer_name as xlsx_writer_name
from xiaodian.orders.filters import OrderFilter
from xiaodian.runtime import Runtime
from xiaodian.timeorder import before, newest_first

# Read from here by their old private names: bench/orders_export.py (``_compiled``) and the O2
# memory test's script (``_py_rows``).
_compiled = compiled_sql
_py_rows = py_rows


class TooManyRequests(Conflict):
    status = 429


# ----- export records ----------------------------------------------------------------------


def create_export(
    ctx: Ctx, principal: Principal, filters: OrderFilter, fmt: str = "csv"
) -> OrderExport:
    """导出查询订单: queue an export of exactly what ``filters`` selects (O2)."""
    principal.require("orders.export")
    fmt = (fmt or "").strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(
            "invalid_format",
            "导出格式只能是 CSV 或 XLSX",
            "Export format must be csv or xlsx",
            field="format",
            rule="O2",
        )
    record = OrderExport(
        shop_id=principal.shop_id,
        filter=filters.model_dump(mode="json", exclude_none=True),
        format=fmt,
        status=ExportStatus.QUEUED,
        rows_done=0,
        file_path="",
        created_by=principal.actor,
        created_at=ctx.now,
        attempts=0,
        error="",
    )
    ctx.session.add(record)
    ctx.session.flush()
    notify.emit(
        ctx,
        principal.shop_id,
        "orders.export.created",
        {"export_id": record.id, "format": fmt, "filter": record.filter},
        rule="O2",
    )
    return record


def get_export(session: Session, shop_id: int, export_id: int) -> OrderExport:
    record: OrderExport = get_owned(
        session, OrderExport, shop_id, export_id, ("导出记录", "Export record")
    )
    return record


def list_exports(
    session: Session, shop_id: int, *, before_id: int | None = None, limit: int = 20
) -> list[OrderExport]:
    query = (
        select(OrderExport)
        .where(OrderExport.shop_id == shop_id)
        .order_by(*newest_first(OrderExport.created_at, OrderExport.id))  # U6
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(before(OrderExport.created_at, OrderExport.id, before_id))
    return list(session.scalars(query))


def has_running(session: Session, shop_id: int) -> bool:
    return (
        session.scalar(
            select(OrderExport.id)
            .where(
                OrderExport.shop_id == shop_id,
                OrderExport.status.in_((ExportStatus.QUEUED, ExportStatus.RUNNING)),
            )
            .limit(1)
        )
        is not None
    )


def status_label(record: OrderExport) -> str:
    return EXPORT_STATUS_LABELS.get(record.status, record.status)


def progress_percent(record: OrderExport) -> int:
    if record.status == ExportStatus.DONE:
        return 100
    if not record.rows_total:
        return 0
    return min(99, record.rows_done * 100 // record.rows_total)


def stored_filter(record: OrderExport) -> OrderFilter:
    return OrderFilter.model_validate(record.filter)


def download_name(record: OrderExport) -> str:
    return f"订单导出_{record.id}.{record.format}"


# ----- phone verification (手机验证) --------------------------------------------------------


@dataclass(frozen=True)
class SentCode:
    code_id: int
    phone: str
    expires_at: datetime


def request_code(
    ctx: Ctx,
    principal: Principal,
    export_id: int,
    *,
    sms: SmsGateway | None = None,
) -> SentCode:
    """获取验证码: a new 6-digit code for this export, sent by SMS (O2)."""
    principal.require("orders.export")
    record = get_export(ctx.session, principal.shop_id, export_id)
    _require_done(record)
    phone = verification_phone(ctx.session, principal)
    rules = ctx.settings.orders
    last = ctx.session.scalar(
        select(func.max(ExportCode.created_at)).where(
            ExportCode.shop_id == principal.shop_id, ExportCode.phone == phone
        )
    )
    if last is not None:
        wait = int(
            (last + timedelta(seconds=rules.export_code_resend_seconds) - ctx.now).total_seconds()
        )
        if wait > 0:
            raise TooManyRequests(
                "code_throttled",
                f"验证码发送太频繁，请{wait}秒后再试",
                f"A code was sent recently; try again in {wait} s",
                rule="O2",
            )
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(16)
    row = ExportCode(
        shop_id=principal.shop_id,
        export_id=record.id,
        phone=phone,
        requested_by=principal.actor,
        salt=salt,
        code_hash=_hash_code(salt, code),
        created_at=ctx.now,
        expires_at=ctx.now + timedelta(seconds=rules.export_code_ttl_seconds),
        attempts=0,
    )
    ctx.session.add(row)
    ctx.session.flush()
    (sms or gateway_for(ctx.settings)).send(
        ctx,
        phone,
        "export_code",
        {
            "export_id": record.id,
            "code": code,
            "minutes": max(1, rules.export_code_ttl_seconds // 60),
        },
        shop_id=principal.shop_id,
    )
    return SentCode(code_id=row.id, phone=phone, expires_at=row.expires_at)


def authorize_download(ctx: Ctx, principal: Principal, export_id: int, code: str) -> Path:
    """Check the code for this export; on success it is used up and the file path returned.

    A wrong try is committed before the refusal is raised, so the count survives the
    rollback of the request's unit of work."""
    principal.require("orders.export")
    record = get_export(ctx.session, principal.shop_id, export_id)
    _require_done(record)
    code = (code or "").strip()
    row = ctx.session.scalars(
        select(ExportCode)
        .where(ExportCode.shop_id == principal.shop_id, ExportCode.export_id == record.id)
        .order_by(ExportCode.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise ValidationFailed(
            "code_required",
            "请先获取手机验证码",
            "Request a verification code first",
            field="code",
            rule="O2",
        )
    rules = ctx.settings.orders
    if row.used_at is not None:
        raise _used()
    if row.locked_at is not None:
        raise _locked(rules.export_code_max_attempts)
    if ctx.now > row.expires_at:
        raise ValidationFailed(
            "code_expired",
            "验证码已过期，请重新获取",
            "The code has expired; request a new one",
            field="code",
            rule="O2",
        )
    if not (
        len(code) == 6 and code.isdigit() and _equal(_hash_code(row.salt, code), row.code_hash)
    ):
        raise _wrong_try(ctx, row, rules.export_code_max_attempts)
    used = ctx.session.execute(
        update(ExportCode)
        .where(
            ExportCode.id == row.id,
            ExportCode.used_at.is_(None),
            ExportCode.locked_at.is_(None),
        )
        .values(used_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(used) != 1:  # used (or locked) by a request that raced this one
        raise _used()
    path = Path(record.file_path)
    if not path.is_file():
        raise Conflict(
            "export_file_missing",
            "导出文件已不存在，请重新导出",
            "The export file no longer exists; export again",
            rule="O2",
        )
    notify.emit(
        ctx,
        principal.shop_id,
        "orders.export.downloaded",
        {"export_id": record.id, "by": principal.actor},
        rule="O2",
    )
    return path


def _wrong_try(ctx: Ctx, row: ExportCode, max_attempts: int) -> XiaodianError:
    attempts = ctx.session.execute(
        update(ExportCode)
        .where(ExportCode.id == row.id)
        .values(attempts=ExportCode.attempts + 1)
        .returning(ExportCode.attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if attempts >= max_attempts:
        ctx.session.execute(
            update(ExportCode)
            .where(ExportCode.id == row.id, ExportCode.locked_at.is_(None))
            .values(locked_at=ctx.now)
            .execution_options(synchronize_session=False)
        )
    ctx.session.commit()
    if attempts >= max_attempts:
        return _locked(max_attempts)
    left = max_attempts - attempts
    return ValidationFailed(
        "code_wrong",
        f"验证码错误，还可尝试{left}次",
        f"Wrong code; {left} tries left",
        field="code",
        errors=[{"field": "code", "tries_left": left}],
        rule="O2",
    )


def _used() -> XiaodianError:
    return ValidationFailed(
        "code_used",
        "验证码已使用，请重新获取",
        "This code was already used; request a new one",
        field="code",
        rule="O2",
    )


def _locked(max_attempts: int) -> XiaodianError:
    return ValidationFailed(
        "code_locked",
        f"验证码已错误{max_attempts}次被锁定，请重新获取",
        f"Too many wrong tries ({max_attempts}); the code is locked, request a new one",
        field="code",
        rule="O2",
    )


def _require_done(record: OrderExport) -> None:
    if record.status != ExportStatus.DONE:
        raise Conflict(
            "export_not_ready",
            f"导出尚未完成（当前状态：{status_label(record)}），完成后才能下载",
            f"The export is not finished (status {record.status}); download when it is done",
            rule="O2",
        )


def verification_phone(session: Session, principal: Principal) -> str:
    phone = ""
    if principal.user_id is not None:
        user = session.get(User, principal.user_id)
        phone = user.phone if user is not None and user.shop_id == principal.shop_id else ""
    if not phone:
        shop = session.get(Shop, principal.shop_id)
        phone = shop.phone if shop is not None else ""
    if not phone:
        raise Conflict(
            "no_phone",
            "账号未绑定手机号，无法进行手机验证",
            "No phone number is bound to this account or shop; phone verification impossible",
            rule="O2",
        )
    return phone


def _hash_code(salt: str, code: str) -> str:
    return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# ----- the background job ------------------------------------------------------------------


def run_due_exports(rt: Runtime, *, only_id: int | None = None) -> dict[str, int]:
    """Job ``orders.export``: run every queued export (and any whose worker died)."""
    counts = {"claimed": 0, "done": 0, "failed": 0}
    while True:
        export_id = _claim(rt, only_id)
        if export_id is None:
            return counts
        counts["claimed"] += 1
        counts["done" if run_export(rt, export_id) else "failed"] += 1


def _claim(rt: Runtime, only_id: int | None) -> int | None:
    wall = rt.wall.now()
    stale = wall - timedelta(seconds=rt.settings.orders.export_lease_seconds)
    with transaction(rt.factory) as session:
        query = (
            select(OrderExport.id)
            .where(
                or_(
                    OrderExport.status == ExportStatus.QUEUED,
                    and_(
                        OrderExport.status == ExportStatus.RUNNING,
                        OrderExport.heartbeat_at < stale,
                    ),
                )
            )
            .order_by(OrderExport.id)
            .limit(1)
        )
        if only_id is not None:
            query = query.where(OrderExport.id == only_id)
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        export_id = session.scalar(query)
        if export_id is None:
            return None
        session.execute(
            update(OrderExport)
            .where(OrderExport.id == export_id)
            .values(
                status=ExportStatus.RUNNING,
                started_at=rt.clock.now(),
                heartbeat_at=wall,
                rows_done=0,
                attempts=OrderExport.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        return int(export_id)


class _Abandoned(Exception):
    """The record is no longer ours (re-claimed after our lease ran out)."""


def run_export(rt: Runtime, export_id: int) -> bool:
    """Write the file of one claimed export; True when done, False when it failed."""
    with transaction(rt.factory) as session:
        record = session.get(OrderExport, export_id)
        assert record is not None
        shop_id, fmt, raw_filter = record.shop_id, record.format, dict(record.filter)
    final = export_path(rt.settings, shop_id, export_id, fmt)
    part = final.with_name(final.name + f".{secrets.token_hex(4)}.part")
    try:
        filters = OrderFilter.model_validate(raw_filter)
        final.parent.mkdir(parents=True, exist_ok=True)

        def progress(done: int, total: int) -> None:
            _heartbeat(rt, export_id, done, total)

        rows = write_export(rt, shop_id, filters, fmt, part, progress=progress)
        size = part.stat().st_size
        os.replace(part, final)
        with rt.unit("system") as ctx:
            changed = ctx.session.execute(
                update(OrderExport)
                .where(OrderExport.id == export_id, OrderExport.status == ExportStatus.RUNNING)
                .values(
                    status=ExportStatus.DONE,
                    rows_done=rows,
                    rows_total=rows,
                    row_count=rows,
                    file_path=str(final),
                    file_size=size,
                    finished_at=ctx.now,
                    heartbeat_at=rt.wall.now(),
                    error="",
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(changed) != 1:
                raise _Abandoned()
            notify.notice(
                ctx,
                shop_id,
                category="orders",
                title="订单导出已完成",
                body=f"导出记录 #{export_id}（{fmt.upper()},{rows} 条订单）已完成，"
                "完成手机验证即可下载。",
                link="/console/orders/exports",
                rule="O2",
            )
            notify.emit(
                ctx,
                shop_id,
                "orders.export.completed",
                {"export_id": export_id, "format": fmt, "rows": rows, "file_size": size},
                rule="O2",
            )
        return True
    except _Abandoned:
        part.unlink(missing_ok=True)
        return False
    except Exception as exc:  # recorded on the record: a failed export never looks done
        part.unlink(missing_ok=True)
        _fail(rt, export_id, shop_id, exc)
        return False


def export_path(settings: Settings, shop_id: int, export_id: int, fmt: str) -> Path:
    return (
        Path(settings.orders.export_dir).resolve() / f"shop-{shop_id}" / f"export-{export_id}.{fmt}"
    )


def _heartbeat(rt: Runtime, export_id: int, done: int, total: int) -> None:
    with transaction(rt.factory) as session:
        changed = session.execute(
            update(OrderExport)
            .where(OrderExport.id == export_id, OrderExport.status == ExportStatus.RUNNING)
            .values(rows_done=done, rows_total=total, heartbeat_at=rt.wall.now())
            .execution_options(synchronize_session=False)
        )
        if rowcount(changed) != 1:
            raise _Abandoned()


def _fail(rt: Runtime, export_id: int, shop_id: int, exc: Exception) -> None:
    if isinstance(exc, XiaodianError):
        reason = exc.message_zh
    elif isinstance(exc, ValidationError):
        reason = f"筛选条件无效：{exc.error_count()} 项错误"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    with rt.unit("system") as ctx:
        ctx.session.execute(
            update(OrderExport)
            .where(OrderExport.id == export_id)
            .values(status=ExportStatus.FAILED, finished_at=ctx.now, error=reason[:2000])
            .execution_options(synchronize_session=False)
        )
        notify.notice(
            ctx,
            shop_id,
            category="orders",
            title="订单导出失败",
            body=f"导出记录 #{export_id} 失败：{reason[:200]}。请重新导出。",
            link="/console/orders/exports",
            rule="O2",
        )
        notify.emit(
            ctx,
            shop_id,
            "orders.export.failed",
            {"export_id": export_id, "error": reason[:200]},
            rule="O2",
        )


# ----- writing the file --------------------------------------------------------------------


def write_export(
    rt: Runtime,
    shop_id: int,
    filters: OrderFilter,
    fmt: str,
    path: Path,
    *,
    progress: Progress | None = None,
) -> int:
    """Write every order ``filtered_query(shop_id, filters)`` selects to ``path``; returns
    the number of orders written. Used by the job, the CLI and the benchmark."""
    total, ranges = batch_ranges(rt, shop_id, filters)
    postgres = is_postgres(rt.engine)
    rows = pg_rows if postgres else py_rows
    job = ExportJob(rt, shop_id, filters, path, total, ranges, rows, progress)
    if fmt == "csv":
        return write_csv_copy(job) if postgres else write_csv_rows(job)
    return write_xlsx(job)

"""O2: the exported CSV and XLSX open in a real spreadsheet program (LibreOffice Calc).

LOCAL CHECK ONLY: LibreOffice is large and is deliberately not installed in CI. Install it
with ``apt-get install -y libreoffice-calc``; without ``soffice`` these tests are skipped,
unless ``XIAODIAN_REQUIRE_LIBREOFFICE=1`` (then they fail).

A few orders with Chinese text, quotes/commas, a newline in an address, a would-be formula,
money and times are exported through the real export code (``create_export`` + the job),
then ``soffice --headless --convert-to csv`` reads each file as a user's Calc would (UTF-8
locale, default import) and writes it back as UTF-8 CSV "as shown"; the result must hold the
Chinese header, the same order numbers, times and texts, and the same money values. The CSV
writes the 19-digit 订单号 as the text formula ="<digits>", so a default open keeps every
digit (a bare number would keep 15)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.orders.export.conftest import Mixed
from tests.orders.export.helpers import read_csv, run_job, unwrap
from xiaodian.accounts.service import Principal
from xiaodian.orders.export import service as export
from xiaodian.orders.export.models import ExportStatus, OrderExport
from xiaodian.orders.schemas import OrderFilter
from xiaodian.orders.service import filtered_query
from xiaodian.runtime import Runtime

# Write UTF-8 (76), first line 1, cells "as shown" (token 9) so 0.00-formatted money stays 0.00.
CSV_OUT = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true"
# Open a CSV as Calc's import dialog does: comma, double quote, the character set left empty
# so Calc detects it (the BOM says UTF-8), from line 1. (Headless --convert-to without any
# --infilter skips that detection and reads the system 8-bit charset: mojibake for any UTF-8
# CSV, a headless-only artefact.)
CSV_IN = "Text - txt - csv (StarCalc):44,34,,1"
# The same with the first column (订单号) typed as Text (format 2), as a user could choose there
# before the CSV wrote it as ="<digits>".
CSV_IN_ORDER_NO_AS_TEXT = CSV_IN + ",1/2"
MONEY = tuple(export.MONEY_COLUMNS)
ORDER_NO = 0


@pytest.fixture(scope="module")
def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        message = (
            "soffice not found: the LibreOffice check is local only "
            "(apt-get install -y libreoffice-calc)"
        )
        if os.environ.get("XIAODIAN_REQUIRE_LIBREOFFICE") == "1":
            pytest.fail(message + " (XIAODIAN_REQUIRE_LIBREOFFICE=1)")
        pytest.skip(message)
    return found


def _export_file(rt: Runtime, shop_id: int, fmt: str, target: Path) -> Path:
    with rt.unit("user:1") as ctx:
        record = export.create_export(
            ctx,
            Principal(shop_id=shop_id, app_id=1, scopes=frozenset({"orders"})),
            OrderFilter(),
            fmt,
        )
    run_job(rt)
    with rt.unit() as ctx:
        done = ctx.session.get(OrderExport, record.id)
        assert done is not None and done.status == ExportStatus.DONE, done and done.error
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(done.file_path, target)
    return target


def _convert(
    soffice: str, source: Path, tmp: Path, *, infilter: str | None = None
) -> list[list[str]]:
    """``soffice --headless --convert-to csv``; the converted file as rows of text cells."""
    out = tmp / f"converted-{len(list(tmp.glob('converted-*')))}"
    home = tmp / "lo-home"
    home.mkdir(exist_ok=True)
    command = [soffice, "--headless", "--norestore"]
    if infilter:
        command.append(f"--infilter={infilter}")
    command += ["--convert-to", CSV_OUT, "--outdir", str(out), str(source)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    converted = out / f"{source.stem}.csv"
    assert result.returncode == 0 and converted.is_file(), (result.stdout, result.stderr)
    text = converted.read_bytes().decode("utf-8")  # a BOM kept in a cell would show
    return list(csv.reader(io.StringIO(text, newline="")))


def _source(rt: Runtime, mixed: Mixed, tmp: Path) -> tuple[Path, list[list[str]], list[str]]:
    """The CSV export, its rows as written, and the order numbers the filter selects."""
    path = _export_file(rt, mixed.shop_id, "csv", tmp / "src" / "orders.csv")
    bom, rows = read_csv(path)
    assert bom == b"\xef\xbb\xbf"
    with rt.unit() as ctx:
        numbers = [
            o.order_no for o in ctx.session.scalars(filtered_query(mixed.shop_id, OrderFilter()))
        ]
    assert [r[ORDER_NO] for r in rows[1:]] == numbers and len(numbers) >= 5
    return path, rows, numbers


def _same_except(got: list[list[str]], want: list[list[str]], skip: tuple[int, ...]) -> None:
    assert len(got) == len(want)
    for got_row, want_row in zip(got, want, strict=True):
        assert len(got_row) == len(want_row) == len(export.HEADERS)
        for col, (a, b) in enumerate(zip(got_row, want_row, strict=True)):
            if col not in skip:
                assert a == b, (export.HEADERS[col], a, b)


def _money(rows: list[list[str]]) -> list[list[Decimal]]:
    return [[Decimal(r[c]) for c in MONEY] for r in rows]


def test_O2_xlsx_opens_in_libreoffice_with_exact_values(
    rt: Runtime, mixed: Mixed, tmp_path: Path, soffice: str
) -> None:
    _, source, numbers = _source(rt, mixed, tmp_path)
    xlsx = _export_file(rt, mixed.shop_id, "xlsx", tmp_path / "src" / "orders_book.xlsx")
    rows = _convert(soffice, xlsx, tmp_path)
    assert rows[0] == list(export.HEADERS)  # 订单号,下单时间,… in Chinese
    assert [r[ORDER_NO] for r in rows[1:]] == numbers  # strings in the sheet: all 19 digits
    # Same as the CSV cell for cell — money as shown (0.00), Shanghai times, texts with
    # commas, quotes and a newline — except the formula guard: the CSV writes '=HYPERLINK(1),
    # the XLSX a plain string cell (never a formula).
    guarded = [[c[1:] if c.startswith("'=") else c for c in r] for r in source]
    assert rows == guarded
    assert any("715.10" in r for r in rows) and any("0.00" in r for r in rows)
    assert any('西湖龙井, "特级"×2' in c for r in rows for c in r)  # cn-punct: keep


def test_O2_csv_opens_in_libreoffice_with_chinese_text_and_money(
    rt: Runtime, mixed: Mixed, tmp_path: Path, soffice: str
) -> None:
    path, source, numbers = _source(rt, mixed, tmp_path)
    # Opened as Calc's import dialog does: the BOM'd UTF-8 reads as Chinese, not mojibake.
    rows = _convert(soffice, path, tmp_path, infilter=CSV_IN)
    assert rows[0] == list(export.HEADERS)
    _same_except(rows[1:], source[1:], skip=(ORDER_NO, *MONEY))
    assert _money(rows[1:]) == _money(source[1:])  # Calc reads yuan as numbers: 715.1 == 715.10
    assert any(r[8] == "'=HYPERLINK(1)" for r in rows)  # the guard kept it a text, not a formula
    # A default open keeps every digit of 订单号: Calc evaluates ="<digits>" to a text.
    assert [r[ORDER_NO] for r in rows[1:]] == numbers
    _same_except(rows, source, skip=MONEY)
    # Forcing 订单号 to Text in the import dialog is no longer needed; it would show the
    # formula itself, ="<digits>", still with every digit.
    as_text = _convert(soffice, path, tmp_path, infilter=CSV_IN_ORDER_NO_AS_TEXT)
    assert [r[ORDER_NO] for r in as_text[1:]] == [f'="{n}"' for n in numbers]
    assert [unwrap(r[ORDER_NO]) for r in as_text[1:]] == numbers
    _same_except(as_text, source, skip=(ORDER_NO, *MONEY))


def test_O2_csv_order_numbers_survive_a_default_open_in_libreoffice(
    rt: Runtime, mixed: Mixed, tmp_path: Path, soffice: str
) -> None:
    # A bare 19-digit number would open as 2.61102703526773E+018 (15 significant digits);
    # the CSV writes ="<digits>", which Calc (like Excel and WPS) evaluates to the text.
    path, _, numbers = _source(rt, mixed, tmp_path)
    _, raw = read_csv(path, raw=True)
    assert [r[ORDER_NO] for r in raw[1:]] == [f'="{n}"' for n in numbers]
    rows = _convert(soffice, path, tmp_path, infilter=CSV_IN)
    assert [r[ORDER_NO] for r in rows[1:]] == numbers
    assert all(len(n) == 19 for n in numbers)

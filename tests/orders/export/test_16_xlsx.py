"""Issue 16: the XLSX export's own streamed writer (``orders/export/xlsx.py``) — the same
cells row for row as the CSV export, the same worksheet XML as XlsxWriter (the fallback, forced
by ``orders.xlsx_writer`` or by the fast module failing to import), sheets split past
``XLSX_MAX_DATA_ROWS``, progress per batch, and the same CSV once LibreOffice converts either
file (local check, skipped without ``soffice`` unless ``XIAODIAN_REQUIRE_LIBREOFFICE=1``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import update

from tests.orders.export.conftest import Mixed
from tests.orders.export.helpers import read_csv
from xiaodian.orders.export import service as export
from xiaodian.orders.export import xlsx_export
from xiaodian.orders.models import Order, OrderItem
from xiaodian.orders.schemas import OrderFilter
from xiaodian.runtime import Runtime

M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
TEXT_COLUMNS = (6, 8, 10)  # the CSV's formula guard ' applies to these

# Text a spreadsheet must keep as it is: a would-be formula, quotes, XML specials, newlines,
# a tab, control characters (illegal in XML 1.0: written as Excel's _xHHHH_ escapes), a
# literal "_x0041_" (escaped as _x005F_x0041_), white space at both ends, a non-character.
TRICKY_NAMES = ["=1+1", "  两头空格 ", "控制\x01\x07\x1f字符", "非字符\ufffe", "+86 开头"]
TRICKY_ADDRESS = "a&b <c> \"双引号\" '单引号'\n第二行\t制表\r\n回车 &amp; 已转义"
TRICKY_TRACKING = "_x0041_SF 12"
TRICKY_TITLE = "杯子 <大> & 小 _x000D_"


def add_tricky_orders(rt: Runtime, mixed: Mixed, shopper: Any) -> list[int]:
    """The mixed orders plus orders whose stored texts need every escape (written straight
    into the rows, as an import or the platform's API could deliver them)."""
    cup = shopper.product(mixed.shop_id, title="保温杯 500ml", price_fen=5_900)
    ids = [shopper.order(mixed.shop_id, cup, name=f"买家{i}") for i in range(len(TRICKY_NAMES))]
    with rt.unit("user:1") as ctx:
        for order_id, name in zip(ids, TRICKY_NAMES, strict=True):
            ctx.session.execute(update(Order).where(Order.id == order_id).values(buyer_name=name))
        ctx.session.execute(
            update(Order)
            .where(Order.id == ids[0])
            .values(address=TRICKY_ADDRESS, carrier="SF", tracking_no=TRICKY_TRACKING)
        )
        ctx.session.execute(
            update(OrderItem).where(OrderItem.order_id == ids[1]).values(title=TRICKY_TITLE)
        )
    return ids


@pytest.fixture
def tricky(rt: Runtime, mixed: Mixed, shopper: Any) -> Mixed:
    add_tricky_orders(rt, mixed, shopper)
    return mixed


# ----- reading an XLSX back (stdlib): every sheet, every cell with its type and style -------

_EXCEL_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")


def excel_text(text: str) -> str:
    """A string cell's text as Excel shows it: _xHHHH_ is the character U+HHHH (so
    _x005F_x0041_ is the text _x0041_)."""
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def sheets(path: Path) -> list[tuple[str, ElementTree.Element]]:
    """(name, worksheet root) for every sheet, in workbook order (through the relationships)."""
    with zipfile.ZipFile(path) as book:
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
        result = []
        for sheet in workbook.iter(f"{M}sheet"):
            target = targets[sheet.get(f"{R}id")].lstrip("/")
            target = target if target.startswith("xl/") else f"xl/{target}"
            result.append((sheet.get("name", ""), ElementTree.fromstring(book.read(target))))
    return result


def cells(root: ElementTree.Element) -> list[list[tuple[str, str, str, str]]]:
    """Rows of (reference, type, style, value as Excel shows it) — omitted cells are absent."""
    rows = []
    for row in root.iter(f"{M}row"):
        out = []
        for c in row.findall(f"{M}c"):
            if c.get("t") == "inlineStr":
                value = excel_text("".join(t.text or "" for t in c.iter(f"{M}t")))
            else:
                v = c.find(f"{M}v")
                value = "" if v is None or v.text is None else v.text
            out.append((c.get("r", ""), c.get("t", ""), c.get("s", ""), value))
        rows.append(out)
    return rows


def table(path: Path) -> list[list[str]]:
    """Every sheet's data rows after its header, concatenated, as 17 text cells (money as the
    0.00 format shows it); the first header once."""
    result: list[list[str]] = []
    for index, (_, root) in enumerate(sheets(path)):
        for number, row in enumerate(cells(root)):
            if number == 0 and index > 0:
                assert [c[3] for c in row] == list(export.HEADERS)  # each sheet repeats it
                continue
            line = [""] * len(export.HEADERS)
            for ref, kind, _style, value in row:
                col = _column(ref)
                if col in export.MONEY_COLUMNS and kind == "":
                    value = f"{Decimal(value):.2f}"
                line[col] = value
            result.append(line)
    return result


def _column(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref)
    assert letters is not None
    index = 0
    for char in letters.group(0):
        index = index * 26 + ord(char) - 64
    return index - 1


def sheet_data(path: Path) -> list[bytes]:
    """Each worksheet's <sheetData> element, byte for byte."""
    with zipfile.ZipFile(path) as book:
        names = sorted(
            (n for n in book.namelist() if n.startswith("xl/worksheets/sheet")),
            key=lambda n: int(re.sub(r"\D", "", n)),
        )
        data = [book.read(n) for n in names]
    return [d[d.index(b"<sheetData>") : d.index(b"</sheetData>") + 12] for d in data]


def csv_as_shown(path: Path) -> list[list[str]]:
    """The CSV export as its cells read (="…" unwrapped, the formula guard ' removed)."""
    rows = read_csv(path)[1]
    for row in rows[1:]:
        for col in TEXT_COLUMNS:
            if row[col].startswith("'") and row[col][1:2] in ("=", "+", "-", "@"):
                row[col] = row[col][1:]
    return rows


def write(rt: Runtime, shop_id: int, fmt: str, path: Path, writer: str = "fast") -> int:
    rt.settings.orders.xlsx_writer = writer  # type: ignore[assignment]
    path.parent.mkdir(parents=True, exist_ok=True)
    return export.write_export(rt, shop_id, OrderFilter(), fmt, path)


# ----- tests --------------------------------------------------------------------------------


def test_16_xlsx_fast_writer_is_the_default_and_has_the_same_cells_as_the_csv(
    rt: Runtime, tricky: Mixed, tmp_path: Path
) -> None:
    assert export.xlsx_writer_name(rt.settings) == "fast"
    count = write(rt, tricky.shop_id, "xlsx", tmp_path / "fast.xlsx")
    write(rt, tricky.shop_id, "csv", tmp_path / "orders.csv")
    with zipfile.ZipFile(tmp_path / "fast.xlsx") as book:
        assert "docProps/app.xml" not in book.namelist()  # not XlsxWriter's file
        assert book.testzip() is None
    want = csv_as_shown(tmp_path / "orders.csv")
    got = table(tmp_path / "fast.xlsx")
    assert count == len(got) - 1 == 10
    assert got == want  # every cell, row for row: texts, order numbers, money, times, blanks
    flat = [c for r in got for c in r]
    for text in [*TRICKY_NAMES, TRICKY_ADDRESS, TRICKY_TRACKING, f"{TRICKY_TITLE}×1"]:
        assert text in flat
    assert all(len(r[0]) == 19 and r[0].isdigit() for r in got[1:])
    # typed as the XlsxWriter file was: order numbers are strings, money numbers shown 0.00
    (name, root), *_ = sheets(tmp_path / "fast.xlsx")
    assert name == "订单"
    rows = cells(root)
    assert all(c[1] == "inlineStr" and c[2] == "1" for c in rows[0])  # bold header
    for row in rows[1:]:
        by_col = {_column(c[0]): c for c in row}
        assert by_col[0][1] == "inlineStr"
        assert all(by_col[col][1:3] == ("", "2") for col in export.MONEY_COLUMNS)
        assert by_col[7][1] == "" and by_col[16][1] == ""
        assert 2 not in by_col or by_col[2][3]  # an unpaid order has no 支付时间 cell at all
    formula = next(c for r in rows for c in r if c[3] == "=1+1")
    assert formula[1] == "inlineStr"  # a string, never a formula
    xml = sheet_data(tmp_path / "fast.xlsx")[0]
    assert b"<f>" not in xml and b"_x0001__x0007__x001F_" in xml
    assert b'<t xml:space="preserve">  \xe4\xb8\xa4' in xml and b"_x005F_x0041_SF 12" in xml


@pytest.mark.parametrize("fallback", ["setting", "import"])
def test_16_xlsx_fallback_xlsxwriter_writes_the_same_worksheets(
    rt: Runtime, tricky: Mixed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback: str
) -> None:
    write(rt, tricky.shop_id, "xlsx", tmp_path / "fast.xlsx")
    if fallback == "setting":
        write(rt, tricky.shop_id, "xlsx", tmp_path / "xw.xlsx", writer="xlsxwriter")
    else:  # the fast module cannot be imported: XlsxWriter, whatever the setting says
        monkeypatch.setitem(sys.modules, "xiaodian.orders.export.xlsx", None)
        assert export.xlsx_writer_name(rt.settings) == "xlsxwriter"
        write(rt, tricky.shop_id, "xlsx", tmp_path / "xw.xlsx", writer="fast")
    with zipfile.ZipFile(tmp_path / "xw.xlsx") as book:
        assert b"Microsoft Excel" in book.read("docProps/app.xml")  # XlsxWriter's file
    # the worksheets' cells byte for byte, and so the same table
    assert sheet_data(tmp_path / "fast.xlsx") == sheet_data(tmp_path / "xw.xlsx")
    assert table(tmp_path / "fast.xlsx") == table(tmp_path / "xw.xlsx")
    fast, xw = sheets(tmp_path / "fast.xlsx"), sheets(tmp_path / "xw.xlsx")
    assert [n for n, _ in fast] == [n for n, _ in xw] == ["订单"]
    for (_, a), (_, b) in zip(fast, xw, strict=True):
        for tag in ("sheetViews", "cols"):  # frozen header row, widths, money column style
            ea, eb = a.find(f"{M}{tag}"), b.find(f"{M}{tag}")
            assert ea is not None and eb is not None
            assert ElementTree.tostring(ea) == ElementTree.tostring(eb)


def test_16_xlsx_sheets_split_past_the_row_limit_with_progress_per_batch(
    rt: Runtime, tricky: Mixed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_export, "XLSX_MAX_DATA_ROWS", 3)
    rt.settings.orders.export_batch_rows = 4  # batches straddle the sheet boundaries
    write(rt, tricky.shop_id, "csv", tmp_path / "orders.csv")
    seen: list[tuple[int, int]] = []
    rt.settings.orders.xlsx_writer = "fast"
    export.write_export(
        rt,
        tricky.shop_id,
        OrderFilter(),
        "xlsx",
        tmp_path / "fast.xlsx",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(4, 10), (8, 10), (10, 10)]  # reported per batch, as before
    write(rt, tricky.shop_id, "xlsx", tmp_path / "xw.xlsx", writer="xlsxwriter")
    books = sheets(tmp_path / "fast.xlsx")
    assert [n for n, _ in books] == ["订单", "订单2", "订单3", "订单4"]
    assert [len(cells(root)) for _, root in books] == [4, 4, 4, 2]  # header + 3, 3, 3, 1
    assert [n for n, _ in sheets(tmp_path / "xw.xlsx")] == [n for n, _ in books]
    assert table(tmp_path / "fast.xlsx") == csv_as_shown(tmp_path / "orders.csv")
    assert sheet_data(tmp_path / "fast.xlsx") == sheet_data(tmp_path / "xw.xlsx")
    # exactly the limit: one sheet, no empty second one
    monkeypatch.setattr(xlsx_export, "XLSX_MAX_DATA_ROWS", 10)
    write(rt, tricky.shop_id, "xlsx", tmp_path / "ten.xlsx")
    assert [n for n, _ in sheets(tmp_path / "ten.xlsx")] == ["订单"]


def test_16_xlsx_empty_export_is_a_header_only_workbook(
    rt: Runtime, tricky: Mixed, tmp_path: Path
) -> None:
    rt.settings.orders.xlsx_writer = "fast"
    path = tmp_path / "none.xlsx"
    assert (
        export.write_export(rt, tricky.shop_id, OrderFilter(buyer_name="没有这个人"), "xlsx", path)
        == 0
    )
    ((name, root),) = sheets(path)
    assert name == "订单" and [[c[3] for c in r] for r in cells(root)] == [list(export.HEADERS)]


def _rows_source(rows: list[tuple[Any, ...]]) -> Any:
    def source(*_: Any) -> Iterator[tuple[Any, ...]]:
        yield from rows

    return source


def test_16_xlsx_long_texts_truncated_like_xlsxwriter(rt: Runtime, tmp_path: Path) -> None:
    """Texts past Excel's 32,767 UTF-16 units per cell (a long goods list) are cut where
    XlsxWriter cuts them, a character above U+FFFF never split; other odd values too."""
    base = list(("x",) * 17)
    rows: list[tuple[Any, ...]] = []
    for text in ["𝄞" * 20_000, "a" + "𝄞" * 16_383, "长" * 40_000, "<r>b</r>x", " ", "", "\t"]:
        row = list(base)
        row[6], row[7], row[11], row[12], row[13], row[16] = (
            text,
            3,
            Decimal("-0.05"),
            None,
            Decimal("0.00"),
            0,
        )
        rows.append(tuple(row))
    paths = {}
    for name, write_xlsx in (
        ("fast", xlsx_export._write_xlsx_fast),
        ("xw", xlsx_export._write_xlsx_xlsxwriter),
    ):
        paths[name] = tmp_path / f"{name}.xlsx"
        job = export.ExportJob(
            rt, 1, OrderFilter(), paths[name], len(rows), [(0, 1)], _rows_source(rows)
        )
        done = write_xlsx(job)
        assert done == len(rows)
    assert sheet_data(paths["fast"]) == sheet_data(paths["xw"])
    got = table(paths["fast"])
    assert [len(r[6].encode("utf-16-le")) // 2 for r in got[1:4]] == [32_766, 32_767, 32_767]
    assert got[4][6] == "<r>b</r>x" and got[5][6] == " " and got[7][6] == "\t"
    assert (got[1][11], got[1][12], got[1][13]) == ("-0.05", "", "0.00")


# ----- LibreOffice: both files convert to the same CSV --------------------------------------

CSV_OUT = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"


@pytest.fixture(scope="module")
def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        message = "soffice not found: the LibreOffice check is local only"
        if os.environ.get("XIAODIAN_REQUIRE_LIBREOFFICE") == "1":
            pytest.fail(message + " (XIAODIAN_REQUIRE_LIBREOFFICE=1)")
        pytest.skip(message)
    return found


def libreoffice_csv(soffice: str, source: Path, tmp: Path) -> dict[str, bytes]:
    """Every sheet of ``source`` as LibreOffice Calc writes it to CSV (UTF-8, as shown)."""
    out = tmp / f"lo-{source.stem}"
    home = tmp / "lo-home"
    home.mkdir(exist_ok=True)
    command = [soffice, "--headless", "--norestore", "--convert-to", CSV_OUT]
    command += ["--outdir", str(out), str(source)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout, result.stderr)
    files = {p.name.removeprefix(source.stem): p.read_bytes() for p in out.glob("*.csv")}
    assert files, (result.stdout, result.stderr)
    return files


def test_16_xlsx_fast_and_xlsxwriter_files_convert_to_the_same_csv_in_libreoffice(
    rt: Runtime,
    tricky: Mixed,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    soffice: str,
) -> None:
    monkeypatch.setattr(xlsx_export, "XLSX_MAX_DATA_ROWS", 6)
    write(rt, tricky.shop_id, "xlsx", tmp_path / "fast.xlsx")
    write(rt, tricky.shop_id, "xlsx", tmp_path / "xw.xlsx", writer="xlsxwriter")
    fast = libreoffice_csv(soffice, tmp_path / "fast.xlsx", tmp_path)
    xw = libreoffice_csv(soffice, tmp_path / "xw.xlsx", tmp_path)
    assert sorted(fast) == sorted(xw) == ["-订单.csv", "-订单2.csv"]
    for name in fast:
        assert fast[name] == xw[name], name  # byte for byte
    text = fast["-订单.csv"].decode()
    assert '"=1+1"' in text or ",=1+1," in text  # shown as the text, not 2
    assert "715.10" in text and "0.00" in text

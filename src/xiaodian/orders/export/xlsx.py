"""O2, issue 16: the XLSX export's own streamed SpreadsheetML writer (pure Python + stdlib).

XlsxWriter (``constant_memory``) spends ≈ 7.4 µs per cell in its generic per-cell path; this
writer knows the export's fixed columns and writes each batch of rows column by column: one
precomputed cell fragment per column, one f-string per cell, one ``str.join`` per batch, and
the batch deflated into the worksheet's zip entry in one write. Memory stays flat: nothing but
the current batch (and at most one rendered batch waiting for the deflate thread) is held;
each worksheet is streamed straight into its entry of the zip file (``ZipFile.open(name,
"w")``), deflated in a second thread while the next batch is read and rendered (zlib releases
the GIL); the workbook parts that list the sheets are written last.

The cells are the ones XlsxWriter writes in constant_memory mode (the fallback, setting
``orders.xlsx_writer``), so both files read back equal cell for cell:

* strings as inline strings (``t="inlineStr"``), truncated like XlsxWriter to 32,767 UTF-16
  units; control characters other than tab and newline (illegal in XML 1.0) written as Excel's
  ``_xHHHH_`` escapes, a literal ``_xHHHH_`` text escaped as ``_x005F_xHHHH_``, U+FFFE/U+FFFF
  as ``_xFFFE_``/``_xFFFF_``; ``&``, ``<``, ``>`` as entities; ``xml:space="preserve"`` when
  the text starts or ends with white space. (One deliberate difference: XlsxWriter writes a
  string that starts with ``<r>`` and ends with ``</r>`` unescaped, as a rich string; here it
  is a plain text like any other.)
* numbers as ``<v>`` (money with XlsxWriter's ``.16G`` and the ``0.00`` style), ``None``
  cells omitted.
* the same styles (bold header on #F2F3F5, money ``0.00`` on the cells and their columns),
  column widths, frozen header row and sheet names.

A batch's text column is checked for anything that needs escaping in one pass over the
column's joined text (C-level ``str`` methods); only a column that does goes through the
per-cell escape.
"""

from __future__ import annotations

import queue
import re
import threading
import zipfile
from collections.abc import Sequence
from itertools import chain, repeat
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from xml.sax.saxutils import escape

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
STRING_MAX = 32_767  # UTF-16 units per cell, as Excel (and XlsxWriter) allow
# Zip entries up to this size need no ZIP64 record, and Excel may ask to repair a small entry
# written with one (a ZIP64 local header, no ZIP64 central record: Python's zipfile with
# force_zip64), so ZIP64 is forced only for a sheet whose estimated size — the first batch's
# bytes per row x the rows still expected for it, with a 1.5 margin — could outgrow it (a full
# sheet of ≈ 1.1 kB rows is ≈ 1.2 GB). A sheet larger than that without ZIP64 fails the export
# with zipfile's error rather than writing a broken file.
_ZIP32_LIMIT = (1 << 31) - 1
_ZIP64_MARGIN = 1.5

# Style indexes in styles.xml (cellXfs), as XlsxWriter numbers them for the export.
HEADER_STYLE = 1
MONEY_STYLE = 2

_TEXT, _INT, _MONEY = 0, 1, 2
_STR_OR_NONE = frozenset((str, type(None)))
_UNSAFE = re.compile("[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]")
_ESCAPED_LITERAL = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("([\x00-\x08\x0b-\x1f])")


class _Deflater:
    """Deflates (and writes) the rendered batches in a thread of its own: zlib and crc32
    release the GIL, so batch k is compressed while batch k+1 is read and rendered. At most
    ``depth`` batches wait besides the one being written (memory stays bounded); an error is
    raised in the caller's thread at its next call."""

    def __init__(self, depth: int = 1) -> None:
        self._queue: queue.Queue[tuple[IO[bytes], bytes] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="xlsx-deflate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    item[0].write(item[1])
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _check(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, entry: IO[bytes], data: bytes) -> None:
        self._check()
        self._queue.put((entry, data))

    def drain(self) -> None:
        """Wait until every queued batch is written."""
        self._queue.join()
        self._check()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()


# The sheets are deflated in a second thread (see _Deflater); False writes them inline.
THREADED = True
# Rows rendered (and handed to the deflate thread) at a time: the rendered text of a 5,000-row
# batch with its per-cell fragments took ≈ 40 MB more peak RSS than XlsxWriter in the bench.
RENDER_ROWS = 1000


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_truncate(text: str, limit: int) -> str:
    length = 0
    for index, char in enumerate(text):
        length += 2 if ord(char) > 0xFFFF else 1
        if length > limit:
            return text[:index]
    return text


def text_element(value: Any) -> str:
    """One string cell's ``<t>`` element, exactly as XlsxWriter (constant_memory) writes it:
    truncated, control characters as ``_xHHHH_``, whitespace preserved, ``&<>`` escaped."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > STRING_MAX // 2 and _utf16_len(text) > STRING_MAX:
        text = _utf16_truncate(text, STRING_MAX)
    if "_x" in text:
        text = _ESCAPED_LITERAL.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    start = (
        '<t xml:space="preserve">' if text and (text[0].isspace() or text[-1].isspace()) else "<t>"
    )
    return start + escape(text) + "</t>"


def _plain(values: Sequence[Any]) -> bool:
    """True when every value of a batch's text column can be written as it is: a str with
    nothing to escape, no leading or trailing white space, and short enough. Checked over the
    column's joined text with C-level ``str`` methods (false alarms only cost the slow path)."""
    texts = list(filter(None, values))
    if not texts:
        return True
    joined = " ".join(texts)  # TypeError for a non-str value: the caller takes the slow path
    if "&" in joined or "<" in joined or ">" in joined or "_x" in joined:
        return False
    if not joined.isprintable() and _UNSAFE.search(joined):
        return False
    if list(map(str.strip, texts)) != texts:
        return False
    return max(map(len, texts)) <= STRING_MAX // 2


def _cols_xml(widths: Sequence[float], money_columns: frozenset[int]) -> str:
    """``<cols>`` as XlsxWriter writes it: a user width w is stored as w + 0.7109375 (the
    Calibri 11 padding), adjacent columns of the same width and style in one ``<col>``."""
    spans: list[list[Any]] = []  # [first, last, width, style]
    for col, width in enumerate(widths):
        style = MONEY_STYLE if col in money_columns else 0
        if spans and spans[-1][1] == col - 1 and spans[-1][2:] == [width, style]:
            spans[-1][1] = col
        else:
            spans.append([col, col, width, style])
    cols = [
        f'<col min="{first + 1}" max="{last + 1}" width="{width + 0.7109375}"'
        + (f' style="{style}"' if style else "")
        + ' customWidth="1"/>'
        for first, last, width, style in spans
    ]
    return "<cols>" + "".join(cols) + "</cols>"


STYLES_XML = (
    XML_DECL + f'<styleSheet xmlns="{MAIN_NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="0.00"/></numFmts>'
    '<fonts count="2">'
    '<font><sz val="11"/><color rgb="FF000000"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><color rgb="FF000000"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFF2F3F5"/><bgColor indexed="64"/>'
    "</patternFill></fill></fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9"'
    ' defaultPivotStyle="PivotStyleLight16"/></styleSheet>'
)
ROOT_RELS_XML = (
    XML_DECL + f'<Relationships xmlns="{PKG_REL_NS}">'
    f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)


class XlsxStream:
    """A workbook of one table split over sheets of at most ``max_data_rows`` data rows each
    (every sheet repeats the header row). ``write_rows`` takes a batch of row tuples; columns
    in ``money_columns`` are numbers shown as 0.00, in ``int_columns`` numbers, the others
    text; ``None`` leaves the cell out. ``close`` writes the workbook parts."""

    def __init__(
        self,
        path: Path,
        headers: Sequence[str],
        *,
        widths: Sequence[float],
        money_columns: Sequence[int],
        int_columns: Sequence[int],
        sheet_name: str,
        max_data_rows: int,
        expected_rows: int = 0,
        compresslevel: int = 1,
    ) -> None:
        self._zip = zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._headers = tuple(headers)
        money = frozenset(money_columns)
        ints = frozenset(int_columns)
        self._kinds = tuple(
            _MONEY if c in money else _INT if c in ints else _TEXT for c in range(len(headers))
        )
        self._letters = tuple(column_letter(c) for c in range(len(headers)))
        self._sheet_name = sheet_name
        self._max_rows = max(1, max_data_rows)
        self._expected = expected_rows
        self._written = 0
        self._sheets = 0
        self._in_sheet = 0  # data rows in the open sheet
        self._entry: IO[bytes] | None = None
        self._deflater = _Deflater() if THREADED else None
        head = "".join(
            f'<c r="{letter}1" s="{HEADER_STYLE}" t="inlineStr"><is>{text_element(title)}</is></c>'
            for letter, title in zip(self._letters, self._headers, strict=True)
        )
        self._sheet_start = (
            f'{XML_DECL}<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
            '<sheetViews><sheetView{selected} workbookViewId="0"><pane ySplit="1" topLeftCell="A2"'
            ' activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView>'
            '</sheetViews><sheetFormatPr defaultRowHeight="15"/>'
            + _cols_xml(widths, money)
            + f'<sheetData><row r="1">{head}</row>'
        )
        self._sheet_end = (
            b"</sheetData>"
            b'<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3"'
            b' footer="0.3"/></worksheet>'
        )

    # --- rows ---

    def write_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        start, count = 0, len(rows)
        while start < count:
            if self._in_sheet == self._max_rows:
                self._end_sheet()
            take = min(count - start, self._max_rows - self._in_sheet, RENDER_ROWS)
            chunk = rows[start : start + take]
            data = self._render(chunk, self._in_sheet + 2).encode()
            if self._entry is None:
                self._begin_sheet(len(data) / take)
            assert self._entry is not None
            if self._deflater is not None:
                self._deflater.put(self._entry, data)
            else:
                self._entry.write(data)
            self._in_sheet += take
            self._written += take
            start += take

    def _render(self, rows: Sequence[tuple[Any, ...]], first: int) -> str:
        """The ``<row>`` elements of ``rows`` (row numbers from ``first``), built column by
        column: one f-string per cell, one join for the lot."""
        numbers = list(map(str, range(first, first + len(rows))))
        parts: list[Any] = [[f'<row r="{n}">' for n in numbers]]
        columns = zip(*rows, strict=True)
        for letter, kind, values in zip(self._letters, self._kinds, columns, strict=True):
            if kind == _MONEY and _all_text(values):  # numeric read as its text (PostgreSQL)
                cells = [
                    "" if v is None else f'<c r="{letter}{n}" s="{MONEY_STYLE}"><v>{v}</v></c>'
                    for n, v in zip(numbers, values, strict=True)
                ]
            elif kind == _MONEY:
                cells = [
                    "" if v is None else f'<c r="{letter}{n}" s="{MONEY_STYLE}"><v>{v:.16G}</v></c>'
                    for n, v in zip(numbers, values, strict=True)
                ]
            elif kind == _INT:
                cells = [
                    "" if v is None else f'<c r="{letter}{n}"><v>{v}</v></c>'
                    for n, v in zip(numbers, values, strict=True)
                ]
            elif _plain_or_false(values):
                cells = [
                    "" if v is None else f'<c r="{letter}{n}" t="inlineStr"><is><t>{v}</t></is></c>'
                    for n, v in zip(numbers, values, strict=True)
                ]
            else:
                cells = [
                    ""
                    if v is None
                    else f'<c r="{letter}{n}" t="inlineStr"><is>{text_element(v)}</is></c>'
                    for n, v in zip(numbers, values, strict=True)
                ]
            parts.append(cells)
        parts.append(repeat("</row>", len(rows)))
        return "".join(chain.from_iterable(zip(*parts, strict=True)))

    # --- sheets and the workbook ---

    def _begin_sheet(self, bytes_per_row: float) -> None:
        self._sheets += 1
        planned = min(self._max_rows, max(self._expected - self._written, 1))
        self._entry = self._zip.open(
            f"xl/worksheets/sheet{self._sheets}.xml",
            "w",
            force_zip64=bytes_per_row * planned * _ZIP64_MARGIN > _ZIP32_LIMIT,
        )
        selected = ' tabSelected="1"' if self._sheets == 1 else ""
        self._entry.write(self._sheet_start.replace("{selected}", selected).encode())
        self._in_sheet = 0

    def _end_sheet(self) -> None:
        if self._deflater is not None:
            self._deflater.drain()
        if self._entry is not None:
            self._entry.write(self._sheet_end)
            self._entry.close()
            self._entry = None
        self._in_sheet = 0

    @property
    def sheet_count(self) -> int:
        return self._sheets

    def close(self) -> None:
        """End the open sheet (the header-only sheet of an empty export) and write the
        workbook, its relationships, the content types and the styles."""
        try:
            self._close()
        except BaseException:
            self.abort()
            raise

    def _close(self) -> None:
        if self._sheets == 0:
            self._begin_sheet(0)
        self._end_sheet()
        sheets = range(1, self._sheets + 1)
        name = self._sheet_name
        titles = [escape(name if n == 1 else f"{name}{n}", {'"': "&quot;"}) for n in sheets]
        parts = {
            "[Content_Types].xml": (
                XML_DECL
                + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
                'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/vnd.'
                'openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                + "".join(
                    f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                    for n in sheets
                )
                + "</Types>"
            ),
            "_rels/.rels": ROOT_RELS_XML,
            "xl/workbook.xml": (
                XML_DECL + f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
                '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095"'
                ' windowHeight="9660"/></bookViews><sheets>'
                + "".join(
                    f'<sheet name="{title}" sheetId="{n}" r:id="rId{n}"/>'
                    for n, title in zip(sheets, titles, strict=True)
                )
                + '</sheets><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                XML_DECL
                + f'<Relationships xmlns="{PKG_REL_NS}">'
                + "".join(
                    f'<Relationship Id="rId{n}" Type="{REL_NS}/worksheet"'
                    f' Target="worksheets/sheet{n}.xml"/>'
                    for n in sheets
                )
                + f'<Relationship Id="rId{self._sheets + 1}" Type="{REL_NS}/styles"'
                ' Target="styles.xml"/></Relationships>'
            ),
            "xl/styles.xml": STYLES_XML,
        }
        for part, text in parts.items():
            self._zip.writestr(part, text.encode())
        self._zip.close()
        self._stop()

    def _stop(self) -> None:
        if self._deflater is not None:
            self._deflater.stop()
            self._deflater = None

    def abort(self) -> None:
        """Close the file after an error (the caller removes it)."""
        try:
            self._stop()
            if self._entry is not None:
                self._entry.close()
        finally:
            self._entry = None
            self._zip.close()

    def __enter__(self) -> XlsxStream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def _all_text(values: Sequence[Any]) -> bool:
    """True when a money column comes as numeric texts (715.10, as PostgreSQL prints a
    numeric), written into ``<v>`` as they are: the same text as XlsxWriter's ``.16G`` of the
    Decimal for any amount under 10^14 yuan."""
    return set(map(type, values)) <= _STR_OR_NONE


def _plain_or_false(values: Sequence[Any]) -> bool:
    try:
        return _plain(values)
    except TypeError:  # a non-str value: the per-cell path converts it
        return False

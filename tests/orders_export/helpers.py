"""Reading export files back (stdlib only) and running the export job."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from xiaodian.orders import export
from xiaodian.orders import service as orders
from xiaodian.runtime import Runtime


def read_csv(path: Path) -> tuple[bytes, list[list[str]]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    return raw[:3], list(csv.reader(io.StringIO(text, newline="")))


def read_xlsx(path: Path) -> list[list[str]]:
    return orders._read_xlsx(path.read_bytes())


def read_any(path: Path) -> list[list[str]]:
    return read_csv(path)[1] if path.suffix == ".csv" else read_xlsx(path)


def run_job(rt: Runtime) -> dict[str, Any]:
    return export.run_due_exports(rt)

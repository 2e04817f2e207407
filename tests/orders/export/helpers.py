"""Reading export files back (stdlib only) and running the export job."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from xiaodian.orders import service as orders
from xiaodian.orders.export import service as export
from xiaodian.runtime import Runtime


def unwrap(cell: str) -> str:
    """A CSV cell as a spreadsheet shows it: the export writes long all-digit ids (订单号,
    快递单号) as the text formula ="<digits>" so Excel/WPS/Calc keep every digit."""
    if len(cell) > 3 and cell.startswith('="') and cell.endswith('"'):
        return cell[2:-1]
    return cell


def read_csv(path: Path, *, raw: bool = False) -> tuple[bytes, list[list[str]]]:
    """The first 3 bytes (the BOM) and the rows; cells ``unwrap``ped unless ``raw``."""
    data = path.read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    if not raw:
        rows = [[unwrap(cell) for cell in row] for row in rows]
    return data[:3], rows


def read_xlsx(path: Path) -> list[list[str]]:
    return orders._read_xlsx(path.read_bytes())


def read_any(path: Path) -> list[list[str]]:
    return read_csv(path)[1] if path.suffix == ".csv" else read_xlsx(path)


def run_job(rt: Runtime) -> dict[str, Any]:
    return export.run_due_exports(rt)


def ready_export(rt: Runtime, shop: Any) -> int:
    """An export of every order, queued through the API and run: its id, ready to download."""
    created = shop.api.post("/api/v1/orders/exports", {"filter": {}, "format": "csv"})
    assert created.status_code == 202, created.text
    run_job(rt)
    return int(created.json()["id"])

"""O2 手机验证 through the open API: the code goes to the shop's phone (SMS outbox), is valid
5 minutes (still good at exactly 300 s, expired at 301 s), 5 wrong tries lock it, it works
once, a new one can be requested once a minute; another shop sees nothing (X2)."""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlalchemy import select

from tests.orders.export.conftest import Mixed
from tests.orders.export.helpers import run_job
from xiaodian.clock import ManualClock
from xiaodian.notify.sms import SmsMessage
from xiaodian.orders.export import service as export
from xiaodian.orders.export.models import ExportCode, ExportStatus, OrderExport
from xiaodian.runtime import Runtime


def _ready_export(rt: Runtime, shop: Any, fmt: str = "csv") -> int:
    created = shop.api.post("/api/v1/orders/exports", {"filter": {}, "format": fmt})
    assert created.status_code == 202, created.text
    body = created.json()
    assert (body["status"], body["status_label"]) == ("queued", "排队中")
    run_job(rt)
    done = shop.api.get(f"/api/v1/orders/exports/{body['id']}").json()
    assert (done["status"], done["status_label"], done["progress_percent"]) == (
        "done",
        "已完成",
        100,
    )
    return int(body["id"])


def _send_code(rt: Runtime, shop: Any, export_id: int) -> str:
    sent = shop.api.post(f"/api/v1/orders/exports/{export_id}/verification_code")
    assert sent.status_code == 201, sent.text
    assert sent.json()["sent_to"] == "138****0001"
    with rt.unit() as ctx:
        message = ctx.session.scalars(select(SmsMessage).order_by(SmsMessage.id.desc())).first()
        assert message is not None and message.phone == "13800000001"
        match = re.search(r"验证码 (\d{6})", message.text)
        assert match
        code = match.group(1)
        stored = ctx.session.scalars(select(ExportCode).order_by(ExportCode.id.desc())).first()
        assert stored is not None and code not in stored.code_hash and len(stored.code_hash) == 64
        return code


def _download(shop: Any, export_id: int, code: str) -> Any:
    return shop.api.post(f"/api/v1/orders/exports/{export_id}/download", {"code": code})


def test_O2_right_code_downloads_once(rt: Runtime, shop: Any, mixed: Mixed) -> None:
    export_id = _ready_export(rt, shop)
    code = _send_code(rt, shop, export_id)
    ok = _download(shop, export_id, code)
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"].startswith("text/csv")
    assert "attachment" in ok.headers["content-disposition"]
    assert ok.content.startswith(b"\xef\xbb\xbf\xe8\xae\xa2\xe5\x8d\x95\xe5\x8f\xb7")  # BOM 订单号
    again = _download(shop, export_id, code)
    assert again.status_code == 422 and again.json()["code"] == "code_used"


def test_O2_wrong_code_counts_down_then_locks(rt: Runtime, shop: Any, mixed: Mixed) -> None:
    export_id = _ready_export(rt, shop, "xlsx")
    code = _send_code(rt, shop, export_id)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        answer = _download(shop, export_id, wrong)
        assert answer.status_code == 422
        body = answer.json()
        assert body["code"] == "code_wrong" and f"还可尝试{left}次" in body["message_zh"]
        assert body["errors"][0]["tries_left"] == left
    fifth = _download(shop, export_id, wrong)
    assert fifth.json()["code"] == "code_locked"
    # Locked: even the right code is refused until a new one is requested.
    assert _download(shop, export_id, code).json()["code"] == "code_locked"
    assert isinstance(rt.clock, ManualClock)
    rt.clock.advance(60)
    fresh = _send_code(rt, shop, export_id)
    ok = _download(shop, export_id, fresh)
    assert ok.status_code == 200
    assert ok.content[:2] == b"PK"  # a zip: the XLSX


def test_O2_code_valid_for_exactly_five_minutes(rt: Runtime, shop: Any, mixed: Mixed) -> None:
    assert isinstance(rt.clock, ManualClock)
    export_id = _ready_export(rt, shop)
    code = _send_code(rt, shop, export_id)
    rt.clock.advance(301)
    late = _download(shop, export_id, code)
    assert late.status_code == 422 and late.json()["code"] == "code_expired"
    code = _send_code(rt, shop, export_id)
    rt.clock.advance(300)
    assert _download(shop, export_id, code).status_code == 200


def test_O2_resend_is_throttled_per_phone(rt: Runtime, shop: Any, mixed: Mixed) -> None:
    assert isinstance(rt.clock, ManualClock)
    export_id = _ready_export(rt, shop)
    first = _send_code(rt, shop, export_id)
    rt.clock.advance(59)
    throttled = shop.api.post(f"/api/v1/orders/exports/{export_id}/verification_code")
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "code_throttled" and "1秒" in throttled.json()["message_zh"]
    rt.clock.advance(1)
    second = _send_code(rt, shop, export_id)
    # Only the latest code counts.
    if first != second:
        assert _download(shop, export_id, first).json()["code"] == "code_wrong"
    assert _download(shop, export_id, second).status_code == 200


def test_O2_not_ready_and_bad_input(rt: Runtime, shop: Any, mixed: Mixed) -> None:
    created = shop.api.post("/api/v1/orders/exports", {"filter": {}, "format": "csv"}).json()
    refused = shop.api.post(f"/api/v1/orders/exports/{created['id']}/verification_code")
    assert refused.status_code == 409 and refused.json()["code"] == "export_not_ready"
    nope = shop.api.get(f"/api/v1/orders/exports/{created['id']}/download?code=123456")
    assert nope.status_code == 409 and nope.json()["code"] == "export_not_ready"
    bad = shop.api.post("/api/v1/orders/exports", {"filter": {"status": "nope"}, "format": "pdf"})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    listed = shop.api.get("/api/v1/orders/exports").json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]


def test_O2_another_shop_cannot_see_or_download_the_record(
    rt: Runtime, shop: Any, make_shop: Any, mixed: Mixed
) -> None:
    export_id = _ready_export(rt, shop)
    code = _send_code(rt, shop, export_id)
    other = make_shop("别家小店")
    assert other.api.get(f"/api/v1/orders/exports/{export_id}").status_code == 404
    assert other.api.get("/api/v1/orders/exports").json()["items"] == []
    sent = other.api.post(f"/api/v1/orders/exports/{export_id}/verification_code")
    assert sent.status_code == 404
    stolen = other.api.post(f"/api/v1/orders/exports/{export_id}/download", {"code": code})
    assert stolen.status_code == 404 and b"\xef\xbb\xbf" not in stolen.content
    assert _download(shop, export_id, code).status_code == 200  # still A's, code unused


def test_O2_two_postgres_workers_never_run_one_export_twice(
    pg_only: None, rt: Runtime, shop: Any, mixed: Mixed
) -> None:
    rt.settings.orders.export_batch_rows = 1
    ids = [
        shop.api.post("/api/v1/orders/exports", {"format": fmt}).json()["id"]
        for fmt in ("csv", "xlsx") * 4
    ]
    results: list[dict[str, int]] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        results.append(export.run_due_exports(rt))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["claimed"] for r in results) == len(ids)
    assert sum(r["done"] for r in results) == len(ids)
    with rt.unit() as ctx:
        rows = list(ctx.session.scalars(select(OrderExport).where(OrderExport.id.in_(ids))))
        assert {r.status for r in rows} == {ExportStatus.DONE}
        assert {r.attempts for r in rows} == {1}  # each claimed exactly once
        assert {r.row_count for r in rows} == {5}


def test_O2_a_worker_that_died_leaves_its_export_to_another(
    rt: Runtime, shop: Any, mixed: Mixed
) -> None:
    assert isinstance(rt.wall, ManualClock)
    created = shop.api.post("/api/v1/orders/exports", {"format": "csv"}).json()
    assert export._claim(rt, None) == created["id"]  # claimed, then the worker "dies"
    assert run_job(rt)["claimed"] == 0  # its lease still runs
    rt.wall.advance(rt.settings.orders.export_lease_seconds + 1)
    assert run_job(rt) == {"claimed": 1, "done": 1, "failed": 0}
    with rt.unit() as ctx:
        record = ctx.session.get(OrderExport, created["id"])
        assert record is not None and record.attempts == 2 and record.status == "done"

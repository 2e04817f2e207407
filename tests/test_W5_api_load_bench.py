"""W5 (issue 18): the load bench's client setups — the clients of a level spread over several
processes give one level whose counts are the parts' sums and whose percentiles are over
every latency pooled. A smoke test of ``bench/api_load.py``'s plumbing against a real local
HTTP server; no timing is asserted (the bench measures, tests do not)."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from bench.api_load import ClientProcs, Level


def test_W5_merge_pools_latencies_and_sums_counts() -> None:
    a = Level(2, latencies=[0.1, 0.2, 0.3], statuses={200: 2, 503: 1}, errors=1, done=3, sent=5)
    a.client_cpu, a.seconds, a.drain, a.wall = 1.0, 10.0, 0.5, 13.0
    b = Level(3, latencies=[0.4] * 7, statuses={200: 7}, done=6, sent=9)
    b.client_cpu, b.seconds, b.drain, b.wall = 2.0, 10.0, 0.7, 13.2
    merged = Level.merge(5, [a, b])
    assert merged.clients == 5 and merged.procs == 2
    assert sorted(merged.latencies) == sorted(a.latencies + b.latencies)
    assert merged.statuses == {200: 9, 503: 1}
    assert merged.bad == 2  # the 503 and the transport error
    assert (merged.done, merged.sent, merged.client_cpu) == (9, 14, 3.0)
    assert (merged.seconds, merged.drain, merged.wall) == (10.0, 0.7, 13.2)
    assert merged.rate == pytest.approx(0.9)
    assert merged.pct(0.5) == pytest.approx(400.0)  # pooled, not the mean of the parts'


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like uvicorn

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("procs", [1, 2])
def test_W5_client_procs_drive_a_real_server(server: str, procs: int) -> None:
    setup = ClientProcs(procs)
    # In a thread of its own: a Playwright test earlier in the run leaves an event loop
    # running in the main thread, where asyncio.run (one client process) would refuse.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            level = pool.submit(setup.drive, server, "/", None, 5, 2.0).result()
        finally:
            setup.close()
    assert level.clients == 5 and level.procs == procs
    assert set(level.statuses) <= {200}
    assert sum(level.statuses.values()) == len(level.latencies)
    assert level.bad == 0
    assert level.done <= level.sent and len(level.latencies) <= level.sent
    assert level.sent > 0  # the warm-up's answers count in ``sent``
    assert level.seconds == pytest.approx(2.0)
    assert level.client_cpu > 0
    assert all(p.exitcode == 0 for p in setup.processes)

"""Issue 16 / W5: the server CPU of one signed API request, measured in-process, and where it
goes (a deterministic profile of every thread).

The app is built as ``bench.coupons_verify`` builds it for uvicorn (``create_app`` on a
``Runtime`` with the system clock, pool 20, PostgreSQL) and driven through its full ASGI
stack — middlewares, routing, dependencies, the thread-pool hops, serialisation — by a
minimal ASGI caller on an event loop (uvloop when installed, as uvicorn uses), without HTTP
parsing or sockets. Requests run one at a time (``--concurrency 1``), so the process's CPU
time over the loop divided by the requests is the CPU a request costs the server, plus the
caller's few microseconds (signing the verify request, building the scope).

Paths (``--paths``):

* ``v2`` — a C7 verification: signed ``POST /api/v2/verification/prepare`` (the code), then
  signed ``POST /api/v2/verification/verify`` (token, store, client request id), each code
  once; per verification = 2 requests;
* ``goodlife`` — the same verification over 抖音来客 ``goodlife/v1`` under ``/douyin`` (issue
  12 D5): ``GET …/certificate/prepare/`` (code, poi_id), then ``POST …/certificate/verify/``
  (verify_token, poi_id, encrypted_codes), with one ``client_token`` taken before timing;
* ``funds`` — signed ``GET /api/v1/funds`` (W5's request);
* ``ceiling`` — the bench's two-request ceiling (a bare lookup, a bare conditional UPDATE;
  ``bench.coupons_verify.anchor_app``): the reference a prepare → verify protocol is held to.

Every timed pass also counts the statements the app sends through SQLAlchemy per unit
(``before_cursor_execute`` on every engine; BEGIN/COMMIT and the pool's pre-ping are not
statements SQLAlchemy executes and are not counted).

``--profile``: a second pass under ``cProfile`` in every thread (the event loop and the
thread pool's workers), timed with each thread's CPU clock (waits for PostgreSQL do not
count), printing the functions with the most CPU (own and cumulative).

    python -m bench.request_profile --db postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/x \
        [--requests 2000] [--paths v2,goodlife,funds,ceiling] [--profile] [--top 40]

The database is wiped (DROP SCHEMA public CASCADE) first: give it its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import json
import os
import pstats
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import coupons_verify as cv
from xiaodian.signing import signed_headers

Call = Callable[[str, str, bytes, dict[str, str]], Any]


async def asgi_call(
    app: Any, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One request through the ASGI app, as uvicorn hands it over (no HTTP parsing)."""
    raw = [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # a client that keeps the connection open
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


class Driver:
    """The requests of one path, each a coroutine of (status, response body) calls."""

    def __init__(self, app: Any, world: cv.World, funds_key: tuple[str, str]) -> None:
        self.app, self.world, self.funds_key = app, world, funds_key
        self.bad: dict[str, int] = {}
        self.access_token = ""

    async def laike(self, method: str, path: str, payload: dict[str, Any]) -> Any:
        headers = {"access-token": self.access_token}
        if method == "GET":
            query = "&".join(f"{k}={v}" for k, v in payload.items())
            status, out = await asgi_call(self.app, method, f"{path}?{query}", b"", headers)
        else:
            headers["content-type"] = "application/json"
            status, out = await asgi_call(self.app, method, path, _json(payload), headers)
        data = json.loads(out) if out else {}
        if status != 200 or data.get("data", {}).get("error_code", -1) != 0:
            what = f"{method} {path} {status} {out[:160]!r}"
            self.bad[what] = self.bad.get(what, 0) + 1
        return data.get("data", {})

    async def goodlife(self, code: str) -> int:
        if not self.access_token:
            body = {
                "client_key": self.world.app_key,
                "client_secret": self.world.secret,
                "grant_type": "client_credential",
            }
            self.access_token = (await self.laike("POST", cv.LAIKE_TOKEN, body))["access_token"]
        poi = str(self.world.store_id)
        data = await self.laike("GET", cv.LAIKE_PREPARE, {"code": code, "poi_id": poi})
        if "verify_token" not in data:
            return 1
        body = {
            "verify_token": data["verify_token"],
            "poi_id": poi,
            "encrypted_codes": [c["encrypted_code"] for c in data["certificates"]],
        }
        out = await self.laike("POST", cv.LAIKE_VERIFY, body)
        if out.get("verify_results", [{}])[0].get("result") != 0:
            self.bad["goodlife verify result"] = self.bad.get("goodlife verify result", 0) + 1
        return 2

    async def signed(
        self, key: tuple[str, str], method: str, path: str, payload: Any = None
    ) -> tuple[int, Any]:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        headers = signed_headers(key[0], key[1], method, path, body)
        if payload is not None:
            headers["content-type"] = "application/json"
        status, out = await asgi_call(self.app, method, path, body, headers)
        if status != 200:
            what = f"{method} {path} {status} {out[:120]!r}"
            self.bad[what] = self.bad.get(what, 0) + 1
        return status, json.loads(out) if out else None

    async def v2(self, code: str) -> int:
        key = (self.world.app_key, self.world.secret)
        status, prepared = await self.signed(key, "POST", cv.PREPARE, {"code": code})
        if status != 200:
            return 1
        body = {
            "verify_token": prepared["verify_token"],
            "store_id": self.world.store_id,
            "client_request_id": f"prof-{code}",
        }
        await self.signed(key, "POST", cv.VERIFY, body)
        return 2

    async def funds(self, _code: str) -> int:
        await self.signed(self.funds_key, "GET", "/api/v1/funds")
        return 1

    async def ceiling(self, code: str) -> int:
        body = {"code": code, "client_request_id": f"prof-{code}"}
        status, out = await asgi_call(self.app, "POST", cv.ANCHOR_PREPARE, _json(body), _ct())
        if status != 200:
            self.bad["ceiling prepare"] = self.bad.get("ceiling prepare", 0) + 1
            return 1
        claim = json.loads(out)["claim_id"]
        body2 = {"claim_id": claim, "client_request_id": f"prof-{code}"}
        status, _ = await asgi_call(self.app, "POST", cv.ANCHOR_VERIFY_CLAIM, _json(body2), _ct())
        if status != 200:
            self.bad["ceiling verify"] = self.bad.get("ceiling verify", 0) + 1
        return 2


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _ct() -> dict[str, str]:
    return {"content-type": "application/json"}


async def run(step: Callable[[str], Any], codes: list[str], concurrency: int) -> tuple[int, int]:
    """Every code once; returns (units, requests): a unit is a verification (v2, ceiling) or
    a request (funds)."""
    queue = iter(codes)
    requests = 0
    units = 0

    async def worker() -> None:
        nonlocal requests, units
        for code in queue:
            requests += await step(code)
            units += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return units, requests


def _loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class ThreadProfiles:
    """cProfile in every thread: the one that starts it, and every thread started while it
    is on (``threading.setprofile``: the thread pool's workers start lazily)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _new(self) -> cProfile.Profile:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        return profile

    def _hook(self, *_args: Any) -> None:
        self._new().enable()  # replaces this hook in the new thread

    def start(self) -> None:
        threading.setprofile(self._hook)
        self._new().enable()

    def stop(self) -> pstats.Stats:
        threading.setprofile(None)  # type: ignore[arg-type]
        for profile in self.profiles:
            profile.disable()
        stream = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=stream)
        for profile in self.profiles[1:]:
            with self._lock:
                stats.add(profile)
        return stats


def print_top(stats: pstats.Stats, requests: int, top: int) -> None:
    """The functions with the most CPU per request: own time (tottime), then cumulative."""
    entries = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in entries.items():
        where = _short(filename)
        rows.append((tottime, cumtime, calls, f"{where}:{line}({name})"))
    total = sum(r[0] for r in rows)
    print(f"\nprofiled CPU {total / requests * 1000:.2f} ms per request (profiler overhead in)")
    print(f"\ntop {top} by own CPU, µs per request (calls per request):")
    for tottime, _cum, calls, label in sorted(rows, reverse=True)[:top]:
        print(f"  {tottime / requests * 1e6:8.1f}  {calls / requests:6.1f}  {label}")
    print(
        f"\ntop {top} by cumulative CPU, µs per request (xiaodian, fastapi, starlette, sqlalchemy):"
    )
    keep = tuple(
        os.environ.get(
            "XIAODIAN_PROFILE_KEEP", "xiaodian,fastapi,starlette,sqlalchemy,anyio,pydantic,psycopg"
        ).split(",")
    )
    cum = [r for r in rows if any(k in r[3] for k in keep)]
    for _tot, cumtime, calls, label in sorted(cum, key=lambda r: -r[1])[:top]:
        print(f"  {cumtime / requests * 1e6:8.1f}  {calls / requests:6.1f}  {label}")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


STATEMENTS: collections.Counter[str] = collections.Counter()


@event.listens_for(Engine, "before_cursor_execute")
def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    """Every statement any engine of this process executes, by its first words."""
    STATEMENTS[" ".join(statement.split())[:90]] += 1


def build(url: str, mode: str, world: cv.World) -> Any:
    os.environ.update(
        XIAODIAN_BENCH_MODE="anchor" if mode == "ceiling" else "app",
        XIAODIAN_BENCH_URL=url,
        XIAODIAN_BENCH_SHOP=str(world.shop_id),
        XIAODIAN_BENCH_POOL="20",
        XIAODIAN_BENCH_OVERFLOW="0",
        XIAODIAN_BENCH_ADMIT="19",
    )
    return cv.server_app()


def funds_app(url: str, world: cv.World) -> tuple[str, str]:
    """An app with the funds scope in the bench's shop (``GET /api/v1/funds``)."""
    from xiaodian.accounts import service as accounts
    from xiaodian.config import Settings
    from xiaodian.db import make_engine, make_sessionmaker
    from xiaodian.runtime import Runtime

    engine = make_engine(url)
    rt = Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=cv.SystemClock(),
    )
    with rt.unit("user:1") as ctx:
        app = accounts.create_app(ctx, world.shop_id, "ERP", ["funds"])
        key = (app.app_key, app.secret)
    engine.dispose()
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="PostgreSQL URL (wiped)")
    parser.add_argument("--requests", type=int, default=2000, help="units per path and pass")
    parser.add_argument("--paths", default="v2,funds,ceiling")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    paths = args.paths.split(",")
    passes = 2 if args.profile else 1
    per_phase = (args.requests + args.warm) * passes * 2  # two halves of the codes (variants)
    world = cv.seed(args.db, per_phase, 0)
    funds_key = funds_app(args.db, world)
    loop = _loop()
    asyncio.set_event_loop(loop)
    print(f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    for path in paths:
        kind, _, variant = path.partition("/")
        app = build(args.db, kind, world)
        driver = Driver(app, world, funds_key)
        step = {
            "v2": driver.v2,
            "goodlife": driver.goodlife,
            "funds": driver.funds,
            "ceiling": driver.ceiling,
        }[kind]
        codes = list(world.codes["ceiling" if kind == "ceiling" else "app"])
        if kind != "ceiling":
            # v2 takes the first half of the codes, goodlife (or "v2/b") the second.
            second = bool(variant) or kind == "goodlife"
            codes = codes[len(codes) // 2 :] if second else codes[: len(codes) // 2]
        random.Random(16).shuffle(codes)
        warm, codes = codes[: args.warm], codes[args.warm :]
        loop.run_until_complete(run(step, warm, args.concurrency))
        timed = codes[: args.requests]
        STATEMENTS.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        units, requests = loop.run_until_complete(run(step, timed, args.concurrency))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        counted = sum(STATEMENTS.values())
        unit = "verification" if kind != "funds" else "request"
        print(
            f"{path:8} {units} {unit}s, {requests} requests in {wall:.1f} s: "
            f"CPU {cpu / units * 1000:.2f} ms per {unit}, {cpu / requests * 1000:.2f} ms per "
            f"request; wall {wall / requests * 1000:.2f} ms per request; "
            f"load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        print(f"  statements per {unit}: {counted / units:.2f}", flush=True)
        for statement, count in STATEMENTS.most_common():
            print(f"    {count / units:5.2f}  {statement}")
        if driver.bad:
            print(f"  not 200: {driver.bad}", file=sys.stderr)
        if args.profile:
            # A fresh event loop: anyio's thread-pool workers belong to a loop, so this
            # pass's workers start under the profiler's thread hook.
            again = codes[args.requests : 2 * args.requests]
            fresh = _loop()
            profiles = ThreadProfiles()
            profiles.start()
            units, requests = fresh.run_until_complete(run(step, again, args.concurrency))
            stats = profiles.stop()
            fresh.close()
            asyncio.set_event_loop(loop)
            print_top(stats, requests, args.top)


if __name__ == "__main__":
    main()

"""Benchmark W5: signed open-API throughput and latency at 10, 100 and 200 clients.

A real ``xiaodian serve`` (uvicorn, one process, no in-process worker) on PostgreSQL; a client
process drives ``--clients`` concurrent asyncio clients (an ``httpx.AsyncClient`` with one
keep-alive connection each), each
sending signed ``GET /api/v1/funds`` (signature check, nonce INSERT, balance reads, one commit)
back to back for ``--seconds``. Per level it prints requests/s, p50/p99 latency, non-200
answers and the PostgreSQL sessions opened during the run (``pg_stat_database.sessions``: a
pool that keeps its connections opens none).

Two configurations in the same run:

* ``coherent`` — the defaults: ``database.pool_size`` 10, admission limit derived from it
  (``api.max_requests_in_flight`` = 0 → 10 requests inside the app at once);
* ``before`` — the anchor, the configuration of issue 18: a pool of 10 kept + 20 overflow
  connections and 29 requests admitted (more than the kept connections).

Goal: at 100 and 200 clients throughput ≥ that at 10, p99 ≤ 5 × p50.

    python -m bench.api_load [--clients 10,100,200] [--seconds 20] \
        --db postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/xiaodian_api_bench

The database is wiped (DROP SCHEMA public CASCADE) first: give it its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy import text

from xiaodian.accounts import service as accounts
from xiaodian.clock import SystemClock
from xiaodian.config import Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.runtime import Runtime, upgrade
from xiaodian.signing import signed_headers

PATH = "/api/v1/funds"
CONFIGS: dict[str, dict[str, str]] = {
    "coherent": {},
    "before": {
        "XIAODIAN_DATABASE__POOL_SIZE": "10",
        "XIAODIAN_DATABASE__MAX_OVERFLOW": "20",
        "XIAODIAN_API__MAX_REQUESTS_IN_FLIGHT": "-1",
        "XIAODIAN_BENCH_GATE": "29",
    },
}


@dataclass
class Level:
    clients: int
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0
    sessions: int = 0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def seed(url: str) -> tuple[str, str]:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    rt = Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=SystemClock(),
    )
    with rt.unit() as ctx:
        shop, _ = accounts.create_shop(
            ctx, name="load", username="bench_load", password="bench-pass-1", phone="13800000000"
        )
        ledger.topup(ctx, shop.id, Account.DEPOSIT, 1_000_000, "bench-deposit")
        app = accounts.create_app(ctx, shop.id, "load", scopes=["funds"])
        credentials = (app.app_key, app.secret)
    engine.dispose()
    return credentials


def sessions_opened(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
    engine.dispose()
    return int(value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, url: str, extra: dict[str, str]) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIAODIAN_")}
        env.update(XIAODIAN_DATABASE_URL=url, XIAODIAN_SECRET_KEY="bench-secret", **extra)
        gate = extra.get("XIAODIAN_BENCH_GATE")
        # ``before``: the app with no admission of its own, wrapped in the old gate of 29.
        code = (
            "import sys, uvicorn; from xiaodian.api.app import create_app, InFlightLimit;"
            f"app = create_app(); app = InFlightLimit(app, {gate}) if {bool(gate)} else app;"
            f"uvicorn.run(app, host='127.0.0.1', port={self.port}, log_level='warning')"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.3)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


async def drive(base: str, key: str, secret: str, clients: int, seconds: float) -> Level:
    """``clients`` clients, each its own ``httpx.AsyncClient`` with one keep-alive connection
    (one shared pool of hundreds of connections costs the client more per request than the
    server spends)."""
    level = Level(clients)
    warm_until = time.monotonic() + min(3.0, seconds / 4)
    stop_at = warm_until + seconds

    async def one() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            while (now := time.monotonic()) < stop_at:
                started = time.perf_counter()
                try:
                    response = await http.get(
                        PATH, headers=signed_headers(key, secret, "GET", PATH, b"")
                    )
                except httpx.HTTPError:
                    level.errors += 1
                    continue
                if now < warm_until:
                    continue
                level.latencies.append(time.perf_counter() - started)
                level.statuses[response.status_code] = (
                    level.statuses.get(response.status_code, 0) + 1
                )

    await asyncio.gather(*(one() for _ in range(clients)))
    level.seconds = time.monotonic() - warm_until
    return level


def preflight(base: str, key: str, secret: str, name: str) -> None:
    """One signed request must answer 200 before anything is timed: a bench that measures
    refusals (a missing scope, a changed path) measures nothing."""
    response = httpx.get(
        base + PATH, headers=signed_headers(key, secret, "GET", PATH, b""), timeout=30
    )
    if response.status_code != 200:
        raise SystemExit(f"{name}: GET {PATH} answered {response.status_code}: {response.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="PostgreSQL URL (wiped)")
    parser.add_argument("--clients", default="10,100,200")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--configs", default="coherent,before")
    args = parser.parse_args()
    key, secret = seed(args.db)
    levels = [int(n) for n in args.clients.split(",")]
    results: dict[str, list[Level]] = {}
    names = args.configs.split(",")
    # Both servers up for the whole run, each level driven against one then the other, so
    # that a change in the shared machine's load hits both configurations alike.
    servers = {name: Server(args.db, CONFIGS[name]) for name in names}
    try:
        for name, server in servers.items():
            preflight(server.base, key, secret, name)
        for clients in levels:
            for name in names:
                before = sessions_opened(args.db)
                level = asyncio.run(drive(servers[name].base, key, secret, clients, args.seconds))
                level.sessions = sessions_opened(args.db) - before - 1
                results.setdefault(name, []).append(level)
                print(
                    f"{name:9} {clients:4} clients: {level.rate:7.1f} req/s  "
                    f"p50 {level.pct(0.5):7.1f} ms  p99 {level.pct(0.99):7.1f} ms  "
                    f"non-200 {sum(v for k, v in level.statuses.items() if k != 200)}  "
                    f"errors {level.errors}  new sessions {level.sessions}  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
    print("\n| config | clients | req/s | p50 ms | p99 ms | p99/p50 | non-200 | new sessions |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, rows in results.items():
        for level in rows:
            p50, p99 = level.pct(0.5), level.pct(0.99)
            bad = sum(v for k, v in level.statuses.items() if k != 200) + level.errors
            print(
                f"| {name} | {level.clients} | {level.rate:.1f} | {p50:.1f} | {p99:.1f} | "
                f"{p99 / p50 if p50 else 0:.1f}× | {bad} | {level.sessions} |"
            )
    coherent = results.get("coherent")
    if coherent:
        base_rate = coherent[0].rate
        ok = all(
            lv.rate >= base_rate and lv.pct(0.99) <= 5 * lv.pct(0.5) for lv in coherent[1:]
        ) and not any(lv.errors or set(lv.statuses) - {200} for lv in coherent)
        verdict = "met" if ok else "MISSED"
        print(f"\ngoal (throughput ≥ at {coherent[0].clients}, p99 ≤ 5× p50): {verdict}")


if __name__ == "__main__":
    main()

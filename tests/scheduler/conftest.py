"""W6 fault suite harness: a private PostgreSQL cluster (so a test may restart it), real
``xiaodian worker`` and ``xiaodian serve`` processes, and the SQL invariants of issue 18.

Runs only when the test run is on PostgreSQL (``XIAODIAN_TEST_DATABASE_URL``); the cluster is
made with the server binaries of that machine (``initdb`` / ``pg_ctl``, as the ``postgres``
user when the tests run as root) in a temporary directory, on a free port, and removed after.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from xiaodian.clock import SystemClock
from xiaodian.config import Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.runtime import Runtime, upgrade

SECRET = "faults-secret-key"


def _pg_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    if versions:
        return versions[-1] / "bin"
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(every)


@dataclass
class Cluster:
    """A PostgreSQL server of our own: stop, start, restart at will."""

    bin: Path
    data: Path
    port: int
    as_user: list[str]
    url: str = ""

    def _ctl(self, *args: str) -> None:
        log = self.data.parent / "server.log"
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self) -> None:
        self._ctl(
            "-w",
            "-o",
            f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1",
            "start",
        )

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            stdout=subprocess.DEVNULL,
            check=False,
        )
        return status.returncode == 0


@pytest.fixture(scope="session")
def cluster(db_url: str) -> Iterator[Cluster]:
    if not db_url.startswith("postgresql"):
        pytest.skip("W6 fault suite: needs PostgreSQL (set XIAODIAN_TEST_DATABASE_URL)")
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("W6 fault suite: PostgreSQL server binaries (initdb) not found")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="xiaodian-faults-"))
    if os.geteuid() == 0:  # initdb refuses root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    subprocess.run(
        [
            *as_user,
            str(pg_bin / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    with open(data / "postgresql.conf", "a") as conf:
        conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
    server = Cluster(pg_bin, data, free_port(), as_user)
    server.start()
    admin = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/postgres")
    with admin.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("CREATE ROLE xiaodian LOGIN SUPERUSER PASSWORD 'xiaodian'"))
        conn.execute(text("CREATE DATABASE xiaodian_faults OWNER xiaodian"))
    admin.dispose()
    server.url = f"postgresql+psycopg://xiaodian:xiaodian@127.0.0.1:{server.port}/xiaodian_faults"
    engine = make_engine(server.url)
    upgrade(engine)
    engine.dispose()
    yield server
    try:
        server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def worker_env(url: str, **extra: str) -> dict[str, str]:
    """Environment of a ``xiaodian worker`` / ``serve`` process under test: fast ticks, short
    back-off, the server checking every second that its client is still there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAODIAN_")}
    env.update(
        XIAODIAN_DATABASE_URL=url,
        XIAODIAN_SECRET_KEY=SECRET,
        XIAODIAN_TICK_SECONDS="0.3",
        XIAODIAN_WORKER__MIN_BACKOFF_SECONDS="0.2",
        XIAODIAN_WORKER__MAX_BACKOFF_SECONDS="1",
        XIAODIAN_DATABASE__CLIENT_CONNECTION_CHECK_INTERVAL_SECONDS="1",
        XIAODIAN_DATABASE__CONNECT_TIMEOUT_SECONDS="2",
        XIAODIAN_DATABASE__POOL_TIMEOUT_SECONDS="3",
        # Webhook receivers in these tests listen on loopback.
        XIAODIAN_WEBHOOKS__ALLOW_LOOPBACK="true",
        XIAODIAN_WEBHOOKS__TIMEOUT_SECONDS="5",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Processes:
    """Child processes started by a test, ended (by their own pid) at teardown."""

    tmp: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        """``xiaodian <args>``; its database sessions are named ``name`` (PGAPPNAME)."""
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "xiaodian.cli", *args],
            env={**env, "PGAPPNAME": name},
            stdout=log,
            stderr=log,
        )
        self.started.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def end_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.end_all()


@pytest.fixture
def faults_rt(cluster: Cluster) -> Iterator[Runtime]:
    """A Runtime on the private cluster, every table emptied first."""
    from tests.conftest import _empty_all_tables

    settings = Settings(
        database_url=cluster.url,
        clock_mode="system",
        secret_key=SECRET,
        webhooks={"allow_loopback": True},
    )
    engine = make_engine(cluster.url)
    _empty_all_tables(engine)
    yield Runtime(
        settings=settings, engine=engine, factory=make_sessionmaker(engine), clock=SystemClock()
    )
    engine.dispose()


def backends(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid, application_name, state, wait_event_type, left(query, 200) AS query"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ).mappings()
        return [dict(row) for row in rows]


def pid_connected_to(port: int, pids: list[int]) -> int:
    """Which of ``pids`` holds a TCP connection to 127.0.0.1:``port`` (Linux /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(fields[9])
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return 0


INVARIANTS: dict[str, str] = {
    "judgments > 3 per order": (
        "SELECT order_id FROM order_violations GROUP BY order_id HAVING count(*) > 3"
    ),
    "two judgments of one order at one instant": (
        "SELECT order_id FROM order_violations GROUP BY order_id, judged_at HAVING count(*) > 1"
    ),
    "deductions > 2 per order": (
        "SELECT order_id FROM order_violations WHERE penalty_status = 'deducted'"
        " GROUP BY order_id HAVING count(*) > 2"
    ),
    "deductions over the shop's daily cap": (
        "SELECT shop_id FROM order_violations WHERE penalty_status = 'deducted'"
        " GROUP BY shop_id, penalty_day HAVING sum(penalty_fen) > :cap"
    ),
    "deducted judgment without its ledger transaction": (
        "SELECT id FROM order_violations WHERE penalty_status = 'deducted'"
        " AND ledger_txn_id IS NULL"
    ),
    "penalty transaction ≠ its judgments": (
        "SELECT t.id FROM ledger_txns t JOIN ledger_entries e ON e.txn_id = t.id"
        " WHERE t.kind = 'late_shipment_penalty' AND e.amount_fen > 0"
        " AND e.amount_fen <> (SELECT sum(v.penalty_fen) FROM order_violations v"
        " WHERE v.ledger_txn_id = t.id)"
    ),
    "ledger transaction not summing to 0": (
        "SELECT txn_id FROM ledger_entries GROUP BY txn_id HAVING sum(amount_fen) <> 0"
    ),
    "balance ≠ its entries": (
        "SELECT a.shop_id FROM ledger_accounts a WHERE a.balance_fen <> (SELECT"
        " coalesce(sum(e.amount_fen), 0) FROM ledger_entries e WHERE e.shop_id = a.shop_id"
        " AND e.account_code = a.code)"
    ),
    "event not delivered": "SELECT id FROM webhook_deliveries WHERE status <> 'delivered'",
    "event queued twice for one endpoint": (
        "SELECT event_id FROM webhook_deliveries GROUP BY endpoint_id, event_id HAVING count(*) > 1"
    ),
}


def violations(engine: Engine, cap_fen: int, skip: tuple[str, ...] = ()) -> dict[str, int]:
    """Every invariant of issue 18 (W6) as a query; the count of rows breaking each."""
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for name, query in INVARIANTS.items():
            if name in skip:
                continue
            rows = conn.execute(text(query), {"cap": cap_fen}).all()
            found[name] = len(rows)
    return found

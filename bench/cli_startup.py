"""Benchmark: K5 start-up time of the ``xiaodian`` command line.

Runs each command as a fresh process many times (as hyperfine would) and prints the median,
the minimum and the ratio to the anchor, a bare interpreter start (``python -c pass``) — the
floor no Python command line can go under on this machine. ``call`` goes to a tiny local HTTP
server (so its time is start-up plus one loopback request); ``tick`` runs against a migrated
SQLite file with nothing due (start-up plus one idle tick); ``tick-server`` is the same
``tick --advance 1h`` answered by a running ``xiaodian serve`` on the simulated clock (signed
``POST /sim/clock/advance`` with an app that has the simulation scope, K5), so its time is
start-up plus the server's advance. Two floors are timed beside the anchor: a bare ``import
typer`` and Typer with Rich's console and table. Each command runs once untimed first (which
also keeps the settings catalogue ``config`` reads, as any first run does), and
``PYTHONDONTWRITEBYTECODE`` is dropped from the environment, so the numbers are those of an
installed package whose bytecode is cached — what a user gets.

    python -m bench.cli_startup [--runs 15] [--commands help,version,config,call,tick,tick-server]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _entry() -> list[str]:
    """The installed console script when there is one (what a user runs), else ``-m``."""
    script = Path(sys.executable).with_name("xiaodian")
    return [str(script)] if script.exists() else [sys.executable, "-m", "xiaodian.cli"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + system) seconds of each run. On a shared machine the wall
    time grows with the load; the CPU time much less, so both are printed."""
    walls, cpus = [], []
    subprocess.run(argv, env=env, capture_output=True, check=False)  # warm-up, untimed
    for _ in range(runs):
        cpu, start = _cpu(), time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed ({done.returncode}):\n{done.stderr.decode()}")
    return walls, cpus


# Floors, measured in the same run: a bare ``import typer`` (every command), and with the Rich
# console and table (``--help`` and ``tick``'s report render through them).
FLOORS = [
    ("import typer (floor)", "import typer"),
    ("+ rich console, table", "import typer, rich.console, rich.table"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--commands", default="help,version,config,call,tick,tick-server")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="xiaodian-cli-bench-"))
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "XIAODIAN_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "XIAODIAN_PORT": str(server.server_address[1]),
        "XIAODIAN_APP_KEY": "ak_bench",
        "XIAODIAN_APP_SECRET": "secret",
    }
    xiaodian = _entry()
    subprocess.run([*xiaodian, "db", "upgrade"], env=env, capture_output=True, check=True)
    port = server.server_address[1]
    commands = {
        "help": ["--help"],
        "version": ["--version"],
        "config": ["config"],
        "call": ["call", "GET", "/healthz", "--base-url", f"http://127.0.0.1:{port}"],
        "tick": ["tick"],
        "tick-server": ["tick", "--advance", "1h"],
    }
    envs = {name: env for name in commands}
    served = None
    if "tick-server" in args.commands.split(","):
        served, envs["tick-server"] = _simulated_server(xiaodian, env, tmp)
    anchor_walls, anchor_cpus = _time([sys.executable, "-c", "pass"], env, args.runs)
    anchor = statistics.median(anchor_walls)
    load = os.getloadavg()[0]
    print(
        f"python {sys.version.split()[0]}, {args.runs} runs each, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at start"
    )
    print(f"{'command':<28} {'median':>9} {'min':>9} {'× anchor':>9} {'CPU median':>11}")
    print(
        f"{'python -c pass (anchor)':<28} {anchor * 1000:>7.0f}ms "
        f"{min(anchor_walls) * 1000:>7.0f}ms {1.0:>8.1f}× "
        f"{statistics.median(anchor_cpus) * 1000:>9.0f}ms"
    )
    for label, code in FLOORS:  # what a Typer command line cannot start under (K5)
        walls, cpus = _time([sys.executable, "-c", code], env, args.runs)
        median = statistics.median(walls)
        print(
            f"{label:<28} {median * 1000:>7.0f}ms {min(walls) * 1000:>7.0f}ms "
            f"{median / anchor:>8.1f}× {statistics.median(cpus) * 1000:>9.0f}ms"
        )
    for name in args.commands.split(","):
        walls, cpus = _time([*xiaodian, *commands[name]], envs[name], args.runs)
        median = statistics.median(walls)
        label = "xiaodian " + " ".join(commands[name][:3])
        if name == "tick-server":
            label += " (server)"
        print(
            f"{label:<28} {median * 1000:>7.0f}ms {min(walls) * 1000:>7.0f}ms "
            f"{median / anchor:>8.1f}× {statistics.median(cpus) * 1000:>9.0f}ms"
        )
    server.shutdown()
    if served is not None:
        served.terminate()
        served.wait(timeout=30)


def _simulated_server(
    xiaodian: list[str], env: dict[str, str], tmp: Path
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """``xiaodian serve`` on the simulated clock (its own SQLite file and free port) and the
    environment of a CLI that may ask it: an app with the simulation scope."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sim = {
        **env,
        "XIAODIAN_DATABASE_URL": f"sqlite:///{tmp / 'sim.db'}",
        "XIAODIAN_CLOCK_MODE": "simulated",
        "XIAODIAN_PORT": str(port),
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [*xiaodian, *args], env=sim, capture_output=True, check=True, text=True
        )
        return done.stdout

    run("db", "upgrade")
    run("shop", "create", "--name", "bench", "--username", "bench", "--password", "bench-pass-1")
    made = run("shop", "app", "--shop-id", "1", "--scope", "simulation")
    pairs = (line.split("=", 1) for line in made.splitlines() if "=" in line)
    lines = {key.strip(): value.strip() for key, value in pairs}
    sim["XIAODIAN_APP_KEY"], sim["XIAODIAN_APP_SECRET"] = lines["app_key"], lines["secret"]
    served = subprocess.Popen(
        [*xiaodian, "serve", "--no-with-worker"],
        env=sim,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or served.poll() is not None:
                raise SystemExit("the simulated server did not start") from None
            time.sleep(0.2)
    return served, sim


if __name__ == "__main__":
    main()

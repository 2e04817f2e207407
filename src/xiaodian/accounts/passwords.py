"""Password hashing under a cap (issue 11 S4).

argon2 is deliberately expensive (64 MiB and ~50 ms per hash with the library's defaults): eight
parallel logins took the server from 179 to 691 MiB. Every hash and every verification goes
through one gate per process that lets at most ``console.max_concurrent_hashes`` run at once;
a request that cannot get a slot within ``console.hash_wait_seconds`` is answered 503 with
``Retry-After`` instead of queueing without bound.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from xiaodian.config import ConsoleRules
from xiaodian.errors import XiaodianError

_hasher = PasswordHasher()


class HashingBusy(XiaodianError):
    """Every hashing slot stayed taken for the whole wait (S4)."""

    status = 503

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "login_busy",
            f"登录请求过多，请 {retry_after} 秒后重试",
            f"Too many logins at once; retry in {retry_after} s",
        )
        self.retry_after = retry_after


class Gauge:
    """How many argon2 computations run right now, and the most seen at once (measured
    around the hasher itself, not the gate, so tests can check the gate works)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_use = 0
        self.peak = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        with self._lock:
            self.in_use += 1
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._lock:
                self.in_use -= 1

    def reset(self) -> None:
        with self._lock:
            self.peak = self.in_use


HASHING = Gauge()


class HashGate:
    """At most ``limit`` hashes at once; wait at most ``wait_seconds`` for a slot."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise HashingBusy(max(1, math.ceil(self.wait_seconds)))
        try:
            yield
        finally:
            self._slots.release()


@functools.cache
def _gate(limit: int, wait_seconds: float) -> HashGate:
    return HashGate(limit, wait_seconds)


def gate(rules: ConsoleRules | None = None) -> HashGate:
    """The process's gate for these settings (one per distinct limit and wait)."""
    rules = rules or ConsoleRules()
    return _gate(rules.max_concurrent_hashes, float(rules.hash_wait_seconds))


def hash_password(password: str, rules: ConsoleRules | None = None) -> str:
    with gate(rules).slot(), HASHING.counting():
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str, rules: ConsoleRules | None = None) -> bool:
    with gate(rules).slot(), HASHING.counting():
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


@functools.cache
def dummy_hash() -> str:
    """Verified against when the username is unknown, so timing does not tell which names
    exist. Hashed on first use, not at import: a CLI command that logs nobody in should not
    pay argon2 (K5)."""
    return _hasher.hash("not-a-real-password")

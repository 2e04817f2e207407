"""One plain-HTTP request over a socket, for the command line's ``call`` and ``tick`` (K5).

``http.client`` imports the ``email`` package to parse headers and ``ssl`` at its top — about
a third of what ``xiaodian tick --advance`` (asking a running server) imported in all
(docs/benchmarks.md, K5 third pass). A request to our own server needs neither: this sends
one ``HTTP/1.1`` request with ``Connection: close`` and the headers ``http.client`` sends
(``Host``, ``Accept-Encoding: identity``, ``Content-Length``), and reads the answer whole
(by ``Content-Length``, chunked, or to the end). ``https`` is left to ``http.client``.
Standard library only.
"""

from __future__ import annotations

import socket


class BadAnswer(OSError):
    """The server's answer is not HTTP this reader understands."""


def request(
    host: str,
    port: int,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, bytes]:
    """(status, body) of one request to ``http://host:port`` + ``target``. Connection and
    timeout errors are ``OSError`` (as ``http.client``'s are); a garbled answer ``BadAnswer``."""
    netloc = f"[{host}]" if ":" in host else host
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {netloc}" + ("" if port == 80 else f":{port}"),
        "Accept-Encoding: identity",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    received = bytearray()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head + body)
        status, length, chunked, start = None, None, False, -1
        while True:
            data = sock.recv(65536)
            if data:
                received += data
            if status is None and (start := received.find(b"\r\n\r\n")) >= 0:
                status, length, chunked = _head(bytes(received[:start]))
            if status is not None and length is not None and len(received) >= start + 4 + length:
                break  # the whole body is here (the server need not close first)
            if not data:
                break
    if status is None:
        raise BadAnswer(f"no HTTP answer ({bytes(received[:40])!r})")
    rest = bytes(received[start + 4 :])
    if chunked:
        return status, _unchunk(rest)
    return status, rest if length is None else rest[:length]


def _head(head: bytes) -> tuple[int, int | None, bool]:
    status_line, *fields = head.decode("latin-1").split("\r\n")
    parts = status_line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadAnswer(f"bad status line {status_line[:80]!r}")
    length, chunked = None, False
    for field in fields:
        name, _, value = field.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "content-length":
            if not value.isdigit():
                raise BadAnswer(f"bad Content-Length {value[:40]!r}")
            length = int(value)
    return int(parts[1]), None if chunked else length, chunked


def _unchunk(data: bytes) -> bytes:
    out, at = bytearray(), 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0:
            raise BadAnswer("truncated chunked answer")
        try:
            size = int(data[at:end].split(b";")[0], 16)
        except ValueError:
            raise BadAnswer("bad chunk size") from None
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        at = end + 2 + size + 2

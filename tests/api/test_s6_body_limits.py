"""S6 request body limits (issue 11): an oversized body is refused with 413 problem+json before
it is read — declared (Content-Length) or streamed (chunked, no Content-Length) — on the open
API, the buyer API, the staff app and the console. Real uvicorn on a real socket."""

from __future__ import annotations

import json
import select
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.browser import live_server  # noqa: F401  (the real server fixture)
from xiaodian.api.app import create_app
from xiaodian.runtime import Runtime

MB = 1024 * 1024
REGISTER = "/buyer/v1/register"


def _connect(base_url: str) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _assert_413(status: int, headers: dict[str, str], body: bytes, limit: int) -> None:
    assert status == 413
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["code"] == "body_too_large" and problem["limit_bytes"] == limit
    assert "请求内容过大" in problem["message_zh"] and problem["message_en"]


def test_S6_declared_100MB_registration_is_refused_before_the_body_is_sent(
    rt: Runtime,
    live_server: str,  # noqa: F811
) -> None:
    sock = _connect(live_server)
    with sock:
        sock.sendall(
            f"POST {REGISTER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {100 * MB}\r\n\r\n".encode()
        )
        # Not a byte of the body was sent: the answer comes anyway.
        status, headers, body = _read_response(sock)
    _assert_413(status, headers, body, rt.settings.limits.json_max_bytes)


def test_S6_chunked_body_without_length_is_cut_off_at_the_limit(
    rt: Runtime,
    live_server: str,  # noqa: F811
) -> None:
    """A chunked upload of (up to) 100 MB: the server answers 413 once it has counted a little
    over 1 MB, while the client is still sending."""
    limit = rt.settings.limits.json_max_bytes
    chunk = b'{"douyin_id": "' + b"x" * (64 * 1024)
    sent = 0
    sock = _connect(live_server)
    with sock:
        sock.sendall(
            f"POST {REGISTER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        answered = False
        deadline = time.monotonic() + 60
        while sent < 100 * MB and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answered = True
                break
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                answered = True
                break
            sent += len(chunk)
        assert answered, "the server read the whole body"
        status, headers, body = _read_response(sock)
    _assert_413(status, headers, body, limit)
    # Refused after about the limit (plus what sat in the socket buffers), not 100 MB.
    assert sent < limit + 8 * MB


def test_S6_json_under_the_limit_is_served_and_over_it_refused(client: TestClient) -> None:
    body = {"douyin_id": "dy_s6", "nickname": "小六"}
    padded = json.dumps(body).encode()
    under = padded[:-1] + b" " * (1 * MB - len(padded)) + b"}"
    assert len(under) == MB
    ok = client.post(REGISTER, content=under, headers={"Content-Type": "application/json"})
    assert ok.status_code == 201, ok.text
    over = under[:-1] + b" }"
    refused = client.post(REGISTER, content=over, headers={"Content-Type": "application/json"})
    assert refused.status_code == 413 and refused.json()["code"] == "body_too_large"


def test_S6_streamed_body_without_length_is_refused_in_process(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b" " * (64 * 1024)

    answer = client.post(REGISTER, content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "body_too_large"


def test_S6_every_surface_is_limited(client: TestClient) -> None:
    """Open API, staff app, console: 2 MB of JSON or form is refused with 413 unread."""
    big = b"a" * (2 * MB)
    for path, content_type in [
        ("/api/v1/orders", "application/json"),
        ("/staff/v1/coupons/verify", "application/json"),
        ("/console/login", "application/x-www-form-urlencoded"),
        ("/console/settings/apps", "application/x-www-form-urlencoded"),
    ]:
        answer = client.post(path, content=big, headers={"Content-Type": content_type})
        assert answer.status_code == 413, path
        assert answer.json()["code"] == "body_too_large", path


def test_S6_uploads_and_image_json_have_their_own_limits(rt: Runtime) -> None:
    limits = rt.settings.limits.model_copy(
        update={"upload_max_bytes": 3 * MB, "image_json_max_bytes": 2 * MB}
    )
    rt.settings = rt.settings.model_copy(update={"limits": limits})
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        # A 2 MB multipart upload is within the upload limit: it reaches the route (which
        # wants a signature, 401), it is not refused for its size.
        files = {"image": ("a.png", b"\x89PNG" + b"0" * (2 * MB), "image/png")}
        within = client.post("/staff/v1/coupons/verify-scan", files=files)
        assert within.status_code != 413
        files = {"image": ("a.png", b"\x89PNG" + b"0" * (3 * MB), "image/png")}
        over = client.post("/staff/v1/coupons/verify-scan", files=files)
        assert over.status_code == 413 and over.json()["limit_bytes"] == 3 * MB
        # The coupon JSON (two base64 images) may be larger than 1 MB, not than its own limit.
        big_json = b'{"title": "' + b"x" * (int(1.5 * MB)) + b'"}'
        coupon = client.post(
            "/api/v1/coupons", content=big_json, headers={"Content-Type": "application/json"}
        )
        assert coupon.status_code != 413
        bigger = b'{"title": "' + b"x" * (2 * MB) + b'"}'
        refused = client.post(
            "/api/v1/coupons", content=bigger, headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 413 and refused.json()["limit_bytes"] == 2 * MB

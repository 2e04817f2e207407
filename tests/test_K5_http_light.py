"""K5 (issue 14): ``call`` and ``tick`` speak plain HTTP over a socket (``http_light``)
instead of importing ``http.client`` — the same request on the wire, every answer read whole.

Against real sockets: a one-shot server thread records the request and answers with a body by
``Content-Length``, chunked, or ended by closing; a garbled answer is an ``OSError`` (the CLI's
"cannot reach" line), as nothing listening is.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from xiaodian import http_light


@pytest.fixture
def one_answer() -> Iterator[tuple[int, list[bytes], list[bytes]]]:
    """(port, [answer to send], [request received]) of a server answering one connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    answer: list[bytes] = []
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(dict(
                line.split(": ", 1) for line in head.decode().split("\r\n")[1:]
            ).get("Content-Length", "0"))  # fmt: skip
            while len(body) < length:
                body += conn.recv(65536)
            received.append(head + b"\r\n\r\n" + body)
            conn.sendall(answer[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], answer, received
    thread.join(timeout=10)
    listener.close()


def test_K5_the_request_is_what_http_client_sends_and_a_sized_answer_is_read(
    one_answer: tuple[int, list[bytes], list[bytes]],
) -> None:
    port, answer, received = one_answer
    answer.append(b'HTTP/1.1 404 Not Found\r\nContent-Length: 15\r\n\r\n{"status": 404}')
    status, body = http_light.request(
        "127.0.0.1", port, "POST", "/api/v1/x?a=1", b'{"k": 1}', {"X-App-Key": "ak"}
    )
    assert (status, body) == (404, b'{"status": 404}')
    head, _, sent = received[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/v1/x?a=1 HTTP/1.1"
    assert {f"Host: 127.0.0.1:{port}", "Content-Length: 8", "X-App-Key: ak"} <= set(lines)
    assert sent == b'{"k": 1}'


@pytest.mark.parametrize(
    "answer, expected",
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n: 1\r\n"
         b"1\r\n}\r\n0\r\n\r\n", b'{"a": 1}'),
        (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1, 2]", b"[1, 2]"),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", b""),
    ],
    ids=["chunked", "until-closed", "empty"],
)  # fmt: skip
def test_K5_chunked_and_close_delimited_answers_are_read_whole(
    one_answer: tuple[int, list[bytes], list[bytes]], answer: bytes, expected: bytes
) -> None:
    port, answers, _ = one_answer
    answers.append(answer)
    assert http_light.request("127.0.0.1", port, "GET", "/")[1] == expected


def test_K5_a_garbled_answer_and_a_closed_port_are_oserrors(
    one_answer: tuple[int, list[bytes], list[bytes]],
) -> None:
    port, answers, _ = one_answer
    answers.append(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(OSError, match="bad status line"):
        http_light.request("127.0.0.1", port, "GET", "/")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with pytest.raises(OSError):
        http_light.request("127.0.0.1", free, "GET", "/", timeout=2)

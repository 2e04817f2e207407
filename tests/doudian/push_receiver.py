"""An ERP's 抖店 push receiver, written from REFERENCE.md §1 alone (never xiaodian's code):
a real HTTP server that checks ``event-sign = hex(MD5(app_key + body + app_secret))`` and the
``app-id`` header, reads the JSON array of ``{tag, msg_id, data}`` (``data`` is JSON text), and
answers ``{"code": 0, "msg": "success"}`` — or, to test retries, the answers it is told to give
first (any HTTP status and body)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUCCESS = (200, b'{"code":0,"msg":"success"}')


def event_sign_ok(app_key: str, app_secret: str, body: bytes, sign: str) -> bool:
    expected = hashlib.md5(app_key.encode() + body + app_secret.encode()).hexdigest()
    return expected == sign


class PushReceiver:
    def __init__(
        self, app_key: str, app_secret: str, answers: list[tuple[int, bytes]] | None = None
    ) -> None:
        self.app_key, self.app_secret = app_key, app_secret
        self.answers = list(answers or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.messages: list[dict[str, Any]] = []  # verified ones, ``data`` parsed
        self.rejected = 0  # requests whose signature did not verify
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append((headers, body))
                    status, answer = receiver.answers.pop(0) if receiver.answers else SUCCESS
                    ok = headers.get("app-id") == receiver.app_key and event_sign_ok(
                        receiver.app_key, receiver.app_secret, body, headers.get("event-sign", "")
                    )
                    if not ok:
                        receiver.rejected += 1
                        status, answer = 200, b'{"code":1,"msg":"invalid signature"}'
                    elif answer == SUCCESS[1]:
                        for message in json.loads(body):
                            receiver.messages.append(
                                {**message, "data": json.loads(message["data"])}
                            )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/doudian/push"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def tags(self) -> list[str]:
        return [m["tag"] for m in self.messages]

    def __enter__(self) -> PushReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

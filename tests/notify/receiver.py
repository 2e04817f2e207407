"""A real webhook receiver for tests: an HTTP(S) server on 127.0.0.1 that answers every POST
with a fixed status, headers and body after an optional delay, and records what it got
(headers, body, requests per ``X-Xiaodian-Delivery``, TLS server names asked for)."""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalReceiver:
    def __init__(
        self,
        *,
        status: int = 200,
        body: bytes = b"ok",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.per_delivery: Counter[str] = Counter()
        self.server_names: list[str | None] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body_in = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append((dict(self.headers), body_in))
                    receiver.per_delivery[self.headers.get("X-Xiaodian-Delivery", "")] += 1
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that refuses our certificate is expected in some tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        if tls is not None:
            tls.sni_callback = self._remember_name
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _remember_name(self, _sock: Any, name: str | None, _ctx: Any) -> None:
        with self.lock:
            self.server_names.append(name)

    def url_for(self, host: str, path: str = "/hook") -> str:
        scheme = "https" if self.url.startswith("https") else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> LocalReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

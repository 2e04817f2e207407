"""Request body limits (issue 11, S6): an oversized body is refused with 413 before it is read.

A pure ASGI middleware in front of every route (open API, buyer API, staff app, console):

* a ``Content-Length`` above the limit is answered at once — the body is never received;
* a body without one (``Transfer-Encoding: chunked``) is counted as it streams in, and the
  request is refused the moment the count passes the limit: the application never holds more
  than the limit plus one chunk.

The limit depends on what the body is: ``multipart/form-data`` (uploads) gets
``limits.upload_max_bytes``; the JSON body that carries two base64 images
(``POST /api/v1/coupons``) gets ``limits.image_json_max_bytes``; every other body (JSON, forms)
gets ``limits.json_max_bytes`` (1 MB).

The answer is ``application/problem+json`` with the code ``body_too_large`` and the limit.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException

from xiaodian.config import RequestLimits

PROBLEM = "application/problem+json"
IMAGE_JSON_ROUTES = frozenset({("POST", "/api/v1/coupons")})


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (FastAPI lets an
    HTTPException raised while reading the body through, unchanged)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body larger than {limit} bytes")
        self.limit = limit


def body_too_large_problem(limit: int) -> dict[str, Any]:
    return {
        "type": "urn:xiaodian:error:body_too_large",
        "title": f"The request body is larger than {limit} bytes",
        "status": 413,
        "code": "body_too_large",
        "message_zh": f"请求内容过大（最多 {limit} 字节）",
        "message_en": f"The request body is larger than {limit} bytes",
        "limit_bytes": limit,
    }


def limit_for(scope: dict[str, Any], limits: RequestLimits) -> int:
    content_type = _header(scope, b"content-type") or ""
    if content_type.lower().startswith("multipart/form-data"):
        return limits.upload_max_bytes
    if (scope.get("method", ""), scope.get("path", "")) in IMAGE_JSON_ROUTES:
        return limits.image_json_max_bytes
    return limits.json_max_bytes


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BodyLimit:
    """S6: refuse a body over its limit with 413, before reading it (see module)."""

    def __init__(self, app: Any, limits: RequestLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope, self.limits)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _answer(send, 413, body_too_large_problem(limit))
            return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Any:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if exceeded and not started:
                # Whatever the route made of the cut-off body, the answer is the 413.
                if message["type"] == "http.response.start":
                    started = True
                    await _answer(send, 413, body_too_large_problem(limit))
                return
            if exceeded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not started:
                started = True
                await _answer(send, 413, body_too_large_problem(limit))


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

"""S9 (authentication answers): every 401 says how to authenticate (``WWW-Authenticate``,
RFC 9110 §11.6.1), whichever handler produced it — the open API's problem+json, the buyer and
staff bearer tokens, the console's login page."""

from __future__ import annotations

from typing import Any

# Open API: the four signature headers (README "Open API"), HMAC-SHA256 with the app secret.
OPEN_API = (
    'XiaodianHMAC realm="xiaodian-open-api", headers="X-App-Key X-Timestamp X-Nonce X-Signature"'
)
CONSOLE = 'XiaodianSession realm="xiaodian-console", login="/console/login"'
BUYER = 'Bearer realm="xiaodian-buyer"'
STAFF = 'Bearer realm="xiaodian-staff"'


def challenge_for(path: str) -> str:
    """The challenge for a path: what its routes accept as credentials."""
    if path.startswith("/buyer/"):
        return BUYER
    if path.startswith("/staff/"):
        return STAFF
    if path == "/console" or path.startswith("/console/"):
        return CONSOLE
    if path.startswith("/sim/"):  # a signed app with the simulation scope, or the console
        return f"{OPEN_API}, {CONSOLE}"
    return OPEN_API


class WwwAuthenticate:
    """ASGI middleware: adds ``WWW-Authenticate`` to a 401 that has none."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def send_with_challenge(message: Any) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 401:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"www-authenticate" for name, _ in headers):
                    headers.append((b"www-authenticate", challenge_for(path).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_challenge)

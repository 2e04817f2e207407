"""HMAC-SHA256 signatures for the open API (requests in) and webhooks (events out).

Open API request signature::

    string_to_sign = METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE
                     + "\\n" + hex(sha256(BODY))
    X-Signature    = hex(hmac_sha256(app_secret, string_to_sign))

sent with ``X-App-Key``, ``X-Timestamp`` (unix seconds) and ``X-Nonce`` (8–64 chars of
[A-Za-z0-9_-], never reused). Webhook signature::

    X-Xiaodian-Signature = "v1=" + hex(hmac_sha256(endpoint_secret, TIMESTAMP + "." + BODY))
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time


def api_string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), path, timestamp, nonce, digest])


def api_signature(
    secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes
) -> str:
    message = api_string_to_sign(method, path, timestamp, nonce, body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    app_key: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers for one signed request — what an ERP client does (see README)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {
        "X-App-Key": app_key,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": api_signature(secret, method, path, ts, nonce, body),
    }


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_webhook(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_seconds: int = 300,
) -> bool:
    """What a receiver runs: right signature, and a timestamp within the tolerance."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    expected = webhook_signature(secret, timestamp, body)
    return age <= tolerance_seconds and hmac.compare_digest(expected, signature)

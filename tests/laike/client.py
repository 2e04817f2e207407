"""An independent 抖音来客 (goodlife/v1) client, written from REFERENCE.md §2 and the public
SDK shapes only — it never imports xiaodian. It is what an ISV's store system does, with the
base URL pointed at xiaodian's ``/douyin``.

* token: ``POST /oauth/client_token/`` (client_key, client_secret,
  grant_type=client_credential) → ``data.access_token``; then header ``access-token``;
* a call succeeded only if ``data.error_code == 0`` and ``extra.error_code == 0``;
* a verification succeeded only if, in addition, its ``result == 0``;
* push: ``X-Douyin-Signature == hex(SHA1(client_secret + body))``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

BASE = "/douyin"
CERT = "/goodlife/v1/fulfilment/certificate"


class LaikeClient:
    def __init__(self, http: Any, client_key: str, client_secret: str) -> None:
        self.http, self.client_key, self.client_secret = http, client_key, client_secret
        self.access_token = ""

    # --- credentials -------------------------------------------------------------------

    def fetch_token(self) -> dict[str, Any]:
        response = self.http.post(
            f"{BASE}/oauth/client_token/",
            json={
                "client_key": self.client_key,
                "client_secret": self.client_secret,
                "grant_type": "client_credential",
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["data"]["error_code"] == 0:
            self.access_token = body["data"]["access_token"]
        return body

    def login(self) -> LaikeClient:
        body = self.fetch_token()
        assert body["message"] == "success" and body["data"]["error_code"] == 0, body
        assert body["data"]["expires_in"] > 0
        return self

    # --- raw calls -----------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"access-token": self.access_token, "content-type": "application/json"}

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        pairs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items() if v is not None)
        url = f"{BASE}{path}" + (f"?{pairs}" if pairs else "")
        response = self.http.get(url, headers=self._headers())
        assert response.status_code == 200, response.text  # business errors are HTTP 200 too
        result: dict[str, Any] = response.json()
        return result

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"{BASE}{path}", json=body, headers=self._headers())
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    # --- the store-verification API ----------------------------------------------------

    def prepare(
        self, *, poi_id: str, code: str | None = None, encrypted_data: str | None = None
    ) -> dict[str, Any]:
        return self.get(f"{CERT}/prepare/", code=code, encrypted_data=encrypted_data, poi_id=poi_id)

    def verify(
        self, verify_token: str, poi_id: str, encrypted_codes: list[str], **more: Any
    ) -> dict[str, Any]:
        body = {"verify_token": verify_token, "poi_id": poi_id, "encrypted_codes": encrypted_codes}
        return self.post(f"{CERT}/verify/", {**body, **more})

    def cancel(self, verify_id: str, certificate_id: str) -> dict[str, Any]:
        return self.post(
            f"{CERT}/cancel/", {"verify_id": verify_id, "certificate_id": certificate_id}
        )

    def certificate(self, encrypted_code: str) -> dict[str, Any]:
        return self.get(f"{CERT}/get/", encrypted_code=encrypted_code)

    def query(self, **by: str) -> dict[str, Any]:
        return self.get(f"{CERT}/query/", **by)

    def verify_records(self, **query: Any) -> dict[str, Any]:
        return self.get(f"{CERT}/verify_record/query/", **query)


def succeeded(body: dict[str, Any]) -> bool:
    extra = body.get("extra") or {}
    return (
        body["data"]["error_code"] == 0
        and extra.get("error_code", 0) == 0
        and extra.get("sub_error_code", 0) == 0
    )


def verified(result: dict[str, Any]) -> bool:
    return result["result"] == 0


def push_signature_ok(client_secret: str, body: bytes, signature: str) -> bool:
    expected = hashlib.sha1(client_secret.encode() + body).hexdigest()
    return hmac.compare_digest(expected, signature)

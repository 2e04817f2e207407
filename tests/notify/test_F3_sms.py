"""Issue 17 F3: a real phone check for exports.

The O2 download code goes out through the SMS provider the settings name. 阿里云短信服务 is
driven through its official SDK against a local stand-in of its endpoint that records each
request and checks its ACS3-HMAC-SHA256 signature by the algorithm Aliyun documents (written
here independently of the SDK). The demo's 演示手机 works only in a demo and shows the code on
its own page, never on the page of the download.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from tests.conftest import ShopFixture
from tests.orders.export.helpers import ready_export
from tests.web.conftest import console_login
from xiaodian.config import Settings, SmsSettings
from xiaodian.notify.sms import SmsMessage
from xiaodian.orders.export.models import ExportCode
from xiaodian.runtime import Runtime

ACCESS_KEY_ID = "LTAI-test-key"
ACCESS_KEY_SECRET = "test-secret-of-the-stand-in"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class AliyunStandIn:
    """Plays dysmsapi.aliyuncs.com on 127.0.0.1: records, verifies, answers ``answer_code``."""

    answer_code: str = "OK"
    requests: list[Recorded] = field(default_factory=list)
    server: HTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_port}"

    def start(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                url = urlsplit(self.path)
                stand_in.requests.append(
                    Recorded(
                        "POST",
                        url.path,
                        dict(parse_qsl(url.query, keep_blank_values=True)),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                answer = {
                    "Code": stand_in.answer_code,
                    "Message": "OK" if stand_in.answer_code == "OK" else "触发流控",
                    "BizId": "900619746936498440^0",
                    "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990",
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def acs3_signature(request: Recorded, secret: str) -> str:
    """ACS3-HMAC-SHA256 as Aliyun's signature documentation describes it (V3 signature)."""

    def encode(text: str) -> str:
        return quote(text, safe="-_.~")

    signed = request.headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
    names = signed.split(";")
    canonical_query = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(request.query.items()))
    canonical_headers = "".join(f"{name}:{request.headers[name].strip()}\n" for name in names)
    canonical_request = "\n".join(
        [
            request.method,
            request.path,
            canonical_query,
            canonical_headers,
            signed,
            hashlib.sha256(request.body).hexdigest(),
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def stand_in() -> Iterator[AliyunStandIn]:
    server = AliyunStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, stand_in: AliyunStandIn) -> Settings:
    """A production-like installation: system clock, 阿里云短信 as the provider."""
    return Settings(
        database_url=db_url,
        clock_mode="system",
        secret_key="test-secret-key",
        sms=SmsSettings(
            provider="aliyun",
            aliyun_access_key_id=ACCESS_KEY_ID,
            aliyun_access_key_secret=ACCESS_KEY_SECRET,  # type: ignore[arg-type]
            aliyun_sign_name="抖音好物小店",
            aliyun_template_code="SMS_154950909",
            aliyun_endpoint=stand_in.endpoint,
            aliyun_protocol="http",
        ),
    )


def test_F3_aliyun_sends_the_code_through_the_official_sdk(
    rt: Runtime, shop: ShopFixture, stand_in: AliyunStandIn
) -> None:
    export_id = ready_export(rt, shop)
    sent = shop.api.post(f"/api/v1/orders/exports/{export_id}/verification_code")
    assert sent.status_code == 201, sent.text
    assert sent.json()["sent_to"] == "138****0001"

    [request] = stand_in.requests
    assert request.headers["x-acs-action"] == "SendSms"
    assert request.headers["x-acs-version"] == "2017-05-25"
    assert request.headers["authorization"].startswith(
        f"ACS3-HMAC-SHA256 Credential={ACCESS_KEY_ID},"
    )
    signature = request.headers["authorization"].rsplit("Signature=", 1)[1]
    assert signature == acs3_signature(request, ACCESS_KEY_SECRET)
    assert signature != acs3_signature(request, "another-secret")
    assert request.query["PhoneNumbers"] == "13800000001"
    assert request.query["SignName"] == "抖音好物小店"
    assert request.query["TemplateCode"] == "SMS_154950909"
    code = json.loads(request.query["TemplateParam"])["code"]
    assert len(code) == 6 and code.isdigit()

    with rt.unit() as ctx:  # a real provider: nothing kept in clear, no 演示手机 message
        assert ctx.session.scalar(select(func.count()).select_from(SmsMessage)) == 0
        stored = ctx.session.scalars(select(ExportCode)).one()
        assert code not in stored.code_hash

    download = shop.api.post(f"/api/v1/orders/exports/{export_id}/download", {"code": code})
    assert download.status_code == 200, download.text
    assert download.content.startswith(b"\xef\xbb\xbf")


def test_F3_aliyun_refusal_answers_502_and_keeps_no_code(
    rt: Runtime, shop: ShopFixture, stand_in: AliyunStandIn
) -> None:
    export_id = ready_export(rt, shop)
    stand_in.answer_code = "isv.BUSINESS_LIMIT_CONTROL"
    sent = shop.api.post(f"/api/v1/orders/exports/{export_id}/verification_code")
    assert sent.status_code == 502, sent.text
    problem = sent.json()
    assert problem["code"] == "sms_failed"
    assert "isv.BUSINESS_LIMIT_CONTROL" in problem["message_en"]
    assert "短信发送失败" in problem["message_zh"]
    with rt.unit() as ctx:  # the code row went with the failed send: no code to guess
        assert ctx.session.scalar(select(func.count()).select_from(ExportCode)) == 0


def test_F3_no_demo_phone_page_with_a_real_provider(
    rt: Runtime, shop: ShopFixture, client: Any
) -> None:
    console_login(client, shop.username, shop.password)
    assert client.get("/console/demo-phone").status_code == 404
    assert "演示手机" not in client.get("/console/notices").text


def test_F3_aliyun_settings_must_be_complete() -> None:
    with pytest.raises(ValidationError) as refused:
        SmsSettings(provider="aliyun", aliyun_access_key_id="x")
    message = str(refused.value)
    for name in ("ALIYUN_SIGN_NAME", "ALIYUN_TEMPLATE_CODE", "ALIYUN_ACCESS_KEY_SECRET"):
        assert f"XIAODIAN_SMS__{name}" in message

"""Issue 17 F3: the 演示手机 — the demo's SMS outbox on a page of its own, only in a demo.

The test settings stand for ``xiaodian demo`` (``sms.demo_phone`` on). The code reaches the
logged-in account's 演示手机 page and never the 导出记录 page of the download; outside a demo
the same request is refused and the page does not exist.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ShopFixture
from tests.orders.export.helpers import ready_export
from tests.web.conftest import console_login
from xiaodian.api.app import create_app
from xiaodian.config import Settings, SmsSettings
from xiaodian.notify.sms import demo_phone_enabled
from xiaodian.runtime import Runtime

CODE = re.compile(r"验证码 (\d{6})")


def test_F3_code_on_the_demo_phone_page_never_beside_the_download(
    rt: Runtime, shop: ShopFixture, client: TestClient
) -> None:
    export_id = ready_export(rt, shop)
    sent = shop.api.post(f"/api/v1/orders/exports/{export_id}/verification_code")
    assert sent.status_code == 201, sent.text

    console_login(client, shop.username, shop.password)
    exports = client.get("/console/orders/exports").text
    assert not CODE.search(exports) and "演示短信" not in exports
    phone = client.get("/console/demo-phone")
    assert phone.status_code == 200
    match = CODE.search(phone.text)
    assert match and f"导出记录 #{export_id}" in phone.text
    assert "138****0001" in phone.text
    assert 'href="/console/demo-phone"' in phone.text  # in the menu while it exists

    download = shop.api.post(
        f"/api/v1/orders/exports/{export_id}/download", {"code": match.group(1)}
    )
    assert download.status_code == 200, download.text


def test_F3_another_shop_sees_none_of_it(rt: Runtime, make_shop: Any, client: TestClient) -> None:
    first, second = make_shop("甲店"), make_shop("乙店")
    export_id = ready_export(rt, first)
    assert first.api.post(f"/api/v1/orders/exports/{export_id}/verification_code").is_success
    console_login(client, second.username, second.password)
    assert not CODE.search(client.get("/console/demo-phone").text)


def test_F3_outside_a_demo_no_code_is_sent_and_no_page_exists(
    rt: Runtime, shop: ShopFixture
) -> None:
    export_id = ready_export(rt, shop)
    production = rt.settings.model_copy(update={"sms": SmsSettings()})
    rt.settings = production
    with TestClient(create_app(rt), raise_server_exceptions=False) as client:
        shop.api.client = client
        refused = shop.api.post(f"/api/v1/orders/exports/{export_id}/verification_code")
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "sms_not_configured"
        assert "未配置短信服务商" in refused.json()["message_zh"]
        console_login(client, shop.username, shop.password)
        assert client.get("/console/demo-phone").status_code == 404
        assert "演示手机" not in client.get("/console/notices").text


@pytest.mark.parametrize(
    ("clock_mode", "sms", "enabled"),
    [
        ("simulated", SmsSettings(), True),
        ("system", SmsSettings(demo_phone=True), True),
        ("system", SmsSettings(), False),
    ],
)
def test_F3_demo_phone_only_in_a_demo(clock_mode: str, sms: SmsSettings, enabled: bool) -> None:
    settings = Settings(clock_mode=clock_mode, sms=sms)  # type: ignore[arg-type]
    assert demo_phone_enabled(settings) is enabled

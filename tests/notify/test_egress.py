"""S1 (issue 11): a webhook cannot be aimed at the host, its network or the cloud's metadata
service — not at registration, not at delivery, whatever the spelling of the address and
whatever DNS answers in between. Real HTTP(S) receivers on 127.0.0.1; the resolver is the one
seam (DNS is outside by nature): tests give a name the answers they need."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.notify.receiver import LocalReceiver
from tests.web.conftest import console_login, page_token
from xiaodian.clock import SystemClock
from xiaodian.errors import ValidationFailed
from xiaodian.notify import egress
from xiaodian.notify import service as notify
from xiaodian.notify.webhooks import deliver_due
from xiaodian.runtime import Runtime

PUBLIC = "93.184.215.14"  # any global address; nothing is ever sent to it in these tests

# Every spelling named in issue 11, and the neighbours of each.
FORBIDDEN = {
    "private 10/8": ("http://10.0.0.1/", "private"),
    "private 172.16/12": ("http://172.16.5.4/hook", "private"),
    "private 192.168/16": ("https://192.168.1.1:8443/hook", "private"),
    "metadata": ("http://169.254.169.254/latest/meta-data/", "metadata"),
    "metadata ecs": ("http://169.254.170.2/v2/credentials", "metadata"),
    "metadata aliyun": ("http://100.100.100.200/latest/meta-data/", "metadata"),
    "metadata ipv6": ("http://[fd00:ec2::254]/", "metadata"),
    "link-local": ("http://169.254.1.1/", "link_local"),
    "link-local ipv6": ("http://[fe80::1]/", "link_local"),
    "loopback ipv6": ("http://[::1]/", "loopback"),
    "localhost": ("http://localhost:8000/", "loopback"),
    "localhost upper-case, trailing dot": ("http://LOCALHOST./", "loopback"),
    "sub.localhost": ("http://admin.localhost/", "loopback"),
    "hex 0x7f000001": ("http://0x7f000001/", "loopback"),
    "decimal 2130706433": ("http://2130706433/", "loopback"),
    "short 127.1": ("http://127.1/", "loopback"),
    "octal 0177.0.0.1": ("http://0177.0.0.1/", "loopback"),
    "mixed 0x7f.1": ("http://0x7f.1/", "loopback"),
    "trailing dot 127.0.0.1.": ("http://127.0.0.1./", "loopback"),
    "full-width digits": ("http://１２７.０.０.１/", "loopback"),
    "ideographic full stops": ("http://127。0。0。1/", "loopback"),
    "ipv4-mapped ipv6": ("http://[::ffff:127.0.0.1]/", "loopback"),
    "ipv4-mapped ipv6, hex": ("http://[::ffff:a9fe:a9fe]/", "metadata"),
    "6to4 around loopback": ("http://[2002:7f00:1::]/", "loopback"),
    "nat64 around metadata": ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
    "cgnat 100.64/10": ("http://100.64.0.1/", "cgnat"),
    "unique-local fc00::/7": ("http://[fd12:3456::1]/", "unique_local"),
    "multicast": ("http://224.0.0.1/", "multicast"),
    "multicast ipv6": ("http://[ff02::1]/", "multicast"),
    "unspecified": ("http://0.0.0.0:8000/", "unspecified"),
    "unspecified short 0": ("http://0/", "unspecified"),
    "unspecified ipv6": ("http://[::]/", "unspecified"),
    "reserved 240/4": ("http://240.0.0.1/", "reserved"),
    "broadcast": ("http://255.255.255.255/", "reserved"),
}


def _resolver(*answers: Sequence[str]) -> Any:
    """A resolver that gives its answers in turn (the last one forever) and counts calls."""
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(answers[min(len(calls), len(answers)) - 1])

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def _allow_loopback(rt: Runtime) -> None:
    rt.settings.webhooks.allow_loopback = True


def _emit(rt: Runtime, shop_id: int, n: int = 1) -> None:
    with rt.unit() as ctx:
        for i in range(n):
            notify.emit(ctx, shop_id, "order.shipped", {"n": i}, rule="O3")


def _row(rt: Runtime, shop_id: int) -> Any:
    with rt.unit() as ctx:
        return notify.list_deliveries(ctx.session, shop_id)[0][0]


# ----- registration -------------------------------------------------------------------------


def test_S1_every_spelling_of_an_internal_address_is_refused_at_registration(
    shop: Any,
) -> None:
    for name, (url, reason) in FORBIDDEN.items():
        response = shop.api.post("/api/v1/webhooks", {"url": url, "event_types": ["*"]})
        assert response.status_code == 422, (name, response.text)
        problem = response.json()
        assert problem["code"] == "webhook_url_forbidden" and problem["field"] == "url", name
        zh, en = egress.REASONS[reason]
        assert zh in problem["message_zh"] and en in problem["message_en"], name
        assert "，" in problem["message_zh"]  # full-width punctuation in the Chinese message
    assert shop.api.get("/api/v1/webhooks").json() == []


def test_S1_credentials_in_the_url_and_other_schemes_are_refused(shop: Any) -> None:
    for url, code in (
        ("http://user:pass@10.0.0.1/", "webhook_url_forbidden"),
        ("https://erp:secret@erp.example/hook", "webhook_url_forbidden"),
        ("ftp://erp.example/hook", "invalid_url"),
        ("file:///etc/passwd", "invalid_url"),
        ("gopher://127.0.0.1:6379/_INFO", "invalid_url"),
        ("http://1.2.3.09/", "invalid_url"),  # ends in a number but is no address
        ("http://1.2.3.4.5/", "invalid_url"),
        ("http://256.1.1.1/", "invalid_url"),
        ("http://[fe80::1%25eth0]/", "invalid_url"),  # a zone names this machine's interface
        ("http://erp.example:99999/", "invalid_url"),
        ("http://erp .example/", "invalid_url"),
        ("http://erp_hook.example/", "invalid_url"),
    ):
        response = shop.api.post("/api/v1/webhooks", {"url": url})
        assert response.status_code == 422, url
        assert response.json()["code"] == code, url
    assert shop.api.get("/api/v1/webhooks").json() == []


def test_S1_changing_the_url_is_checked_like_registering_it(shop: Any) -> None:
    created = shop.api.post("/api/v1/webhooks", {"url": "https://erp.example/hook"})
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    refused = shop.api.patch(f"/api/v1/webhooks/{endpoint_id}", {"url": "http://0x0a000001/"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "webhook_url_forbidden"
    assert shop.api.get(f"/api/v1/webhooks/{endpoint_id}").json()["url"] == (
        "https://erp.example/hook"
    )


def test_S1_the_console_form_refuses_an_internal_address_with_its_reason(
    client: TestClient, shop: Any
) -> None:
    console_login(client, shop.username, shop.password)
    page = "/console/settings/webhooks"
    response = client.post(
        page, data={"url": "http://169.254.169.254/", "csrf_token": page_token(client, page)}
    )
    assert response.status_code == 422
    assert "云服务器元数据地址" in response.text
    assert shop.api.get("/api/v1/webhooks").json() == []


def test_S1_a_name_is_refused_if_any_of_its_addresses_is_internal(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        for answers in ([PUBLIC, "10.1.2.3"], ["::ffff:169.254.169.254"], ["127.0.0.1"]):
            with pytest.raises(ValidationFailed) as refused:
                notify.create_endpoint(
                    ctx, shop.shop_id, url="https://hooks.shop.test/h", resolver=_resolver(answers)
                )
            assert refused.value.code == "webhook_url_forbidden"
        public = notify.create_endpoint(
            ctx, shop.shop_id, url="https://hooks.shop.test/h", resolver=_resolver([PUBLIC])
        )

        def unresolvable(host: str, port: int) -> list[str]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        # Not resolvable yet: accepted — nothing goes out until a delivery resolves and checks.
        later = notify.create_endpoint(
            ctx, shop.shop_id, url="https://new-erp.shop.test/h", resolver=unresolvable
        )
    assert public.id and later.id


def test_S1_loopback_is_refused_by_default_and_allowed_by_the_setting_only(
    rt: Runtime, shop: Any
) -> None:
    assert rt.settings.webhooks.allow_loopback is False
    with LocalReceiver() as receiver:
        refused = shop.api.post("/api/v1/webhooks", {"url": receiver.url})
        assert refused.json()["code"] == "webhook_url_forbidden"
        _allow_loopback(rt)
        assert shop.api.post("/api/v1/webhooks", {"url": receiver.url}).status_code == 201
        for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[fd00::1]/"):
            assert shop.api.post("/api/v1/webhooks", {"url": url}).status_code == 422
        _emit(rt, shop.shop_id)
        counts = deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
        assert counts["delivered"] == 1 and len(receiver.received) == 1


def test_S1_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from xiaodian.config import Settings

    assert Settings().webhooks.allow_loopback is False
    monkeypatch.setenv("XIAODIAN_WEBHOOKS__ALLOW_LOOPBACK", "true")
    assert Settings().webhooks.allow_loopback is True


# ----- delivery -----------------------------------------------------------------------------


def test_S1_a_dns_answer_that_changes_after_registration_is_refused_at_delivery(
    rt: Runtime, shop: Any
) -> None:
    """DNS rebinding: public at registration, loopback at delivery. The receiver on 127.0.0.1
    is real, so a delivery that trusted the registration check would reach it."""
    with LocalReceiver() as receiver:
        resolver = _resolver([PUBLIC], ["127.0.0.1"])
        url = receiver.url_for("hooks.shop.test")
        with rt.unit() as ctx:
            notify.create_endpoint(ctx, shop.shop_id, url=url, resolver=resolver)
        _emit(rt, shop.shop_id)
        counts = deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall, resolver=resolver)
        assert counts == {"claimed": 1, "delivered": 0, "retrying": 1, "failed": 0}
        assert receiver.received == []
        row = _row(rt, shop.shop_id)
        assert row.last_status_code is None and row.last_error == "EgressRefused: loopback"
        assert row.status == "pending"  # retried later: the name may point back outside


def test_S1_the_setting_turned_off_later_stops_deliveries_to_loopback(
    rt: Runtime, shop: Any
) -> None:
    with LocalReceiver() as receiver:
        _allow_loopback(rt)
        with rt.unit() as ctx:
            notify.create_endpoint(ctx, shop.shop_id, url=receiver.url)
        rt.settings.webhooks.allow_loopback = False
        _emit(rt, shop.shop_id)
        deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
        assert receiver.received == []
        assert _row(rt, shop.shop_id).last_error == "EgressRefused: loopback"


def test_S1_delivery_connects_to_the_address_it_checked_with_the_original_host(
    rt: Runtime, shop: Any
) -> None:
    """The name is resolved once per delivery; the connection goes to that checked address
    (a second lookup would say 169.254.169.254) and the request still names the host."""
    _allow_loopback(rt)
    with LocalReceiver() as receiver:
        resolver = _resolver(["127.0.0.1"], ["127.0.0.1"], ["169.254.169.254"])
        with rt.unit() as ctx:
            notify.create_endpoint(
                ctx, shop.shop_id, url=receiver.url_for("Hooks.Shop.test"), resolver=resolver
            )
        _emit(rt, shop.shop_id)
        counts = deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall, resolver=resolver)
        assert counts["delivered"] == 1
        assert resolver.calls == ["hooks.shop.test", "hooks.shop.test"]  # registration, delivery
        headers, _ = receiver.received[0]
        assert headers["Host"] == f"hooks.shop.test:{receiver.port}"


def test_S1_redirects_are_not_followed(rt: Runtime, shop: Any) -> None:
    _allow_loopback(rt)
    with LocalReceiver() as inner:
        moved = {"Location": inner.url}
        with LocalReceiver(status=307, headers=moved) as outer:
            with rt.unit() as ctx:
                notify.create_endpoint(ctx, shop.shop_id, url=outer.url)
            _emit(rt, shop.shop_id)
            counts = deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
    assert counts["retrying"] == 1 and len(outer.received) == 1 and inner.received == []
    row = _row(rt, shop.shop_id)
    assert (row.last_status_code, row.last_error) == (307, "HTTP 307")


def test_S1_the_delivery_log_keeps_status_and_error_class_never_the_body(
    rt: Runtime, shop: Any, client: TestClient
) -> None:
    _allow_loopback(rt)
    secret = b"<h1>Internal</h1> postgres password hunter2 " * 20
    with LocalReceiver(status=500, body=secret) as receiver:
        with rt.unit() as ctx:
            endpoint = notify.create_endpoint(ctx, shop.shop_id, url=receiver.url)
            endpoint_id = endpoint.id
        _emit(rt, shop.shop_id)
        deliver_due(rt.factory, rt.settings.webhooks, wall=rt.wall)
    log = shop.api.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json()["items"]
    assert (log[0]["last_status_code"], log[0]["last_error"]) == (500, "HTTP 500")
    console_login(client, shop.username, shop.password)
    page = client.get(f"/console/settings/webhooks/{endpoint_id}").text
    assert "HTTP 500" in page
    for text in (str(log), page):
        assert "hunter2" not in text and "Internal" not in text


def test_S1_a_receiver_that_never_finishes_answering_is_cut_at_the_hard_deadline() -> None:
    """A receiver dripping its status line a byte every 0.2 s never trips a per-read timeout;
    the attempt still ends at its deadline (what W3's claim relies on)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1000:
                if stop.wait(0.2):
                    return
                conn.sendall(bytes([byte]))

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    started = time.monotonic()
    outcome = egress.post(
        f"http://127.0.0.1:{port}/hook",
        b"{}",
        {"Content-Type": "application/json"},
        allow_loopback=True,
        deadline_seconds=1.0,
    )
    elapsed = time.monotonic() - started
    stop.set()
    listener.close()
    assert outcome == egress.Outcome(None, "Timeout")
    assert 0.9 <= elapsed < 1.6


def test_S1_an_unresolvable_name_or_closed_port_is_an_error_class() -> None:
    def unresolvable(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def post(url: str, **kw: Any) -> egress.Outcome:
        return egress.post(url, b"{}", {}, deadline_seconds=2.0, **kw)

    assert post("https://gone.shop.test/h", allow_loopback=False, resolver=unresolvable) == (
        egress.Outcome(None, "DNSError")
    )
    assert post("http://127.0.0.1:9/h", allow_loopback=True) == egress.Outcome(None, "ConnectError")
    assert post("http://127.0.0.1:9/h", allow_loopback=False) == egress.Outcome(
        None, "EgressRefused: loopback"
    )


# ----- TLS: pinned address, certificate checked for the name --------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj /CN=hooks.shop.test -addext subjectAltName=DNS:hooks.shop.test"
    )
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path]) -> Iterator[LocalReceiver]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*certificate)
    with LocalReceiver(tls=server) as receiver:
        yield receiver


def test_S1_https_goes_to_the_pinned_address_and_checks_the_certificate_for_the_name(
    rt: Runtime, shop: Any, certificate: tuple[Path, Path], tls_receiver: LocalReceiver
) -> None:
    _allow_loopback(rt)
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    resolver = _resolver(["127.0.0.1"])
    with rt.unit() as ctx:
        good = notify.create_endpoint(
            ctx, shop.shop_id, url=tls_receiver.url_for("hooks.shop.test"), resolver=resolver
        )
        # Same address, another name: the certificate does not cover it.
        bad = notify.create_endpoint(
            ctx, shop.shop_id, url=tls_receiver.url_for("other.shop.test"), resolver=resolver
        )
    _emit(rt, shop.shop_id)
    counts = deliver_due(
        rt.factory, rt.settings.webhooks, wall=SystemClock(), resolver=resolver, tls_context=trust
    )
    assert counts["delivered"] == 1 and counts["retrying"] == 1
    with rt.unit() as ctx:
        rows = {d.endpoint_id: d for d, _ in notify.list_deliveries(ctx.session, shop.shop_id)}
    assert rows[good.id].status == "delivered"
    assert (rows[bad.id].last_status_code, rows[bad.id].last_error) == (None, "TLSError")
    assert len(tls_receiver.received) == 1
    assert tls_receiver.received[0][0]["Host"] == f"hooks.shop.test:{tls_receiver.port}"
    assert "hooks.shop.test" in tls_receiver.server_names  # SNI names the host, not the address


# ----- the parser alone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("８.８.８.８", "8.8.8.8"),
    ],
)
def test_S1_address_spellings_are_normalised_before_the_check(host: str, address: str) -> None:
    target = egress.parse_url(f"http://{host}/x")
    assert target.literal == ipaddress.ip_address(address)
    assert target.host == str(ipaddress.ip_address(address))


def test_S1_the_migration_strips_receivers_words_from_logs_written_before(
    rt: Runtime, shop: Any
) -> None:
    """Rows written before S1 held the first 200 bytes of the receiver's reply; migration
    notify_0001 keeps the error class only."""
    import importlib.util

    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import update

    from xiaodian.notify.models import WebhookDelivery

    root = Path(__file__).resolve().parents[2]
    path = root / "migrations" / "versions" / "notify_0001_s1_scrub_delivery_errors.py"
    spec = importlib.util.spec_from_file_location("notify_0001", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with rt.unit() as ctx:
        notify.create_endpoint(ctx, shop.shop_id, url="https://erp.example/h")
    _emit(rt, shop.shop_id, 4)
    old = [
        (500, "HTTP 500: <h1>Internal</h1> db password hunter2"),
        (None, "ConnectError: [Errno 111] Connection refused to 10.0.0.7"),
        (503, "HTTP 503"),
        (None, ""),
    ]
    with rt.unit() as ctx:
        ids = sorted(d.id for d, _ in notify.list_deliveries(ctx.session, shop.shop_id))
        for delivery_id, (code, error) in zip(ids, old, strict=True):
            ctx.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(last_status_code=code, last_error=error)
            )
    with rt.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        migration.upgrade()
    with rt.unit() as ctx:
        rows = {d.id: d.last_error for d, _ in notify.list_deliveries(ctx.session, shop.shop_id)}
    assert [rows[i] for i in ids] == ["HTTP 500", "ConnectError", "HTTP 503", ""]


def test_S1_several_checked_addresses_are_tried_in_turn_and_nothing_else(rt: Runtime) -> None:
    """A name with an IPv6 and an IPv4 answer: the receiver listens on 127.0.0.1 only, so
    ::1 refuses and the next checked address is used — still no lookup of its own."""
    with LocalReceiver() as receiver:
        resolver = _resolver(["::1", "127.0.0.1"], ["169.254.169.254"])
        outcome = egress.post(
            receiver.url_for("hooks.shop.test"),
            b"{}",
            {},
            allow_loopback=True,
            deadline_seconds=3.0,
            resolver=resolver,
        )
    assert outcome == egress.Outcome(200, "") and len(receiver.received) == 1
    assert resolver.calls == ["hooks.shop.test"]

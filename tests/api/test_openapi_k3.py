"""K3 (issue 14): offline, signed, honest OpenAPI.

* /docs and /redoc load every asset from this server (the installed ``fastapi-offline``
  package and our own scripts), carry the CSP, and render in a real Chromium that is refused
  every other origin (offline, as behind a firewall without jsdelivr or Google Fonts).
* The schema declares the signature headers as a security scheme on every signed operation,
  has an example request and response for every operation, and documents errors as
  ``application/problem+json`` (one ``Problem`` schema) with their status codes.
* HEAD answers like GET without a body; a wrong method answers 405 with ``Allow``.
* The docs page's request interceptor signs exactly like ``xiaodian.signing``.
"""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.browser import browser, browser_page, live_server  # noqa: F401
from xiaodian.api.headers import CONTENT_SECURITY_POLICY
from xiaodian.runtime import Runtime
from xiaodian.signing import api_signature, api_string_to_sign

METHODS = ("get", "post", "put", "patch", "delete")
PROBLEM = "application/problem+json"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(str(found[name]))
        self._in_script_without_src = tag == "script" and not found.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script_without_src = False


# operationIds given in the route itself (the 抖店 gateway's one POST route)
NAMED_BY_HAND = {"doudian_call"}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_K3_docs_pages_load_every_asset_from_this_server(client: TestClient, page: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    parser = _Links()
    parser.feed(answer.text)
    assert parser.urls, "the page loads its assets"
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, f"{url} is not served"
    assert parser.inline_scripts == 0, "no inline script (the CSP forbids it)"
    assert "cdn" not in answer.text.lower() and "googleapis" not in answer.text
    policy = answer.headers["content-security-policy"]
    assert policy.startswith(CONTENT_SECURITY_POLICY)
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy


def test_K3_vendor_assets_come_from_the_installed_package(client: TestClient) -> None:
    import fastapi_offline

    from xiaodian.api.docs import VENDOR_DIR

    assert str(VENDOR_DIR).startswith(str(fastapi_offline.__path__[0]))
    served = client.get("/docs-assets/vendor/swagger-ui-bundle.js")
    assert served.content == (VENDOR_DIR / "swagger-ui-bundle.js").read_bytes()
    # Nothing the bundles fetch on their own at start-up points at a CDN either.
    redoc = client.get("/docs-assets/vendor/redoc.standalone.js").text
    assert "fonts.googleapis.com/css" not in redoc


@pytest.mark.browser
@pytest.mark.parametrize(
    ("page", "ready"), [("/docs", ".opblock"), ("/redoc", "[data-section-id]")]
)
def test_K3_chromium_renders_the_docs_offline(
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    page: str,
    ready: str,
) -> None:
    origin = live_server
    elsewhere: list[str] = []
    problems: list[str] = []
    browser_page.route("**/*", lambda r: _offline(r, origin, elsewhere))
    browser_page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" else None,
    )
    browser_page.on("pageerror", lambda e: problems.append(str(e)))
    browser_page.goto(origin + page)
    browser_page.wait_for_selector(ready, timeout=30_000)
    assert browser_page.locator(ready).count() > 3
    assert elsewhere == [], f"{page} tried to reach {elsewhere}"
    # ReDoc's sidebar shows Redocly's logo from their CDN; the CSP blocks it before any
    # request leaves (``elsewhere`` is empty) and ReDoc hides the broken image. Nothing else
    # may be refused: every script, style and font is ours.
    refused = [
        p
        for p in problems
        if ("Content Security Policy" in p or "Refused" in p)
        and "redocly logo" not in p
        and "cdn.redoc.ly/redoc/logo-mini.svg" not in p
    ]
    assert refused == [], refused
    assert [p for p in problems if "Content Security Policy" not in p] == []


def _offline(route: Any, origin: str, elsewhere: list[str]) -> None:
    """Only this server answers: any other origin is noted and refused."""
    url = route.request.url
    if url.startswith(origin + "/") or url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        elsewhere.append(url)
        route.abort()


def test_K3_schema_declares_the_signature_as_a_security_scheme(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    headers = {s["name"] for s in schemes.values() if s.get("in") == "header"}
    assert headers == {"X-App-Key", "X-Timestamp", "X-Nonce", "X-Signature"}
    signed = {"XAppKey": [], "XTimestamp": [], "XNonce": [], "XSignature": []}
    ops = {(p, m): op for p, m, op in _operations(schema)}
    assert ops[("/api/v1/orders", "get")]["security"] == [signed]
    assert signed in ops[("/api/v1/coupons/campaigns", "post")]["security"]
    assert ops[("/buyer/v1/orders", "post")]["security"] == [{"BuyerToken": []}]
    # Every /api/v1 operation that checks the signature says so.
    for (path, _method), op in ops.items():
        if path.startswith("/api/v1/"):
            assert signed in op.get("security", []), path


def test_K3_every_operation_has_an_example_request_and_response(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = _operations(schema)
    assert len(operations) > 100
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        for param in op.get("parameters", []):
            if param.get("required"):  # optional filters stay blank for "Try it out"
                assert "example" in param, f"{where}: parameter {param['name']} has no example"
        for media in op.get("requestBody", {}).get("content", {}).values():
            assert "example" in media, f"{where}: request body has no example"
        ok = [r for s, r in op["responses"].items() if s.startswith("2")]
        assert ok, f"{where}: no success response"
        for response in ok:
            assert response.get("content"), where
            for media in response["content"].values():
                assert "example" in media, f"{where}: response has no example"


def test_K3_examples_fit_their_request_schemas(client: TestClient) -> None:
    """The body examples carry every required field of their schema."""
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for path, method, op in _operations(schema):
        media = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not media or "$ref" not in media.get("schema", {}):
            continue
        target = components[media["schema"]["$ref"].rsplit("/", 1)[-1]]
        missing = set(target.get("required", [])) - set(media["example"])
        assert not missing, f"{method.upper()} {path}: example lacks {missing}"


def test_K3_errors_are_documented_as_problem_json(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert "Problem" in components
    assert "HTTPValidationError" not in components and "ValidationError" not in components
    assert "detail" not in components["Problem"]["properties"]
    seen: set[str] = set()
    for path, method, op in _operations(schema):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                seen.add(status)
                content = response["content"]
                assert list(content) == [PROBLEM], f"{method} {path} {status}"
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
                assert content[PROBLEM]["example"]["status"] == int(status)
    assert {"401", "403", "404", "409", "413", "422", "429"} <= seen
    ops = {(p, m): op for p, m, op in _operations(schema)}
    signed_get = ops[("/api/v1/orders/{order_id}", "get")]["responses"]
    assert {"401", "403", "404", "422"} <= set(signed_get)
    assert "429" in ops[("/api/v1/orders/exports", "post")]["responses"]


def test_K3_a_real_422_matches_the_documented_problem(client: TestClient, shop: Any) -> None:
    answer = shop.api.get("/api/v1/orders?limit=0")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith(PROBLEM)
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Problem"]
    body = answer.json()
    assert set(schema["required"]) <= set(body)
    assert set(body) <= set(schema["properties"])
    assert "detail" not in body


def test_K3_head_answers_like_get_without_a_body(client: TestClient, shop: Any) -> None:
    got = shop.api.get("/api/v1/orders")
    head = shop.api.request("HEAD", "/api/v1/orders")  # signed with HEAD, as sent
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/docs").status_code == 200
    assert client.head("/openapi.json").status_code == 200
    # Unsigned HEAD is refused like unsigned GET.
    assert client.head("/api/v1/orders").status_code == 401


def test_K3_wrong_method_answers_405_with_allow(client: TestClient, shop: Any) -> None:
    answer = shop.api.request("DELETE", "/api/v1/orders")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith(PROBLEM)
    allowed = {m.strip() for m in answer.headers["allow"].split(",")}
    assert {"GET", "HEAD"} <= allowed and "DELETE" not in allowed
    assert client.post("/docs").status_code == 405
    # HEAD operations are served, not listed twice in the schema.
    schema = client.get("/openapi.json").json()
    assert not any("head" in item for item in schema["paths"].values())
    ids = [op["operationId"] for _p, _m, op in _operations(schema)]
    assert len(ids) == len(set(ids)), "operation ids are unique"


def test_K3_operation_ids_name_the_method_they_are_listed_under(client: TestClient) -> None:
    """SDK generators name methods after operationIds: a GET operation must not be called
    ``…_head`` because the route also answers HEAD (FastAPI took the first of a set)."""
    schema = client.get("/openapi.json").json()
    wrong = [
        (path, method, op["operationId"])
        for path, method, op in _operations(schema)
        if not op["operationId"].endswith("_" + method) and op["operationId"] not in NAMED_BY_HAND
    ]
    assert not wrong, wrong


@pytest.mark.browser
def test_K3_docs_interceptor_signs_like_the_server(
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    rt: Runtime,
    shop: Any,
) -> None:
    """Try it out in real Chromium: the typed key and secret sign a request the server
    accepts (the page's SHA-256/HMAC match xiaodian.signing byte for byte)."""
    page = browser_page
    page.goto(live_server + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    for body in (b"", '{"title": "保温杯"}'.encode(), b"x" * 1000):
        text = api_string_to_sign("POST", "/api/v1/订单?a=1", "1767225600", "abcdefgh12", body)
        assert page.evaluate("t => window.xiaodianSign.hmacHex('密钥s3cret', t)", text) == (
            api_signature(
                "密钥s3cret", "POST", "/api/v1/订单?a=1", "1767225600", "abcdefgh12", body
            )
        )
        assert (
            page.evaluate("t => window.xiaodianSign.sha256Hex(t)", body.decode())
            == hashlib.sha256(body).hexdigest()
        )
    page.fill("#xd-app-key", shop.app_key)
    page.fill("#xd-app-secret", shop.secret)
    status = page.evaluate(
        """async () => {
            const request = {url: '/api/v1/orders?limit=2', method: 'GET', headers: {}};
            const signed = window.ui.getConfigs().requestInterceptor(request);
            const answer = await fetch(signed.url, {headers: signed.headers});
            return answer.status;
        }"""
    )
    assert status == 200
    body = json.dumps({"title": "保温杯", "price_fen": 1990, "stock": 3})
    status = page.evaluate(
        """async (body) => {
            const request = {url: '/api/v1/products', method: 'POST', body: body,
                             headers: {'Content-Type': 'application/json'}};
            const signed = window.ui.getConfigs().requestInterceptor(request);
            const answer = await fetch(signed.url, {method: 'POST', body: body,
                                                     headers: signed.headers});
            return answer.status;
        }""",
        body,
    )
    assert status == 201
    # Without a key the interceptor leaves the request alone: the server says 401.
    page.fill("#xd-app-secret", "")
    status = page.evaluate(
        """async () => {
            const signed = window.ui.getConfigs().requestInterceptor(
                {url: '/api/v1/orders', method: 'GET', headers: {}});
            return (await fetch(signed.url, {headers: signed.headers})).status;
        }"""
    )
    assert status == 401
    assert re.fullmatch(r"[0-9a-f]{64}", page.evaluate("window.xiaodianSign.sha256Hex('')"))


@pytest.mark.browser
def test_K3_try_it_out_in_swagger_ui_is_signed(
    live_server: str,  # noqa: F811
    browser_page: Any,  # noqa: F811
    shop: Any,
) -> None:
    """The whole flow a developer clicks: key and secret in the bar, Try it out, Execute —
    the server accepts the signed request (200), which it refuses unsigned (401)."""
    page = browser_page
    page.goto(live_server + "/docs#/")
    page.wait_for_selector(".opblock", timeout=30_000)

    def execute() -> str:
        block = page.locator(".opblock-get:has(.opblock-summary-path[data-path='/api/v1/orders'])")
        if block.locator("button.try-out__btn").count() == 0:
            block.locator(".opblock-summary").first.click()
        try_out = block.locator("button.try-out__btn")
        if "cancel" not in (try_out.get_attribute("class") or ""):
            try_out.click()
        block.locator("button.execute").click()
        status = block.locator(".live-responses-table tr.response .response-col_status").first
        status.wait_for(timeout=15_000)
        text: str = status.inner_text().strip()
        block.locator("button.btn-clear").click()
        return text

    assert execute().startswith("401")
    page.fill("#xd-app-key", shop.app_key)
    page.fill("#xd-app-secret", shop.secret)
    assert execute().startswith("200")


def test_K3_sim_routes_are_documented_with_the_security_their_include_gives_them(
    rt: Runtime,
) -> None:
    """The /sim routes get ``simulation_control`` from ``include_router(dependencies=…)``
    (S3), not from their own signature; the schema must read the route as served, so every
    /sim operation says it is signed (or a console session) and may answer 401/403."""
    from xiaodian.api.app import create_app
    from xiaodian.clock import SimulatedClock

    settings = rt.settings.model_copy(update={"clock_mode": "simulated"})
    simulated = Runtime(
        settings=settings, engine=rt.engine, factory=rt.factory, clock=SimulatedClock(rt.engine)
    )
    with TestClient(create_app(simulated)) as client:
        schema = client.get("/openapi.json").json()
    sim = [(p, m, op) for p, m, op in _operations(schema) if p.startswith("/sim/")]
    assert sim, "the simulated app documents its /sim routes"
    for path, method, op in sim:
        assert op.get("security"), f"{method.upper()} {path} is documented without security"
        assert {"401", "403"} <= set(op["responses"]), (path, method, op["responses"])

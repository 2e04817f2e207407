"""Offline, signed, honest interactive docs (issue 14, K3).

* ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) load their scripts and styles from the
  installed ``fastapi-offline`` package (served under ``/docs-assets/vendor/``), never from a
  CDN, and start from our own small scripts (``/docs-assets/own/``) — no inline script, so the
  pages carry a Content-Security-Policy like every other page (see ``api/headers.py``).
* ``/docs`` signs "Try it out": the page asks for an app key and secret (kept in the page,
  never sent) and a request interceptor adds X-App-Key, X-Timestamp, X-Nonce and X-Signature
  exactly as ``xiaodian.signing`` does.
* ``/openapi.json`` declares the signature headers as a security scheme on every signed
  operation, has an example request and response for every operation, and documents errors
  as ``application/problem+json`` (one shared ``Problem`` schema) with their status codes
  instead of FastAPI's ``{"detail": …}``. HEAD operations are not listed: every GET answers
  HEAD (see ``api.app.answer_head``).
"""

from __future__ import annotations

import copy
import re
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles

PROBLEM = "application/problem+json"
ASSETS = "/docs-assets"
VENDOR_DIR = Path(str(files("fastapi_offline") / "static"))
OWN_DIR = Path(__file__).parent / "static"

SIGNED: dict[str, list[str]] = {"XAppKey": [], "XTimestamp": [], "XNonce": [], "XSignature": []}
SECURITY_SCHEMES: dict[str, Any] = {
    "XAppKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-App-Key",
        "description": "The app key (开放平台应用 key). Signed requests carry all four headers.",
    },
    "XTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Timestamp",
        "description": "Unix seconds; within the signature window of the server's clock.",
    },
    "XNonce": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Nonce",
        "description": "8–64 characters of [A-Za-z0-9_-], never reused.",
    },
    "XSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Signature",
        "description": (
            "hex(HMAC-SHA256(app_secret, METHOD \\n PATH_WITH_QUERY \\n X-Timestamp \\n "
            "X-Nonce \\n hex(SHA256(body)))). On /docs, type the key and secret at the top of "
            "the page and every 'Try it out' is signed for you."
        ),
    },
    "BuyerToken": {"type": "http", "scheme": "bearer", "description": "A buyer's token."},
    "StaffToken": {"type": "http", "scheme": "bearer", "description": "A staff token (st_…)."},
    "ConsoleSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "xiaodian_session",
        "description": "A logged-in console session (simulation controls only).",
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": (
        "RFC 9457 problem details. `code` is stable and documented; the messages are in "
        "Chinese and English."
    ),
    "required": ["type", "title", "status", "code", "message_zh", "message_en"],
    "properties": {
        "type": {"type": "string", "example": "urn:xiaodian:error:not_found"},
        "title": {"type": "string", "example": "Order not found"},
        "status": {"type": "integer", "example": 404},
        "code": {"type": "string", "example": "not_found"},
        "message_zh": {"type": "string", "example": "订单不存在"},
        "message_en": {"type": "string", "example": "Order not found"},
        "field": {"type": "string", "description": "the field at fault, when one is"},
        "rule": {"type": "string", "description": "the rule id that decided, when one did"},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ProblemField"},
            "description": "one entry per invalid field (422)",
        },
    },
}
PROBLEM_FIELD_SCHEMA: dict[str, Any] = {
    "title": "ProblemField",
    "type": "object",
    "required": ["field", "message_en", "message_zh"],
    "properties": {
        "field": {"type": "string", "example": "query.limit"},
        "code": {
            "type": "string",
            "example": "less_than_equal",
            "description": "the check that failed, when request parsing refused the field; a"
            " rule checked by the service (e.g. a product title's length) names the field only",
        },
        "message_en": {"type": "string", "example": "Input should be less than or equal to 1000"},
        "message_zh": {"type": "string", "example": "数值太大"},
    },
}

# Status → (description, example code, Chinese, English).
PROBLEMS: dict[int, tuple[str, str, str, str]] = {
    401: ("Not authenticated", "bad_signature", "签名错误", "Bad signature"),
    403: ("Not allowed", "scope_missing", "应用没有此权限", "The app lacks this scope"),
    404: ("Not found", "not_found", "记录不存在", "Not found"),
    409: ("Conflict with the current state", "conflict", "当前状态不允许此操作", "Not allowed now"),
    413: ("Request body too large", "body_too_large", "请求体太大", "Request body too large"),
    422: (
        "Invalid request",
        "invalid_request",
        "请求参数有误：query.limit",
        "Invalid request: query.limit",
    ),
    429: ("Too many requests", "too_many_requests", "请求太频繁", "Too many requests"),
}
# Operations that can answer 429 (a per-shop cap on running exports, O2).
RATE_LIMITED = ("/api/v1/orders/exports",)


def operation_id(route: APIRoute) -> str:
    """K3: a route's operationId, the name SDK generators give its method: ``<name><path>_<method>``
    as FastAPI builds it, but the method is GET whenever the route answers GET. FastAPI takes
    the first of the route's method *set*, and every GET route also answers HEAD
    (``api.app.answer_head``), so the ids came out as ``…_head``."""
    methods = route.methods or {"GET"}
    method = "GET" if "GET" in methods else min(methods)
    return re.sub(r"\W", "_", f"{route.name}{route.path_format}") + "_" + method.lower()


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets; make /openapi.json honest (see module)."""
    app.mount(f"{ASSETS}/vendor", StaticFiles(directory=VENDOR_DIR), name="docs-vendor")
    app.mount(f"{ASSETS}/own", StaticFiles(directory=OWN_DIR), name="docs-own")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_page(app.title, "Swagger UI", SWAGGER_BODY))

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return HTMLResponse(_page(app.title, "ReDoc", REDOC_BODY))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _page(title: str, kind: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} – {kind}</title>"
        f'<link rel="icon" type="image/png" href="{ASSETS}/vendor/favicon.png">'
        f"{body}</html>\n"
    )


SWAGGER_BODY = f"""<link rel="stylesheet" href="{ASSETS}/vendor/swagger-ui.css">
<link rel="stylesheet" href="{ASSETS}/own/docs.css"></head><body>
<form id="xd-signing" class="xd-signing" autocomplete="off">
<strong>签名 Signing</strong>
<label>App key <input id="xd-app-key" name="app_key" size="24"></label>
<label>App secret <input id="xd-app-secret" name="app_secret" type="password" size="40"></label>
<span id="xd-signing-state">未填写：请求不签名 · not signing</span>
</form>
<div id="swagger-ui"></div>
<script src="{ASSETS}/vendor/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/own/docs.js"></script>
</body>"""

REDOC_BODY = f"""</head><body>
<div id="redoc" data-spec-url="/openapi.json"></div>
<script src="{ASSETS}/vendor/redoc.standalone.js"></script>
<script src="{ASSETS}/own/redoc-init.js"></script>
</body>"""


# ----- the schema --------------------------------------------------------------------------


def build_openapi(app: FastAPI) -> dict[str, Any]:
    with warnings.catch_warnings():
        # Every GET route also serves HEAD (api.app.answer_head): FastAPI lists a "head"
        # operation with the GET's operation id, dropped below.
        warnings.filterwarnings("ignore", message="Duplicate Operation ID")
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    schemas["ProblemField"] = copy.deepcopy(PROBLEM_FIELD_SCHEMA)
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    auth = {
        (route.path, m.lower()): _auth_of(route)
        for route in _api_routes(app)
        for m in route.methods or ()
    }
    for path, item in schema.get("paths", {}).items():
        item.pop("head", None)
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            kind = auth.get((path, method), "")
            _secure(op, kind)
            _problems(op, path, method, kind)
            _examples(op, schemas)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema


def _api_routes(app: FastAPI) -> list[Any]:
    """Every documented API route as the app serves it: FastAPI's route contexts, so a route
    of an included router counts with the include's dependencies (the /sim routes'
    ``simulation_control``), in the flat table (issue 16) and in the nested reference build
    alike."""
    return [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.include_in_schema
    ]


def _calls(dependant: Any) -> set[str]:
    found: set[str] = set()
    call = getattr(dependant, "call", None)
    if call is not None:
        found.add(getattr(call, "__name__", ""))
    for sub in getattr(dependant, "dependencies", []):
        found |= _calls(sub)
    return found


def _auth_of(route: Any) -> str:
    """How an operation authenticates: signed, sim (signed or console), buyer, staff or ''."""
    calls = _calls(route.dependant)
    if "simulation_control" in calls:
        return "sim"
    if "_signed_app" in calls:
        return "signed"
    if "_buyer" in calls:
        return "buyer"
    if "_staff" in calls:
        return "staff"
    return ""


def _secure(op: dict[str, Any], kind: str) -> None:
    requirement = {
        "signed": [SIGNED],
        "sim": [SIGNED, {"ConsoleSession": []}],
        "buyer": [{"BuyerToken": []}],
        "staff": [{"StaffToken": []}],
    }.get(kind)
    if requirement is not None:
        op["security"] = copy.deepcopy(requirement)


def _problems(op: dict[str, Any], path: str, method: str, kind: str) -> None:
    statuses: set[int] = set()
    if kind:
        statuses |= {401, 403} if kind in ("signed", "sim") else {401}
    if "{" in path:
        statuses.add(404)
    if method in ("post", "put", "patch", "delete"):
        statuses.add(409)
    if "requestBody" in op:
        statuses.add(413)
    if op.get("parameters") or "requestBody" in op:
        statuses.add(422)
    if path in RATE_LIMITED and method == "post":
        statuses.add(429)
    responses = op.setdefault("responses", {})
    responses.pop("422", None)
    for status in sorted(statuses):
        description, code, zh, en = PROBLEMS[status]
        example: dict[str, Any] = {
            "type": f"urn:xiaodian:error:{code}",
            "title": en,
            "status": status,
            "code": code,
            "message_zh": zh,
            "message_en": en,
        }
        if status == 422:
            example["errors"] = [PROBLEM_FIELD_SCHEMA_EXAMPLE]
        responses[str(status)] = {
            "description": description,
            "content": {
                PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}
            },
        }


PROBLEM_FIELD_SCHEMA_EXAMPLE = {
    "field": "query.limit",
    "code": "less_than_equal",
    "message_en": "Input should be less than or equal to 1000",
    "message_zh": "数值太大",
}


def _examples(op: dict[str, Any], schemas: dict[str, Any]) -> None:
    for param in op.get("parameters", []):
        # Optional filters stay blank: Swagger UI pre-fills "Try it out" with examples, and
        # a filled-in filter would narrow (or contradict) what the developer asked for.
        if "example" not in param and param.get("required"):
            param["example"] = example_for(param.get("schema", {}), schemas, param.get("name", ""))
    body = op.get("requestBody")
    if body:
        for media in body.get("content", {}).values():
            if "example" not in media:
                media["example"] = example_for(media.get("schema", {}), schemas)
    for status, response in op.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        content = response.setdefault("content", {})
        if not content:  # 204 and friends: no body, documented as such
            response.setdefault("description", "No content")
            content["text/plain"] = {"schema": {"type": "string"}, "example": ""}
        for media_type, media in content.items():
            if "example" in media:
                continue
            schema = media.get("schema")
            if media_type.startswith("image/"):
                media.setdefault("schema", {"type": "string", "format": "binary"})
                media["example"] = "(PNG image bytes)"
            elif schema:
                media["example"] = example_for(schema, schemas)
            else:
                media["example"] = None if "json" in media_type else ""


_TIME = "2026-11-02T10:00:00+08:00"


def example_for(
    schema: dict[str, Any], schemas: dict[str, Any], name: str = "", depth: int = 0
) -> Any:
    """A plausible value for a JSON schema: its own example, default or first enum value, or
    one built from its type and constraints (ids 1, money in fen, Asia/Shanghai times)."""
    if depth > 8:
        return None
    ref = schema.get("$ref")
    if ref:
        return example_for(schemas.get(ref.rsplit("/", 1)[-1], {}), schemas, name, depth + 1)
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example_for(options[0], schemas, name, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_for(part, schemas, name, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
            else:
                return value
        return merged
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            key: example_for(sub, schemas, key, depth + 1)
            for key, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [example_for(schema.get("items", {}), schemas, name, depth + 1)]
    if kind == "integer":
        return _integer(schema, name)
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "string":
        return _string(schema, name)
    return None


def _integer(schema: dict[str, Any], name: str) -> int:
    value = 1990 if name.endswith("_fen") else 1
    if "minimum" in schema:
        value = max(value, int(schema["minimum"]))
    if "exclusiveMinimum" in schema:
        value = max(value, int(schema["exclusiveMinimum"]) + 1)
    if "maximum" in schema:
        value = min(value, int(schema["maximum"]))
    return value


_NAMED = {
    "address": "上海市浦东新区世纪大道 100 号",
    "carrier": "SF",
    "tracking_no": "SF1234567890",
    "note": "请尽快处理",
    "reason": "不想要了",
}
_PATTERN_CANDIDATES = ("13800000001", "abcdefgh12", "SF1234567890", "1", "a")


def _string(schema: dict[str, Any], name: str) -> str:
    fmt = schema.get("format", "")
    if fmt == "date-time":
        return _TIME
    if fmt == "date":
        return _TIME[:10]
    if fmt == "binary":
        return "(file bytes)"
    if fmt in ("uri", "url") or name.endswith("url"):
        return "https://erp.example.com/hook"
    if "phone" in name:
        return "13800000001"
    pattern = schema.get("pattern")
    if pattern:
        for candidate in _PATTERN_CANDIDATES:
            if re.search(pattern, candidate):
                return candidate
    value = _NAMED.get(name, "示例" if name else "string")
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    value = value.ljust(low, "x")
    return value[: int(high)] if high is not None else value

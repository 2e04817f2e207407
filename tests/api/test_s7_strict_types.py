"""S7 strict input types (issue 11): integers, money and durations are real JSON integers, and a
NUL character in text has its own error. The walk over /openapi.json makes a new, loose
``int`` in any request body fail here."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from xiaodian.accounts import service as accounts
from xiaodian.ledger import service as ledger
from xiaodian.ledger.models import Account
from xiaodian.redpackets import service as redpackets
from xiaodian.runtime import Runtime

DAY = 86_400
LOOSE = [True, False, "1", 1.0, 1e3]


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included routers
            yield from _routes(route.original_router.routes)
        else:
            yield route


def _body_models(app: FastAPI) -> dict[str, type[BaseModel]]:
    """Every pydantic model that a route takes as (part of) its body, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def walk(tp: Any) -> None:
        for arg in typing.get_args(tp):
            walk(arg)
        if inspect.isclass(tp) and issubclass(tp, BaseModel) and tp.__name__ not in found:
            found[tp.__name__] = tp
            for field in tp.model_fields.values():
                walk(field.annotation)

    def dependants(dependant: Any) -> Iterator[Any]:
        yield dependant
        for sub in dependant.dependencies:
            yield from dependants(sub)

    for route in _routes(app.router.routes):
        if isinstance(route, APIRoute):
            for dependant in dependants(route.dependant):
                for param in dependant.body_params:
                    walk(param.field_info.annotation)
    return found


def _integer_paths(spec: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...]) -> Any:
    """(path, …) of every integer in a JSON schema; list items get index 0."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        yield from _integer_paths(spec, spec["components"]["schemas"][name], path)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _integer_paths(spec, option, path)
    if schema.get("type") == "integer":
        yield path
    if schema.get("type") == "array" and "items" in schema:
        yield from _integer_paths(spec, schema["items"], (*path, 0))
    for name, prop in schema.get("properties", {}).items():
        yield from _integer_paths(spec, prop, (*path, name))


def _body_with(path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        return [_body_with(rest, value)]
    return {head: _body_with(rest, value)}


def test_S7_every_integer_of_every_request_body_refuses_true_and_strings(
    client: TestClient,
) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    spec = client.get("/openapi.json").json()
    models = _body_models(app)
    checked: list[str] = []
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if not schema or "$ref" not in schema:
                continue
            name = schema["$ref"].rsplit("/", 1)[-1]
            assert name in models, f"request schema {name} has no model among the routes"
            model = models[name]
            for where in _integer_paths(spec, schema, ()):
                for loose in LOOSE:
                    with pytest.raises(ValidationError) as info:
                        model.model_validate(_body_with(where, loose))
                    at = [e for e in info.value.errors() if tuple(e["loc"])[: len(where)] == where]
                    assert any(e["type"] == "int_type" for e in at), (
                        f"{name}.{where} accepted {loose!r} as an integer"
                    )
                checked.append(f"{name}.{'.'.join(map(str, where))}")
    # The walk really covered the money, id and duration fields of the API.
    for expected in (
        "TopupIn.amount_fen",
        "ExtendIn.extension_seconds",
        "BulkExtendIn.extension_seconds",
        "BulkExtendIn.ids.0",
        "IssueIn.amount_fen",
        "PlaceOrderIn.items.0.qty",
        "ApplyIn.amount_fen",
        "ClaimIn.campaign_id",
        "ProductIn.price_fen",
    ):
        assert expected in checked, expected
    assert len(checked) >= 40


def test_S7_topup_amount_true_is_refused_and_nothing_is_credited(rt: Runtime, shop: Any) -> None:
    for loose in (True, "100", 1e3, 1.0):
        answer = shop.api.post(
            "/api/v1/funds/balance/topup", {"amount_fen": loose, "idempotency_key": f"k{loose}"}
        )
        assert answer.status_code == 422, (loose, answer.text)
        problem = answer.json()
        assert problem["code"] == "invalid_request"
        assert [e["field"] for e in problem["errors"]] == ["amount_fen"]
        assert "应为整数" in problem["errors"][0]["message_zh"]
    assert shop.api.get("/api/v1/funds").json()["balance_fen"] == 0
    ok = shop.api.post("/api/v1/funds/balance/topup", {"amount_fen": 100, "idempotency_key": "k"})
    assert ok.status_code == 200, ok.text
    assert shop.api.get("/api/v1/funds").json()["balance_fen"] == 100


def test_S7_red_packet_extension_seconds_true_does_not_spend_the_extension(
    rt: Runtime, shop: Any
) -> None:
    with rt.unit() as ctx:
        ledger.topup(ctx, shop.shop_id, Account.BALANCE, 10_00, "fund")
        accounts.create_buyer(ctx, douyin_id="dy_s7", nickname="小七", phone="13812345678")
    issued = shop.api.post(
        "/api/v1/redpackets", {"buyer_douyin_ids": ["dy_s7"], "amount_fen": 5_00}
    ).json()
    packet_id = issued["rows"][0]["redpacket_id"]
    rt.clock.advance(3 * DAY)  # type: ignore[attr-defined]
    for loose in (True, "3600", 3.6e3):
        single = shop.api.post(
            f"/api/v1/redpackets/{packet_id}/extend", {"extension_seconds": loose}
        )
        assert single.status_code == 422, (loose, single.text)
        assert single.json()["errors"][0]["field"] == "extension_seconds"
        bulk = shop.api.post(
            "/api/v1/redpackets/extend", {"ids": [packet_id], "extension_seconds": loose}
        )
        assert bulk.status_code == 422, (loose, bulk.text)
    with rt.unit() as ctx:
        packet = redpackets.get_packet(ctx.session, shop.shop_id, packet_id)
        assert packet.extension_count == 0
    done = shop.api.post(f"/api/v1/redpackets/{packet_id}/extend", {"extension_seconds": DAY})
    assert done.status_code == 200 and done.json()["extension_count"] == 1


def test_S7_nul_character_in_text_has_its_own_error(client: TestClient) -> None:
    answer = client.post("/buyer/v1/register", json={"douyin_id": "dy\x00x", "nickname": "小七"})
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "nul_character"
    assert "空字符" in problem["message_zh"] and "NUL" in problem["message_en"]
    assert problem["errors"][0]["field"] == "douyin_id"
    fine = client.post("/buyer/v1/register", json={"douyin_id": "dy_s7_ok", "nickname": "小七"})
    assert fine.status_code == 201


def test_S7_nul_character_in_a_console_form_is_not_out_of_range(
    client: TestClient, shop: Any, pg_only: None
) -> None:
    """PostgreSQL cannot store U+0000: a console form field with one is told so, not "number
    out of range" (the driver's refusal is recognised)."""
    from tests.web.conftest import console_login, page_token

    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/live")
    answer = client.post(
        "/console/live",
        data={
            "csrf_token": token,
            "title": "周一\x00专场",
            "start": "2026-11-02T11:00",
            "end": "2026-11-02T13:00",
        },
    )
    assert answer.status_code == 422
    assert "空字符" in answer.text and "超出允许范围" not in answer.text

"""K5 (issue 14): ``config`` and ``call`` read the settings without pydantic — and read them
exactly as ``Settings`` does, or not at all.

``xiaodian.config_light`` keeps a catalogue derived from ``Settings`` (every variable's
default and meaning as ``describe`` prints them, and its type, bounds and validators) and
reads the environment from it; whatever it is not sure of, it leaves to ``Settings``. These
tests hold it equal to ``Settings`` over many environments (real pydantic-settings reading the
real process environment), and hold the CLI's plain conversion of Typer parameters equal to
Typer's own pydantic adapter. Nothing here measures time (bench/cli_startup.py does).
"""

from __future__ import annotations

from typing import Any

import pytest

from xiaodian import config_light
from xiaodian.config import Settings, describe

# Environments the light reader must read as Settings does (it must not give up on them).
PLAIN = [
    {},
    {"XIAODIAN_PORT": "9000", "XIAODIAN_HOST": "0.0.0.0"},
    {"xiaodian_orders__ship_within_hours": "72", "XIAODIAN_TICK_SECONDS": "2"},
    {"XIAODIAN_TICK_SECONDS": "0.25", "XIAODIAN_API__ADMISSION_WAIT_SECONDS": "3"},
    {"XIAODIAN_API__ASYNC_READ_COMMITS": "0", "XIAODIAN_WEBHOOKS__ALLOW_LOOPBACK": "true"},
    {"XIAODIAN_CONSOLE__COOKIE_SECURE": "1", "XIAODIAN_SECRET_KEY": "s3cret"},
    {"XIAODIAN_SECRET_KEY": "", "XIAODIAN_PUBLIC_URL": "https://shop.example.com"},
    {"XIAODIAN_CLOCK_MODE": "simulated", "XIAODIAN_DATABASE_URL": "postgresql://x/y"},
    {"XIAODIAN_REDPACKETS__MAX_EXTENSIONS": "2", "XIAODIAN_DASHBOARD__CHART_DAYS": "90"},
    {"XIAODIAN_WORKER__MIN_BACKOFF_SECONDS": "1.0"}
    if False
    else {"XIAODIAN_LAIKE__CLIENT_TOKEN_TTL_SECONDS": "60"},
    {"XIAODIAN_APP_KEY": "ak", "XIAODIAN_APP_SECRET": "s", "XIAODIAN_TEST_DATABASE_URL": "x"},
    {"XIAODIAN_TIMEZONE": "Mars/Olympus"},  # a string to Settings too (checked where used)
]
# Environments it must leave to Settings (a value it cannot judge, or a validator's).
UNSURE = [
    {"XIAODIAN_CLOCK_MODE": "bogus"},
    {"XIAODIAN_PORT": "80a"},
    {"XIAODIAN_PORT": " 8000"},
    {"XIAODIAN_PORT": "8_000"},
    {"XIAODIAN_PORT": "8000.0"},
    {"XIAODIAN_TICK_SECONDS": "1e3"},
    {"XIAODIAN_API__ASYNC_READ_COMMITS": "yes"},
    {"XIAODIAN_LAIKE__CLIENT_TOKEN_TTL_SECONDS": "59"},  # ge=60
    {"XIAODIAN_DASHBOARD__CHART_DAYS": "91"},  # le=90
    {"XIAODIAN_COUPONS__OCR_TIMEOUT_SECONDS": "0"},  # gt=0
    {"XIAODIAN_WORKER__MIN_BACKOFF_SECONDS": "2"},  # Settings._coherent reads it
    {"XIAODIAN_SMS__TIMEOUT_SECONDS": "6"},  # SmsSettings' validator reads the whole group
    {"XIAODIAN_DASHBOARD__ORDER_PAGE_SIZES": "[10, 20]"},
    {"XIAODIAN_SMS__ALIYUN_ACCESS_KEY_SECRET": "k"},
    {"XIAODIAN_ORDERS": '{"ship_within_hours": 72}'},
    {"XIAODIAN_ORDERS__NO_SUCH": "1"},
    {"XIAODIAN_PORT": "9000", "xiaodian_port": "9001"},
    {"XIAODIAN_CONSOLE__COOKIE_SECURE": ""},
]


@pytest.fixture
def catalogue() -> config_light.Catalogue:
    return config_light.build()


def _settings_rows(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:
    """What Settings reads from exactly this environment (or the error it raises)."""
    import os

    for key in list(os.environ):
        if key.lower().startswith("xiaodian_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        settings = Settings()
    except Exception as exc:  # the error the CLI shows (K6)
        return exc
    return [(v, str(x), bool(x), m) for v, x, m in describe(settings)]


def test_K5_the_catalogue_is_what_describe_says_of_the_defaults(
    catalogue: config_light.Catalogue,
) -> None:
    rows = config_light.read(catalogue, {})
    assert rows is not None
    assert [tuple(row) for row in rows] == [
        (v, str(x), bool(x), m) for v, x, m in describe(Settings.model_construct())
    ]
    kinds = {row["variable"]: row["kind"] for row in catalogue.rows}
    assert kinds["XIAODIAN_PORT"] == "int" and kinds["XIAODIAN_CLOCK_MODE"] == "choice"
    assert kinds["XIAODIAN_DASHBOARD__ORDER_PAGE_SIZES"] == "other"
    # The validators' reads: Settings._coherent two fields, SmsSettings' the whole group.
    assert set(catalogue.watched) == {
        "XIAODIAN_WORKER__MIN_BACKOFF_SECONDS",
        "XIAODIAN_WORKER__MAX_BACKOFF_SECONDS",
        "XIAODIAN_SMS__",
    }


@pytest.mark.parametrize("env", PLAIN, ids=lambda env: ",".join(env) or "defaults")
def test_K5_the_light_reader_reads_plain_environments_as_settings_does(
    catalogue: config_light.Catalogue, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    expected = _settings_rows(monkeypatch, env)
    assert not isinstance(expected, Exception), expected
    rows = config_light.read(catalogue, env)
    assert rows is not None, env  # the fast path holds for these
    assert [tuple(row) for row in rows] == expected


@pytest.mark.parametrize("env", UNSURE, ids=lambda env: ",".join(env))
def test_K5_the_light_reader_leaves_everything_else_to_settings(
    catalogue: config_light.Catalogue, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    _settings_rows(monkeypatch, env)  # Settings answers (a value or an error): not our part
    assert config_light.read(catalogue, env) is None


def test_K5_the_catalogue_is_kept_per_config_source_and_read_back(
    catalogue: config_light.Catalogue,
) -> None:
    stored = config_light.store()
    path = config_light.cache_file()
    assert path is not None and path.is_file()
    assert stored == catalogue and config_light.load() == catalogue
    assert path.name.startswith("settings.") and path.parent.name == "__pycache__"
    assert [p.name for p in path.parent.glob("settings.*.json")] == [path.name]


def test_K5_a_catalogue_that_cannot_know_the_names_refuses_every_environment(
    catalogue: config_light.Catalogue,
) -> None:
    refusing = catalogue._replace(watched=["*"])
    assert config_light.read(refusing, {"XIAODIAN_PORT": "9000"}) is None


# ----- Typer's parameters converted without pydantic ------------------------------------------

VALUES: list[Any] = ["", "x", "0", "1", "-3", "007", "12", " 12", "1_0", "99999", "true", "False"]
VALUES += [True, False, 5, None]


@pytest.mark.parametrize(
    "annotation, bounds",
    [(str, (None, None)), (bool, (None, None)), (int, (None, None)), (int, (1, 65535))],
    ids=["str", "bool", "int", "int-bounded"],
)
def test_K5_plain_parameter_values_convert_as_typers_adapter_does(
    annotation: type, bounds: tuple[int | None, int | None]
) -> None:
    from typer._coercion import build_runtime_param, resolve_type_descriptor
    from typer.models import OptionInfo

    from xiaodian.cli import _UNSURE, _plain_value

    info = OptionInfo(min=bounds[0], max=bounds[1])
    adapter: Any = build_runtime_param(resolve_type_descriptor(annotation, info))
    converted = 0
    for value in VALUES:
        if value is None:
            continue  # Typer never converts None (RuntimeParam.coerce answers it)
        plain = _plain_value(annotation, info, value)
        if plain is _UNSURE:
            continue
        full = adapter.adapter.validate_python(value)
        assert (plain, type(plain)) == (full, type(full)), value
        converted += 1
    assert converted >= 3  # the plain path is taken for ordinary values

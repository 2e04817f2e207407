"""The 抖店 open-platform gateway protocol: common parameters, signature, timestamp, envelope
(issue 12, D1). Pure functions; ``api.py`` reads the HTTP request and ``methods.py`` does the work.

Signature (REFERENCE.md §1)::

    pattern = app_secret + "app_key" + K + "method" + M + "param_json" + P
              + "timestamp" + T + "v" + "2" + app_secret
    sign    = hex(HMAC-SHA256(key=app_secret, pattern))   # sign_method=hmac-sha256
            | hex(MD5(pattern))                           # sign_method=md5 (or absent)

``P`` is the ``param_json`` text exactly as sent (body or query; ``{}`` when empty) and ``T``
the ``timestamp`` exactly as sent: unix seconds or ``yyyy-MM-dd HH:mm:ss`` in UTC+8, accepted
within ``doudian.timestamp_skew_seconds`` of the server's wall clock.

Answers are HTTP 200 with ``{code, msg, sub_code, sub_msg, log_id, data}``; the legacy pair
``err_no``/``message`` is added unless the request carries ``x-open-no-old-err-code: 1``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from xiaodian.doudian import enums
from xiaodian.errors import XiaodianError

UTC8 = timezone(timedelta(hours=8))
SIGN_METHODS = ("hmac-sha256", "md5")
REQUIRED = ("app_key", "method", "timestamp", "sign", "v")
NO_LEGACY_HEADER = "x-open-no-old-err-code"


class PlatformError(XiaodianError):
    """A refusal in the platform's words: envelope ``code``, ``sub_code`` and a Chinese
    ``sub_msg`` (also the ``message_zh`` every XiaodianError carries)."""

    status = 200

    def __init__(self, platform_code: int, sub_code: str, sub_msg: str, message_en: str) -> None:
        super().__init__(f"doudian_{platform_code}", sub_msg, message_en)
        self.platform_code = platform_code
        self.sub_code = sub_code
        self.sub_msg = sub_msg


def missing(name: str) -> PlatformError:
    return PlatformError(
        enums.MISSING_PARAMETER,
        f"isv.missing-parameter:{name}",
        f"缺少必选参数：{name}",
        f"Missing parameter: {name}",
    )


def invalid(name: str, zh: str, en: str) -> PlatformError:
    return PlatformError(enums.INVALID_PARAMETER, f"isv.parameter-invalid:{name}", zh, en)


def business(code: str, zh: str, en: str) -> PlatformError:
    return PlatformError(enums.BUSINESS_ERROR, f"isv.business-failed:{code}", zh, en)


def method_not_found(method: str) -> PlatformError:
    return PlatformError(
        enums.INVALID_PARAMETER,
        "isv.method-not-exist",
        f"接口不存在：{method}",
        f"No such method: {method}",
    )


def bad_signature() -> PlatformError:
    return PlatformError(
        enums.INVALID_PARAMETER,
        "isv.sign-invalid",
        "签名校验失败，请检查 app_key、app_secret 与签名串",
        "Signature check failed",
    )


@dataclass(frozen=True)
class CommonParams:
    """The common parameters of one call, as sent."""

    app_key: str
    method: str
    timestamp: str
    v: str
    sign: str
    sign_method: str
    access_token: str
    param_json: str


def common_params(values: dict[str, str], param_json: str | None) -> CommonParams:
    """Pick the common parameters from the query (or a form body) and check presence and
    closed values; raises 40001 / 40003."""
    for name in REQUIRED:
        if not values.get(name, "").strip():
            raise missing(name)
    if values["v"] != "2":
        raise invalid("v", "v 须为 2", "v must be 2")
    sign_method = values.get("sign_method", "").strip().lower() or "md5"
    if sign_method not in SIGN_METHODS:
        raise invalid(
            "sign_method", "sign_method 须为 hmac-sha256 或 md5", "sign_method: hmac-sha256 | md5"
        )
    return CommonParams(
        app_key=values["app_key"],
        method=values["method"],
        timestamp=values["timestamp"],
        v=values["v"],
        sign=values["sign"].strip().lower(),
        sign_method=sign_method,
        access_token=values.get("access_token", "").strip(),
        param_json=param_json if param_json not in (None, "") else "{}",
    )


def parse_timestamp(text: str) -> datetime | None:
    """Unix seconds, or ``yyyy-MM-dd HH:mm:ss`` read in UTC+8; None when neither."""
    text = text.strip()
    if text.isdigit() and len(text) <= 12:
        return datetime.fromtimestamp(int(text), tz=UTC8)
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC8)
    except ValueError:
        return None


def check_timestamp(text: str, now: datetime, skew_seconds: int) -> None:
    when = parse_timestamp(text)
    if when is None:
        raise invalid(
            "timestamp",
            "timestamp 格式不正确：须为秒级时间戳或 yyyy-MM-dd HH:mm:ss（北京时间）",
            "timestamp: unix seconds or yyyy-MM-dd HH:mm:ss (UTC+8)",
        )
    if abs((when - now).total_seconds()) > skew_seconds:
        raise invalid(
            "timestamp",
            f"timestamp 与服务器时间相差超过 {skew_seconds} 秒，请校准客户端时间",
            f"timestamp is more than {skew_seconds} s away from server time",
        )


def sign_pattern(secret: str, params: CommonParams) -> str:
    return (
        f"{secret}app_key{params.app_key}method{params.method}param_json{params.param_json}"
        f"timestamp{params.timestamp}v{params.v}{secret}"
    )


def expected_sign(secret: str, params: CommonParams) -> str:
    pattern = sign_pattern(secret, params).encode()
    if params.sign_method == "md5":
        return hashlib.md5(pattern, usedforsecurity=False).hexdigest()
    return hmac.new(secret.encode(), pattern, hashlib.sha256).hexdigest()


def signature_ok(secret: str, params: CommonParams) -> bool:
    return hmac.compare_digest(expected_sign(secret, params).encode(), params.sign.encode())


def method_for_path(path: str) -> str:
    """``/order/searchList`` → ``order.searchList`` (the path mirrors the method)."""
    return path.strip("/").replace("/", ".")


def new_log_id(now: datetime) -> str:
    return now.astimezone(UTC8).strftime("%Y%m%d%H%M%S") + secrets.token_hex(9).upper()


def envelope(data: Any, *, log_id: str, legacy: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": enums.OK,
        "msg": enums.MSG[enums.OK],
        "sub_code": "",
        "sub_msg": "",
        "log_id": log_id,
        "data": data,
    }
    if legacy:
        body["err_no"] = 0
        body["message"] = "success"
    return body


def error_envelope(error: PlatformError, *, log_id: str, legacy: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": error.platform_code,
        "msg": enums.MSG.get(error.platform_code, "error"),
        "sub_code": error.sub_code,
        "sub_msg": error.sub_msg,
        "log_id": log_id,
        "data": {},
    }
    if legacy:
        body["err_no"] = error.platform_code
        body["message"] = error.sub_msg
    return body


def from_domain(exc: XiaodianError) -> PlatformError:
    """A xiaodian refusal (rule, state, not found, bad value) in the platform's words: 50002
    with ``isv.business-failed:<code>`` and the Chinese message."""
    if isinstance(exc, PlatformError):
        return exc
    zh = exc.message_zh
    details = "；".join(e.get("message_zh", "") for e in exc.errors if e.get("message_zh"))
    if details and details not in zh:
        zh = f"{zh}：{details}"
    return business(exc.code, zh, exc.message_en)

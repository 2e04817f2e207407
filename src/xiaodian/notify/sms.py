"""SMS adapters (X1, used by O2 手机验证; issue 17 F3).

``SmsGateway`` is what the services call; ``gateway_for(settings)`` picks the one the settings
name (``XIAODIAN_SMS__PROVIDER``):

* ``aliyun`` — 阿里云短信服务 through its official SDK (``alibabacloud-dysmsapi20170525``,
  ``SendSms`` with a verification-code template): the code reaches the shop's phone and is
  stored nowhere in clear.
* ``demo_phone`` (default) — the 演示手机: the message lands in the ``sms_outbox`` table and the
  console shows it on its own 演示手机 page. It works only where nobody's real data is at
  stake: a simulated clock, or ``XIAODIAN_SMS__DEMO_PHONE=true`` (``xiaodian demo`` sets it).
  Anywhere else it refuses to send, so a download can never be verified by a code shown to
  whoever holds the export permission.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from xiaodian.context import Ctx
from xiaodian.db import Base, BigId, JsonType, UTCDateTime
from xiaodian.errors import XiaodianError
from xiaodian.shard import REFERENCE

if TYPE_CHECKING:
    from xiaodian.config import Settings, SmsSettings

TEMPLATES: dict[str, str] = {
    "export_code": "【小店】您正在下载订单导出文件（导出记录 #{export_id}），验证码 {code}，"
    "{minutes}分钟内有效。请勿告诉他人。",
}


class SmsMessage(Base):
    """One SMS "sent" by the local outbox gateway (demo and tests)."""

    __tablename__ = "sms_outbox"
    __shard__ = REFERENCE
    __table_args__ = (Index("ix_sms_outbox_shop", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    phone: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SmsGateway(Protocol):
    def send(
        self, ctx: Ctx, phone: str, template: str, params: dict[str, Any], *, shop_id: int | None
    ) -> None: ...


def render(template: str, params: dict[str, Any]) -> str:
    return TEMPLATES[template].format(**params)


class OutboxSms:
    """Local gateway: the message lands in ``sms_outbox``, in the caller's transaction."""

    def send(
        self, ctx: Ctx, phone: str, template: str, params: dict[str, Any], *, shop_id: int | None
    ) -> None:
        ctx.session.add(
            SmsMessage(
                shop_id=shop_id,
                phone=phone,
                template=template,
                params={k: str(v) for k, v in params.items()},
                text=render(template, params)[:500],
                created_at=ctx.now,
            )
        )
        ctx.session.flush()


def outbox(session: Session, shop_id: int, phone: str, *, limit: int = 20) -> list[SmsMessage]:
    """The 演示手机 of one phone: the shop's outbox messages to it, newest first (F3)."""
    return list(
        session.scalars(
            select(SmsMessage)
            .where(SmsMessage.shop_id == shop_id, SmsMessage.phone == phone)
            .order_by(SmsMessage.id.desc())
            .limit(limit)
        )
    )


class SmsNotConfigured(XiaodianError):
    """No SMS provider may send here: the demo phone outside a demo (F3)."""

    status = 409

    def __init__(self) -> None:
        super().__init__(
            "sms_not_configured",
            "未配置短信服务商，无法发送验证码：请管理员配置短信服务（XIAODIAN_SMS__PROVIDER）",
            "No SMS provider is configured, so no code can be sent: an administrator sets "
            "XIAODIAN_SMS__PROVIDER",
            rule="O2",
        )


class SmsFailed(XiaodianError):
    """The provider refused or could not be reached (F3); nothing was sent."""

    status = 502

    def __init__(self, reason: str) -> None:
        super().__init__(
            "sms_failed",
            f"短信发送失败（{reason}），请稍后重试",
            f"The SMS could not be sent ({reason}); try again later",
            rule="O2",
        )


class AliyunSms:
    """阿里云短信服务 ``SendSms`` through the official SDK (F3).

    The template (``XIAODIAN_SMS__ALIYUN_TEMPLATE_CODE``) is a verification-code template
    approved in the Aliyun console with the variable ``${code}``; the signature name is the
    shop owner's approved 签名. The SDK is imported on first use, so a deployment without it
    starts and says what is missing only when a message is sent."""

    def __init__(self, config: SmsSettings) -> None:
        self.config = config
        self._client: Any = None

    def send(
        self, ctx: Ctx, phone: str, template: str, params: dict[str, Any], *, shop_id: int | None
    ) -> None:
        request = self._request(phone, {"code": str(params["code"])})
        try:
            response = self._sdk_client().send_sms_with_options(request, self._runtime())
        except SmsFailed:
            raise
        except Exception as exc:  # the SDK raises its own error types and network errors
            raise SmsFailed(type(exc).__name__) from exc
        body = response.body
        if body is None or body.code != "OK":
            raise SmsFailed(str(getattr(body, "code", "no answer")))

    def _request(self, phone: str, template_params: dict[str, str]) -> Any:
        from alibabacloud_dysmsapi20170525 import models

        return models.SendSmsRequest(
            phone_numbers=phone,
            sign_name=self.config.aliyun_sign_name,
            template_code=self.config.aliyun_template_code,
            template_param=json.dumps(template_params, ensure_ascii=False),
        )

    def _runtime(self) -> Any:
        from darabonba.runtime import RuntimeOptions

        timeout_ms = int(self.config.timeout_seconds * 1000)
        return RuntimeOptions(read_timeout=timeout_ms, connect_timeout=timeout_ms)

    def _sdk_client(self) -> Any:
        if self._client is None:
            try:
                from alibabacloud_dysmsapi20170525.client import Client
                from alibabacloud_tea_openapi import models as openapi
            except ImportError as exc:
                raise SmsFailed("未安装阿里云短信 SDK（pip install 'xiaodian[aliyun]'）") from exc
            self._client = Client(
                openapi.Config(
                    access_key_id=self.config.aliyun_access_key_id,
                    access_key_secret=self.config.aliyun_access_key_secret.get_secret_value(),
                    endpoint=self.config.aliyun_endpoint,
                    protocol=self.config.aliyun_protocol,
                )
            )
        return self._client


class DemoPhoneSms(OutboxSms):
    """The 演示手机: the outbox, refusing to send outside a demo (F3)."""

    def send(
        self, ctx: Ctx, phone: str, template: str, params: dict[str, Any], *, shop_id: int | None
    ) -> None:
        if not demo_phone_enabled(ctx.settings):
            raise SmsNotConfigured()
        super().send(ctx, phone, template, params, shop_id=shop_id)


def demo_phone_enabled(settings: Settings) -> bool:
    """The 演示手机 page and gateway exist only in a demo: simulated clock or the explicit
    setting, and only while the provider is the demo phone."""
    sms = settings.sms
    return sms.provider == "demo_phone" and (settings.clock_mode == "simulated" or sms.demo_phone)


_aliyun_clients: dict[int, AliyunSms] = {}


def gateway_for(settings: Settings) -> SmsGateway:
    """The gateway the settings name (one SDK client per settings object, reused)."""
    if settings.sms.provider == "aliyun":
        key = id(settings.sms)
        if key not in _aliyun_clients:
            _aliyun_clients[key] = AliyunSms(settings.sms)
        return _aliyun_clients[key]
    return DemoPhoneSms()

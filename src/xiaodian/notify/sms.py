"""SMS adapter (X1, used by O2 手机验证).

``SmsGateway`` is what the services call. The self-hosted default, ``OutboxSms``, writes each
message to the ``sms_outbox`` table instead of a carrier: tests read it, and the console shows
it on the export page as 演示短信 so a demo can complete the phone verification. A deployment
with a real SMS provider implements ``SmsGateway`` and passes it in; the outbox then holds
nothing (a real gateway must never store the code in clear).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from xiaodian.context import Ctx
from xiaodian.db import Base, BigId, JsonType, UTCDateTime

TEMPLATES: dict[str, str] = {
    "export_code": "【小店】您正在下载订单导出文件(导出记录 #{export_id}),验证码 {code},"
    "{minutes}分钟内有效。请勿告诉他人。",
}


class SmsMessage(Base):
    """One SMS "sent" by the local outbox gateway (demo and tests)."""

    __tablename__ = "sms_outbox"
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


def outbox(session: Session, shop_id: int, *, limit: int = 10) -> list[SmsMessage]:
    """The shop's latest outbox messages, newest first (演示短信)."""
    return list(
        session.scalars(
            select(SmsMessage)
            .where(SmsMessage.shop_id == shop_id)
            .order_by(SmsMessage.id.desc())
            .limit(limit)
        )
    )


_gateway: SmsGateway = OutboxSms()


def gateway() -> SmsGateway:
    return _gateway


def set_gateway(new: SmsGateway) -> SmsGateway:
    """Install another gateway (a real provider); returns the previous one."""
    global _gateway
    previous, _gateway = _gateway, new
    return previous

"""设置: sub-accounts and permissions, open-platform apps, webhooks, stores and staff (X2)."""

from __future__ import annotations

from fastapi import APIRouter

from xiaodian.web.settings import apps, password, stores, users, webhooks

router = APIRouter(include_in_schema=False)
for _module in (users, password, apps, webhooks, stores):
    router.include_router(_module.router)

"""Every context's tables, imported once so the metadata (and Alembic) sees them all."""

from xiaodian.accounts import models as accounts_models
from xiaodian.aftersales import models as aftersales_models
from xiaodian.clock import SimClockRow
from xiaodian.coupons import models as coupons_models
from xiaodian.db import Base
from xiaodian.doudian import models as doudian_models
from xiaodian.laike import models as laike_models
from xiaodian.ledger import models as ledger_models
from xiaodian.luckybags import models as luckybags_models
from xiaodian.notify import models as notify_models
from xiaodian.notify import sms as notify_sms
from xiaodian.orders import models as orders_models
from xiaodian.orders.export import models as orders_export_models
from xiaodian.platform import models as platform_models
from xiaodian.redpackets import models as redpackets_models
from xiaodian.service import models as service_models
from xiaodian.storefront import models as storefront_models

metadata = Base.metadata

__all__ = [
    "SimClockRow",
    "accounts_models",
    "aftersales_models",
    "coupons_models",
    "doudian_models",
    "laike_models",
    "ledger_models",
    "luckybags_models",
    "metadata",
    "notify_models",
    "notify_sms",
    "orders_export_models",
    "orders_models",
    "platform_models",
    "redpackets_models",
    "service_models",
    "storefront_models",
]

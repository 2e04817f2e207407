"""Carriers 快递公司 and their tracking-number formats (O3).

An order counts as shipped only once a tracking number of a valid format for its carrier has
been uploaded. The patterns are the public formats of each carrier's waybill numbers,
simplified to what a merchant can check before the carrier confirms pickup:

| code  | 名称     | tracking number (快递单号)                              | example            |
|-------|----------|----------------------------------------------------------|--------------------|
| SF    | 顺丰速运 | ``SF`` + 12–13 digits                                    | SF1234567890123    |
| ZTO   | 中通快递 | 12 or 15 digits starting with 7                          | 731234567890       |
| YTO   | 圆通速递 | ``YT`` + 13 digits                                       | YT1234567890123    |
| YUNDA | 韵达快递 | 13 or 15 digits starting with 3 or 4                     | 4312345678901      |
| STO   | 申通快递 | 12 or 15 digits starting with 77                         | 773123456789       |
| EMS   | EMS      | 13 digits starting with 1, or UPU S10 ``AB123456789CN``  | 1123456789012      |
| JD    | 京东物流 | ``JD`` + 11–13 letters/digits                            | JDVA12345678901    |

Names are matched by code, full name or short name (``顺丰``, ``顺丰速运``, ``SF``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    short: str
    pattern: re.Pattern[str]
    example: str


CARRIERS: tuple[Carrier, ...] = (
    Carrier("SF", "顺丰速运", "顺丰", re.compile(r"^SF\d{12,13}$"), "SF1234567890123"),
    Carrier("ZTO", "中通快递", "中通", re.compile(r"^7\d{11}(?:\d{3})?$"), "731234567890"),
    Carrier("YTO", "圆通速递", "圆通", re.compile(r"^YT\d{13}$"), "YT1234567890123"),
    Carrier("YUNDA", "韵达快递", "韵达", re.compile(r"^[34]\d{12}(?:\d{2})?$"), "4312345678901"),
    Carrier("STO", "申通快递", "申通", re.compile(r"^77\d{10}(?:\d{3})?$"), "773123456789"),
    Carrier(
        "EMS", "EMS", "EMS", re.compile(r"^(?:1\d{12}|[A-Z]{2}\d{9}[A-Z]{2})$"), "1123456789012"
    ),
    Carrier("JD", "京东物流", "京东", re.compile(r"^JD[0-9A-Z]{11,13}$"), "JDVA12345678901"),
)

_BY_NAME: dict[str, Carrier] = {}
for _c in CARRIERS:
    for _name in (_c.code, _c.name, _c.short):
        _BY_NAME[_name.upper()] = _c
_BY_NAME["京东快递"] = _BY_NAME["JD"]
_BY_NAME["邮政EMS"] = _BY_NAME["EMS"]


def find_carrier(name: str) -> Carrier | None:
    return _BY_NAME.get(name.strip().upper())


def normalize_tracking(text: str) -> str:
    return re.sub(r"\s+", "", text).upper()

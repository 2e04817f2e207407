"""S3: a simulated clock is a test bench, not a shop: it is served on a loopback address only,
unless ``XIAODIAN_ALLOW_SIMULATED_CLOCK_PUBLIC`` says otherwise."""

from __future__ import annotations

import ipaddress

from xiaodian.config import Settings


class PublicSimulatedClock(RuntimeError):
    """Refusal to start: one bilingual line, printed by ``xiaodian serve`` / ``demo``."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address literal (127.0.0.0/8, ::1); a name or a wildcard
    (0.0.0.0, ::) is not."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str, *, simulated: bool) -> None:
    """Raise ``PublicSimulatedClock`` if a simulated clock would be served beyond loopback."""
    if not simulated or is_loopback(host) or settings.allow_simulated_clock_public:
        return
    raise PublicSimulatedClock(
        f"拒绝启动：模拟时钟只能绑定本机回环地址，当前为 {host}"
        f"（如确需公开，请设置 XIAODIAN_ALLOW_SIMULATED_CLOCK_PUBLIC=true） / "
        f"Refusing to start: a simulated clock binds only to loopback, not {host} "
        f"(set XIAODIAN_ALLOW_SIMULATED_CLOCK_PUBLIC=true to allow it)"
    )

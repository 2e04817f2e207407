"""Event types of the 来客 push dialect (issue 12 D5, issue 15 M4): the certificate
notification keeps the platform's message name (an SDK matches it)."""

from xiaodian.laike.service import CERTIFICATE_EVENT

EVENT_TYPES: tuple[str, ...] = ()
PLATFORM_EVENT_TYPES: tuple[str, ...] = (CERTIFICATE_EVENT,)

"""Event types of the 抖店 push dialect (issue 12 D6, issue 15 M4).

The context emits no domain events of its own: it pushes order and after-sales events to
抖店 receivers under the platform's message names, which are the event types those endpoints
subscribe to and the delivery log shows. They keep the platform's spelling on purpose (an SDK
matches them), so they are declared here as platform names, not ``<subject>.<happened>``."""

from xiaodian.doudian.push import TAGS

EVENT_TYPES: tuple[str, ...] = ()
PLATFORM_EVENT_TYPES: tuple[str, ...] = tuple(TAGS.values())

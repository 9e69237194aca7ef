"""The webhook event types: one per event on the incidents topic, named after it.

``IncidentStatusChanged`` becomes ``incident.status_changed``; the list is derived from the
contract, so an event added there is offered here (and in the README, generated from this).
"""

from __future__ import annotations

import re
from typing import Final

from fireline_contracts import INCIDENTS

TEST_EVENT_TYPE: Final = "webhook.test"


def webhook_type(contract_event_type: str) -> str:
    """``IncidentStatusChanged`` → ``incident.status_changed``."""
    words = re.findall(r"[A-Z][a-z0-9]*", contract_event_type)
    return f"{words[0].lower()}." + "_".join(w.lower() for w in words[1:])


EVENT_TYPES: Final[tuple[str, ...]] = tuple(
    webhook_type(event.declared_event_type()) for event in INCIDENTS.events
)
"""Every event type an endpoint can subscribe to, in the contract's order."""

DESCRIPTIONS: Final[dict[str, str]] = {
    webhook_type(event.declared_event_type()): (event.__doc__ or "").strip().splitlines()[0]
    for event in INCIDENTS.events
}
"""One line per event type, from the contract's docstring."""

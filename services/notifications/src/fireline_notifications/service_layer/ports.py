"""What the use cases need from the outside world besides storage."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from fireline_notifications.domain.addresses import IPAddress
from fireline_notifications.domain.delivery import AttemptResult
from fireline_notifications.domain.message import Notice


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to; empty when it does not resolve."""


class Sender(Protocol):
    async def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        """POST ``body`` to ``url`` once (no redirects followed, the address checked again
        against the SSRF rules); never raises for a network or HTTP failure, which is the
        result's ``error``."""


class Arrival(Protocol):
    """An incident event as it arrives: whose it is, and its notices once they are needed."""

    @property
    def event_id(self) -> uuid.UUID: ...

    @property
    def org_id(self) -> uuid.UUID: ...

    def notices(self) -> Sequence[Notice]:
        """What the event says, as the webhook formats need it (payload dumps: not free). One
        notice, or more for an event that carries others (a start carries its first timeline
        entries)."""

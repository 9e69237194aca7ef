"""What the use cases need from the outside world besides storage."""

from __future__ import annotations

from typing import Protocol

from fireline_notifications.domain.addresses import IPAddress
from fireline_notifications.domain.delivery import AttemptResult


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to; empty when it does not resolve."""


class Sender(Protocol):
    async def post(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        """POST ``body`` to ``url`` once (no redirects followed, the address checked again
        against the SSRF rules); never raises for a network or HTTP failure, which is the
        result's ``error``."""

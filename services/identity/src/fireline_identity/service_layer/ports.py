"""What identity's use cases need from the outside world, as Protocols; adapters implement them
and ``bootstrap`` chooses which (the dependency points from adapters to here, never back)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from fireline_identity.domain.sessions import SessionUser


class PasswordHasher(Protocol):
    """Slow, salted password hashing (argon2id in production, see adapters/passwords.py)."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def burn(self, password: str) -> None:
        """Spend the time a real verification would take, for a login that cannot succeed."""

    def needs_rehash(self, password_hash: str) -> bool: ...


class ReportVerifier(Protocol):
    def verify(self, body: bytes, key_identifier: str | None, signature: str | None) -> bool:
        """Whether the scanner signed exactly ``body`` with the key named ``key_identifier``."""


class KeysTopic(Protocol):
    """The keys topic as the watermarks need it (``adapters.watermarks.RelayedKeysTopic``)."""

    async def partitions(self) -> int | None:
        """Its partition count, when this replica is the one publishing identity's outbox and
        the broker can say; None otherwise."""

    def route(self, partition: int, partitions: int) -> str:
        """A Kafka key that lands on ``partition``."""


@dataclass(frozen=True)
class ApiCall:
    """A browser's request for the incidents API: ``path`` is below ``/v1/incidents``."""

    method: str
    path: str
    query: str
    body: bytes
    content_type: str | None


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class EventStream:
    """The incidents API's event stream as opened for a browser; ``close`` it when done."""

    status: int
    content_type: str | None
    chunks: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]


class TokenSource(Protocol):
    async def token_for(self, user: SessionUser) -> str: ...

    def forget(self, session_id: UUID) -> None: ...


class IncidentsCaller(Protocol):
    async def call(self, request: ApiCall, token: str) -> ApiAnswer: ...

    async def open_events(self, token: str, last_event_id: str | None) -> EventStream: ...

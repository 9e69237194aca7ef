"""What the use cases need from storage: three repositories and one transaction around them.

These are protocols so the use cases can run against in-memory fakes in unit tests; the
PostgreSQL implementations live in ``adapters`` (``adapters.postgres`` puts them together).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from fireline_auth.domain.keys import ApiKey, KeyChange
from fireline_auth.domain.signing import StoredSigningKey
from fireline_contracts import KeyExchangeFailed, KeyUsed
from fireline_runtime.unit_of_work import Transactional


class ApiKeyProjection(Protocol):
    """Auth's projection of identity's API keys; every write is order-safe per key.

    Any event of a key may be the first to arrive; ``revoked_at`` is set once and never cleared,
    a creation never un-revokes, a rename only replaces a name set by an older event, and a key's
    secrets are those of the newest event that carries them (a rotation replaces them).
    """

    async def apply_renamed(self, change: KeyChange) -> None:
        """Apply a key's name and, when the event carries it, its ``state``: a creation and a
        rotation always do, a rename may. With ``state``, a key whose creation was never seen is
        filled in and newer secrets are taken."""

    async def apply_revoked(
        self, *, key_id: UUID, org_id: UUID, revoked_at: datetime, event_at: datetime
    ) -> None:
        """Record a revocation (final)."""

    async def get(self, key_id: UUID) -> ApiKey | None:
        """The key with that id, if the projection has it."""

    async def find_by_digest(self, digest: str) -> ApiKey | None:
        """The key whose current or replaced secret has that digest, if any."""


class SigningKeyRepository(Protocol):
    async def lock(self) -> None:
        """Serialise signing-key changes (across replicas) until the transaction ends."""

    async def list_all(self) -> list[StoredSigningKey]:
        """Every stored signing key, by activation then creation."""

    async def insert(self, key: StoredSigningKey) -> None:
        """Store a new signing key."""

    async def delete(self, kids: Sequence[str]) -> None:
        """Delete the signing keys with these kids (nothing when empty)."""


class KeyUsageMarks(Protocol):
    async def claim_emission(
        self, *, key_id: UUID, now: datetime, interval_s: float, previous_secret: bool = False
    ) -> bool:
        """Record ``now`` as the key's last announcement unless one is younger than ``interval_s``.

        Uses of the secret a rotation replaced (``previous_secret``) have marks of their own.

        True means the caller should publish KeyUsed in this same transaction. Concurrent claims
        for one key serialise, so only one of them wins per interval, across replicas too.
        """


class UnitOfWork(Transactional, Protocol):
    """The repositories and the outbox, on one transaction (``Transactional``)."""

    @property
    def api_keys(self) -> ApiKeyProjection: ...

    @property
    def signing_keys(self) -> SigningKeyRepository: ...

    @property
    def key_usage(self) -> KeyUsageMarks: ...

    async def publish(self, event: KeyUsed | KeyExchangeFailed) -> None:
        """Queue ``event`` in the outbox; it is sent only if the transaction commits."""

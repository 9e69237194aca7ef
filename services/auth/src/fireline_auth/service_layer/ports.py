"""What auth's use cases need from the outside world, as Protocols; adapters implement them and
``bootstrap`` chooses which (the dependency points from adapters to here, never back)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from fireline_auth.domain.keys import ApiKey
from fireline_auth.domain.signing import SigningKeyInfo, StoredSigningKey


class KeyCache(Protocol):
    """API keys by id, from memory when possible (``adapters.key_cache.CachedKeys``)."""

    async def get(self, key_id: UUID) -> ApiKey | None:
        """The key with that id, if any; reads the projection only when it has to."""


class TokenSigner(Protocol):
    """Signs access tokens with one signing key."""

    @property
    def kid(self) -> str: ...

    def sign(self, token_claims: dict[str, Any]) -> str: ...


class SigningKeyRing(Protocol):
    """This replica's signing keys in memory (``adapters.keyring.KeyRing``)."""

    @property
    def keys(self) -> Sequence[SigningKeyInfo]: ...

    def load(self, stored: Sequence[StoredSigningKey]) -> None:
        """Replace the key set with ``stored``."""

    def signer(self, now: datetime) -> TokenSigner | None:
        """The signer of the key that signs at ``now``; None if there is none or it is unusable."""

    def jwks(self, now: datetime) -> dict[str, Any]:
        """The JWK Set published at ``now``."""


class RevocationView(Protocol):
    """How current auth's projection is against identity's keys topic (``keys_view.KeysView``)."""

    def vouches(self, now: float | None = None) -> bool:
        """Whether every revocation identity acknowledged more than the bound ago is here."""


class FailureLimiter(Protocol):
    """Failed authentications per identifier (``adapters.rate_limit.SlidingWindowLimiter``)."""

    def retry_after(self, identifiers: Iterable[str]) -> int | None:
        """Seconds until the most blocked of ``identifiers`` may try again; None if none is."""

    def record_failure(self, identifiers: Iterable[str]) -> None: ...

"""API keys as auth knows them: the projection of identity's key events."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fireline_contracts import api_keys

# Compared against when the presented key matches no stored key, so an unknown key costs the same
# hash and constant-time comparison as a known one. Not the digest of any valid key.
DUMMY_DIGEST = api_keys.digest("flk_not-a-key")


@dataclass(frozen=True)
class ApiKey:
    """A key's authentication-relevant state.

    ``digest`` is None until an event carrying it arrived: KeyCreated, or a full-state KeyRenamed.
    """

    key_id: UUID
    org_id: UUID
    name: str | None
    digest: str | None
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None

    def __repr__(self) -> str:
        return f"ApiKey(key_id={self.key_id}, org_id={self.org_id})"

    def usable_at(self, now: datetime) -> bool:
        """Created, not revoked (revocation is final) and not expired at ``now``."""
        if self.digest is None or self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class KeyState:
    """What a KeyCreated records about a key; newer KeyRenamed events repeat it."""

    digest: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    created_at: datetime

    def __repr__(self) -> str:
        # Keep the digest out of logs and tracebacks.
        return f"KeyState(scopes={self.scopes}, expires_at={self.expires_at})"


def secret_matches(presented_digest: str, key: ApiKey | None) -> bool:
    """Constant-time check of a presented key's digest; does the same work when ``key`` is None."""
    stored = key.digest if key is not None and key.digest is not None else None
    same = hmac.compare_digest(presented_digest, stored if stored is not None else DUMMY_DIGEST)
    return same and stored is not None


def authenticate(presented_key: str, key: ApiKey | None, now: datetime) -> ApiKey | None:
    """The key if ``presented_key`` is its secret and it is usable now; None in every other case.

    Always hashes and compares, so unknown, revoked, expired and wrong keys take similar time.
    """
    presented_digest = api_keys.digest(presented_key)
    ok = secret_matches(presented_digest, key)
    if not ok or key is None or not key.usable_at(now):
        return None
    return key

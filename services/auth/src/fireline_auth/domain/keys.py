"""API keys as auth knows them: the projection of identity's key events."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from fireline_contracts import api_keys

# Compared against when the presented key matches no stored key, so an unknown key costs the same
# hash and constant-time comparison as a known one. Not the digest of any valid key.
DUMMY_DIGEST = api_keys.digest("flk_not-a-key")


@dataclass(frozen=True)
class ApiKey:
    """A key's authentication-relevant state.

    ``digest`` is None until an event carrying it arrived: KeyCreated, KeyRotated or a full-state
    KeyRenamed. ``previous_digest`` is the secret a rotation replaced, accepted while the clock is
    before ``previous_valid_until``.
    """

    key_id: UUID
    org_id: UUID
    name: str | None
    digest: str | None
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None
    previous_digest: str | None = None
    previous_valid_until: datetime | None = None
    via_previous_secret: bool = False
    """Set only on what :func:`authenticate` returns when the replaced secret was presented."""

    def __repr__(self) -> str:
        return f"ApiKey(key_id={self.key_id}, org_id={self.org_id})"

    def usable_at(self, now: datetime) -> bool:
        """Created, not revoked (revocation is final) and not expired at ``now``."""
        if self.digest is None or self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class KeyState:
    """What a KeyCreated records about a key; KeyRotated and newer KeyRenamed events repeat it, the
    secrets as of their time."""

    digest: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    created_at: datetime
    previous_digest: str | None = None
    previous_valid_until: datetime | None = None

    def __repr__(self) -> str:
        # Keep the digest out of logs and tracebacks.
        return f"KeyState(scopes={self.scopes}, expires_at={self.expires_at})"


def _same(presented_digest: str, stored: str | None) -> bool:
    # Compared against the dummy when nothing is stored, so the work is the same either way.
    same = hmac.compare_digest(presented_digest, stored if stored is not None else DUMMY_DIGEST)
    return same and stored is not None


def secret_matches(presented_digest: str, key: ApiKey | None) -> bool:
    """Constant-time check of a presented key's digest; does the same work when ``key`` is None."""
    return _same(presented_digest, key.digest if key is not None else None)


def authenticate(presented_key: str, key: ApiKey | None, now: datetime) -> ApiKey | None:
    """The key if ``presented_key`` is its secret and it is usable now; None in every other case.

    The secret a rotation replaced counts until its grace period ends; the key is then returned
    with ``via_previous_secret`` and an expiry no later than that end, so a token bought with the
    old secret does not outlive it. Always hashes and makes both comparisons, so unknown, revoked,
    expired, replaced and wrong keys take similar time.
    """
    presented_digest = api_keys.digest(presented_key)
    current = secret_matches(presented_digest, key)
    previous = _same(presented_digest, key.previous_digest if key is not None else None)
    if key is None or not key.usable_at(now):
        return None
    if current:
        return key
    grace_end = key.previous_valid_until
    if not previous or grace_end is None or now >= grace_end:
        return None
    expires_at = grace_end if key.expires_at is None else min(key.expires_at, grace_end)
    return replace(key, expires_at=expires_at, via_previous_secret=True)

"""Human sessions: an opaque random token in a cookie, only its SHA-256 kept server-side.

Lifetime policy: a session ends after 12 hours without a request (idle) and 7 days after login
(absolute), whichever comes first, or when the user logs out, is deactivated or the row is
deleted by an operator (server-side revocation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from fireline_identity.domain.users import Role

TOKEN_BYTES = 32
# Refreshing last_seen_at on every request would turn every read into a write; a minute of
# slack on a 12-hour idle timeout is irrelevant.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    idle_timeout: timedelta = timedelta(hours=12)
    absolute_timeout: timedelta = timedelta(days=7)

    def is_live(self, *, last_seen_at: datetime, expires_at: datetime, now: datetime) -> bool:
        return now < expires_at and now < last_seen_at + self.idle_timeout

    def needs_touch(self, *, last_seen_at: datetime, now: datetime) -> bool:
        return now - last_seen_at >= TOUCH_INTERVAL


@dataclass(frozen=True)
class RevokedSession:
    """A session that a revocation just ended (for the SessionRevoked event)."""

    id: UUID
    user_id: UUID
    org_id: UUID


def new_token() -> str:
    """A session token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """What the database stores and looks sessions up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionUser:
    """Who is calling, resolved from their session cookie (the org comes from here only)."""

    session_id: UUID
    user_id: UUID
    org_id: UUID
    org_name: str
    email: str
    name: str
    role: Role


@dataclass(frozen=True)
class StoredSession:
    """A stored session with its user's and org's current state, as a cookie's lookup finds it."""

    caller: SessionUser
    """Who the session speaks for, if it is still live."""
    user_active: bool
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewSession:
    """A session being opened; only the digest of its token is stored."""

    id: UUID
    token_digest: str
    user_id: UUID
    org_id: UUID
    started_at: datetime
    """Also its first ``last_seen_at``."""
    expires_at: datetime

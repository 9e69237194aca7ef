"""What the use cases work with, built once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from fireline_auth.adapters.key_projection import CachedKeys
from fireline_auth.adapters.keyring import KeyRing
from fireline_auth.adapters.rate_limit import SlidingWindowLimiter
from fireline_runtime.outbox import OutboxWriter
from fireline_runtime.secret_box import SecretBox

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenPolicy:
    """The settings the exchange needs, separated from the pydantic settings object."""

    issuer: str
    audience: str
    lifetime_s: int
    key_usage_interval_s: float
    publish_ahead_s: float
    rotation_period_s: float


@dataclass
class AuthContext:
    """Collaborators of the use cases: database, outbox, signing keys, limiter, clock."""

    pool_getter: Callable[[], asyncpg.Pool]
    outbox: OutboxWriter
    box: SecretBox
    keyring: KeyRing
    limiter: SlidingWindowLimiter
    policy: TokenPolicy
    keys: CachedKeys
    clock: Clock = utc_now
    # key id -> when this process last saw KeyUsed emitted (by anyone); avoids a write per exchange.
    usage_seen: dict[UUID, datetime] = field(default_factory=dict)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.pool_getter()

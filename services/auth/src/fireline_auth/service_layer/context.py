"""What the use cases work with, built once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from fireline_auth.domain.exchange_failures import ExchangeFailureTally
from fireline_auth.domain.people import UiClient
from fireline_auth.service_layer.ports import (
    FailureLimiter,
    KeyCache,
    RevocationView,
    SigningKeyRing,
)
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.jose import Algorithm
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
    signing_algorithm: Algorithm
    """What new signing keys sign with; a signing key of another algorithm is rotated out."""
    algorithm_chosen_at: datetime
    """When this process read ``signing_algorithm``: keys of another algorithm created later come
    from a later decision and are not rotated out (``signing.rotation_due``)."""


@dataclass
class AuthContext:
    """Collaborators of the use cases: units of work, signing keys, key cache, limiter, clock."""

    uow: Callable[[], UnitOfWork]
    """A fresh unit of work on its own connection (``UnitOfWorkFactory``); enter it only when a
    use case really needs the database: a cached-key exchange makes no round trip at all."""
    box: SecretBox
    keyring: SigningKeyRing
    limiter: FailureLimiter
    policy: TokenPolicy
    keys: KeyCache
    clock: Clock = utc_now
    ui_client: UiClient | None = None
    """The web UI's backend, allowed to assert people (RFC 7523); None disables that grant."""
    keys_view: RevocationView | None = None
    """None when identity's event keys are not configured: then exchanges have no bound."""
    # (key id, whether the replaced secret was used) -> when this process last saw KeyUsed emitted
    # (by anyone); avoids a write per exchange.
    usage_seen: dict[tuple[UUID, bool], datetime] = field(default_factory=dict)
    # Failed exchanges of known keys, reported per minute for the audit log.
    exchange_failures: ExchangeFailureTally = field(default_factory=ExchangeFailureTally)
    trusted_proxy_hops: int = 0
    """Reverse proxies whose X-Forwarded-For entries name the client address."""
    jwks_max_age_s: int = 60
    """Cache-Control max-age of the JWKS document."""

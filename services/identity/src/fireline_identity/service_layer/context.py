"""What identity's entrypoints hand to the use cases, built once by ``bootstrap.py``."""

from __future__ import annotations

from dataclasses import dataclass

from fireline_identity.domain.sessions import SessionPolicy
from fireline_identity.service_layer.ports import (
    IncidentsCaller,
    PasswordHasher,
    ReportVerifier,
    TokenSource,
)
from fireline_identity.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class CookieSettings:
    secure: bool

    @property
    def name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and no Domain:
        # a sibling subdomain cannot plant or shadow it. Plain-HTTP development cannot use it.
        return "__Host-fireline_session" if self.secure else "fireline_session"


@dataclass(frozen=True)
class IdentityContext:
    """What the entrypoints hand to use cases; built once by the composition root."""

    uow: UnitOfWorkFactory[UnitOfWork]
    """Call it for a fresh unit of work per use case: one must never be entered twice at once."""
    hasher: PasswordHasher
    policy: SessionPolicy
    cookie: CookieSettings
    trusted_proxy_hops: int = 0
    scanning_keys: ReportVerifier | None = None
    """Verifies secret-scanning reports; None when the deployment configured no keys."""
    people_tokens: TokenSource | None = None
    """People's access tokens from auth; None when no UI client secret is configured."""
    incidents_api: IncidentsCaller | None = None

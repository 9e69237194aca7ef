"""Request dependencies as named types: the identity context, the caller, the client address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from fireline_identity.adapters.incidents_api import IncidentsApi
from fireline_identity.adapters.people_tokens import PeopleTokens
from fireline_identity.domain.errors import NotFound
from fireline_identity.domain.sessions import SessionPolicy, SessionUser
from fireline_identity.service_layer import sessions
from fireline_identity.service_layer.ports import PasswordHasher
from fireline_identity.service_layer.secret_scanning import ReportVerifier
from fireline_identity.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.client_address import client_address as forwarded_client
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
    people_tokens: PeopleTokens | None = None
    """People's access tokens from auth; None when no UI client secret is configured."""
    incidents_api: IncidentsApi | None = None


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def get_context(request: Request) -> IdentityContext:
    context: IdentityContext = request.app.state.identity
    return context


Context = Annotated[IdentityContext, Depends(get_context)]


async def session_token(request: Request, context: Context) -> str | None:
    return request.cookies.get(context.cookie.name)


SessionToken = Annotated[str | None, Depends(session_token)]


async def current_user(context: Context, token: SessionToken) -> SessionUser:
    """The caller's session; 401 ``unauthenticated`` without a live one."""
    return await sessions.authenticate(uow=context.uow(), policy=context.policy, token=token)


CurrentUser = Annotated[SessionUser, Depends(current_user)]


async def client_address(request: Request, context: Context) -> str:
    """The client's address, honouring X-Forwarded-For only from trusted proxy hops."""
    peer = request.client.host if request.client else "unknown"
    return forwarded_client(
        peer, request.headers.get("x-forwarded-for"), context.trusted_proxy_hops
    )


ClientAddress = Annotated[str, Depends(client_address)]


def parse_id(raw: str, what: str) -> UUID:
    """A path id; anything that is not a UUID simply does not exist (404, not 422)."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(what) from None

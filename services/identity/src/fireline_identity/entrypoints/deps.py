"""Request dependencies as named types: the identity context, the caller, the client address."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from fireline_identity.domain.errors import NotFound
from fireline_identity.domain.sessions import SessionUser
from fireline_identity.service_layer import sessions
from fireline_identity.service_layer.context import IdentityContext
from fireline_runtime.client_address import client_address as forwarded_client


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def get_context(request: Request) -> IdentityContext:
    context: IdentityContext = request.app.state.context
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

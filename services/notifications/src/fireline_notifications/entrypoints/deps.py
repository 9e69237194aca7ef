"""Named dependencies of the notifications API; token problems become 401/403 here and nowhere
else."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from fireline_contracts.scopes import WEBHOOKS_READ, WEBHOOKS_WRITE
from fireline_notifications.service_layer.context import NotificationsContext
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.http_auth import require_scope
from fireline_runtime.tokens import Principal


async def _reader_org(
    principal: Annotated[Principal, Depends(require_scope(WEBHOOKS_READ))],
) -> UUID:
    return principal.org_id


# One dependency object, so the org and the key of a write come from one verification.
_WritePrincipal = Annotated[Principal, Depends(require_scope(WEBHOOKS_WRITE))]


async def _writer_org(principal: _WritePrincipal) -> UUID:
    return principal.org_id


async def _writer_key(principal: _WritePrincipal) -> UUID | None:
    # Tokens speak for an API key (auth issues key ids as `sub`): the key is who changed what.
    try:
        return UUID(principal.key_id)
    except ValueError:
        return None


ReaderOrg = Annotated[UUID, Depends(_reader_org)]
"""The caller's org, for a token with `webhooks:read`."""
WriterOrg = Annotated[UUID, Depends(_writer_org)]
"""The caller's org, for a token with `webhooks:write` (the admin scope of this API)."""
WriterKey = Annotated[UUID | None, Depends(_writer_key)]
"""The API key a `webhooks:write` token was issued for: the actor of the audit events."""


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def get_context(request: Request) -> NotificationsContext:
    context: NotificationsContext = request.app.state.context
    return context


Context = Annotated[NotificationsContext, Depends(get_context)]


async def _unit_of_work(context: Context) -> UnitOfWork:
    return context.uow()


Uow = Annotated[UnitOfWork, Depends(_unit_of_work)]

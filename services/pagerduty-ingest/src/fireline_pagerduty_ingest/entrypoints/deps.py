"""Dependencies of the HTTP entrypoints as named types."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from fireline_pagerduty_ingest.service_layer.context import IngestContext
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.http_auth import require_scope
from fireline_runtime.tokens import Principal


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def get_context(request: Request) -> IngestContext:
    context: IngestContext = request.app.state.context
    return context


Context = Annotated[IngestContext, Depends(get_context)]


async def _unit_of_work(context: Context) -> UnitOfWork:
    return context.uow()


Uow = Annotated[UnitOfWork, Depends(_unit_of_work)]
ReadIntegrations = Annotated[Principal, Depends(require_scope("integrations:read"))]
WriteIntegrations = Annotated[Principal, Depends(require_scope("integrations:write"))]


def org_of(principal: Principal) -> UUID:
    """The caller's org (a UUID, checked when the token was verified)."""
    return principal.org_id


def key_of(principal: Principal) -> UUID | None:
    """The API key the caller's token was issued for (auth issues key ids as ``sub``), named as
    the actor of the changes it makes."""
    try:
        return UUID(principal.key_id)
    except ValueError:
        return None

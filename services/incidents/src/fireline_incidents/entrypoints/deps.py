"""Named dependencies of the incidents API; token problems become 401/403 here and nowhere else."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from fireline_incidents.domain.timeline import Actor
from fireline_incidents.service_layer.context import IncidentsContext
from fireline_incidents.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.http_auth import require_scope
from fireline_runtime.tokens import Principal

ReadIncidents = Annotated[Principal, Depends(require_scope("incidents:read"))]
WriteIncidents = Annotated[Principal, Depends(require_scope("incidents:write"))]


async def _reader_org(principal: ReadIncidents) -> UUID:
    return principal.org_id


async def _writer_org(principal: WriteIncidents) -> UUID:
    return principal.org_id


async def _writer_actor(principal: WriteIncidents) -> Actor:
    # A person's token (the web UI) names them; a machine's names its API key.
    if principal.user_id is not None:
        return Actor(kind="user", id=str(principal.user_id), name=principal.name)
    return Actor(kind="api_key", id=principal.key_id)


ReaderOrg = Annotated[UUID, Depends(_reader_org)]
"""The caller's org, for a token with `incidents:read`."""
WriterOrg = Annotated[UUID, Depends(_writer_org)]
"""The caller's org, for a token with `incidents:write`."""
WriterActor = Annotated[Actor, Depends(_writer_actor)]
"""Who the caller is on a timeline, for a token with `incidents:write`."""


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def get_context(request: Request) -> IncidentsContext:
    context: IncidentsContext = request.app.state.context
    return context


Context = Annotated[IncidentsContext, Depends(get_context)]


async def _unit_of_work(context: Context) -> UnitOfWork:
    return context.uow()


Uow = Annotated[UnitOfWork, Depends(_unit_of_work)]

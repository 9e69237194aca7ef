"""Dependencies of the HTTP entrypoints as named types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.http_auth import require_scope
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.tokens import Principal
from fireline_runtime.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class IngestContext:
    """What the composition root hands the routers (stored on ``app.state.ingest``)."""

    box: SecretBox
    public_url: str
    default_api_url: str
    allowed_api_hosts: frozenset[str]
    """Hosts an integration's ``pagerduty_api_url`` may name (the SSRF allow-list)."""

    def webhook_url(self, integration_id: UUID) -> str:
        """The URL to paste into PagerDuty's webhook subscription."""
        return f"{self.public_url.rstrip('/')}/webhooks/pagerduty/{integration_id}"


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def _ingest(request: Request) -> IngestContext:
    context = request.app.state.ingest
    assert isinstance(context, IngestContext)
    return context


async def _unit_of_work(request: Request) -> UnitOfWork:
    factory: UnitOfWorkFactory[UnitOfWork] = request.app.state.unit_of_work
    return factory()


Ingest = Annotated[IngestContext, Depends(_ingest)]
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

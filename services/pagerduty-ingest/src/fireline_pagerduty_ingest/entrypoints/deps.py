"""Dependencies of the HTTP entrypoints as named types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import Depends, Request

from fireline_pagerduty_ingest.adapters.delivery_writer import DeliveryWriter
from fireline_pagerduty_ingest.adapters.target_cache import CachedTargets
from fireline_runtime.http_auth import require_scope
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.tokens import Principal


@dataclass(frozen=True)
class IngestContext:
    """What the composition root hands the routers (stored on ``app.state.ingest``)."""

    pool: Callable[[], asyncpg.Pool]
    box: SecretBox
    public_url: str
    default_api_url: str
    allowed_api_hosts: frozenset[str]
    """Hosts an integration's ``pagerduty_api_url`` may name (the SSRF allow-list)."""
    wake_worker: Callable[[], None]
    targets: CachedTargets
    writer: DeliveryWriter

    def webhook_url(self, integration_id: UUID) -> str:
        """The URL to paste into PagerDuty's webhook subscription."""
        return f"{self.public_url.rstrip('/')}/webhooks/pagerduty/{integration_id}"


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def _ingest(request: Request) -> IngestContext:
    context = request.app.state.ingest
    assert isinstance(context, IngestContext)
    return context


Ingest = Annotated[IngestContext, Depends(_ingest)]
ReadIntegrations = Annotated[Principal, Depends(require_scope("integrations:read"))]
WriteIntegrations = Annotated[Principal, Depends(require_scope("integrations:write"))]


def org_of(principal: Principal) -> UUID:
    """The caller's org (a UUID, checked when the token was verified)."""
    return principal.org_id

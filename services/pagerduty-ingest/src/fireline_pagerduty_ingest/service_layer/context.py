"""What ingest's entrypoints hand to the use cases, built once by ``bootstrap.py``."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class IngestContext:
    """What the entrypoints hand to use cases; built once by the composition root."""

    uow: UnitOfWorkFactory[UnitOfWork]
    """Call it for a fresh unit of work per use case: one must never be entered twice at once."""
    box: SecretBox
    public_url: str
    default_api_url: str
    allowed_api_hosts: frozenset[str]
    """Hosts an integration's ``pagerduty_api_url`` may name (the SSRF allow-list)."""

    def webhook_url(self, integration_id: UUID) -> str:
        """The URL to paste into PagerDuty's webhook subscription."""
        return f"{self.public_url.rstrip('/')}/webhooks/pagerduty/{integration_id}"

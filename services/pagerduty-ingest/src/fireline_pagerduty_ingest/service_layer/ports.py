"""What the use cases need besides storage, as protocols: the adapters behind them (the webhook
target cache, the group-committing delivery writer, PagerDuty's REST API) are built in
``bootstrap.py``, and unit tests pass fakes.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from fireline_pagerduty_ingest.domain.delivery import NewDelivery, Stored
from fireline_pagerduty_ingest.domain.enrichment import ApiCredentials, OnCallEntry
from fireline_pagerduty_ingest.domain.sync import CallResult
from fireline_pagerduty_ingest.domain.target import OpenTarget


class WebhookTargets(Protocol):
    """Integrations as the receiver needs them, signing secrets opened (``CachedTargets``)."""

    async def get(self, integration_id: UUID) -> OpenTarget | None:
        """The live integration ``integration_id`` names, or None (deleted or never existed)."""


class DeliveryInbox(Protocol):
    """Stores verified deliveries durably (``DeliveryWriter``, which batches concurrent ones)."""

    async def add(self, delivery: NewDelivery) -> Stored | None:
        """Store ``delivery`` (and publish its ``alert``, when it has one and no earlier delivery
        of its incident is pending); None when its dedupe key is already stored."""


class EmailDirectory(Protocol):
    """What enrichment needs from PagerDuty (the REST client, or a fake in tests).

    A lookup that gets no answer raises ``PagerDutyUnavailable`` (``domain.enrichment``).
    """

    async def user_email(self, credentials: ApiCredentials, user_id: str) -> str | None: ...

    async def oncalls(
        self, credentials: ApiCredentials, escalation_policy_id: str
    ) -> tuple[OnCallEntry, ...]: ...


class PagerDutyWriter(Protocol):
    """The writes Fireline → PagerDuty sync makes (the REST client, or a fake in tests).

    Never raises for a network or HTTP failure: that is the result (no status, or PagerDuty's).
    """

    async def set_status(
        self, *, base_url: str, token: str, from_email: str, incident_id: str, status: str
    ) -> CallResult:
        """``PUT /incidents/{incident_id}`` with the new status."""

    async def add_note(
        self, *, base_url: str, token: str, from_email: str, incident_id: str, content: str
    ) -> CallResult:
        """``POST /incidents/{incident_id}/notes``."""

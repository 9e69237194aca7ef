"""What the use cases need from storage: two repositories and one transaction around them.

These are protocols so the use cases can run against in-memory fakes in unit tests; the
PostgreSQL implementations live in ``adapters.postgres`` and the modules it binds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from fireline_contracts import PagerDutySyncAttempted
from fireline_pagerduty_ingest.domain.alert import AlertEventType
from fireline_pagerduty_ingest.domain.delivery import ClaimedDelivery, DeliveryStatus, FailedAttempt
from fireline_pagerduty_ingest.domain.integration import Integration, IntegrationSettings
from fireline_pagerduty_ingest.domain.sync import (
    Action,
    IncidentOrigin,
    PagerDutyLink,
    SyncRequest,
    Verdict,
)
from fireline_pagerduty_ingest.domain.target import SealedCredentials, WebhookTarget
from fireline_pagerduty_ingest.service_layer.integration_events import IntegrationEventType
from fireline_runtime.unit_of_work import Transactional


class IntegrationRepository(Protocol):
    """Integrations and their signing secrets.

    Every change to what ``webhook_target`` returns must reach the receivers' target caches when
    its transaction commits (the PostgreSQL adapter NOTIFYs in that transaction).
    """

    async def add(
        self, *, integration_id: UUID, org_id: UUID, settings: IntegrationSettings
    ) -> None:
        """Store a new integration (without secrets)."""

    async def get(
        self, *, org_id: UUID, integration_id: UUID, for_update: bool = False
    ) -> Integration | None:
        """The live integration of ``org_id``; ``for_update`` locks it until commit."""

    async def of_org(self, *, org_id: UUID) -> list[Integration]:
        """The org's live integrations, oldest first."""

    async def update(self, *, integration_id: UUID, settings: IntegrationSettings) -> None:
        """Replace the integration's settings."""

    async def api_token_ciphertext(self, integration_id: UUID) -> bytes | None:
        """The integration's sealed API token, if it has one."""

    async def delete(self, *, org_id: UUID, integration_id: UUID) -> bool:
        """Mark the integration deleted and wipe its secrets; False if there was none."""

    async def add_secret(self, *, integration_id: UUID, secret_id: UUID, ciphertext: bytes) -> None:
        """Store a new active signing secret, sealed."""

    async def retire_secrets(
        self, *, integration_id: UUID, secret_ids: Collection[UUID] | None
    ) -> None:
        """Retire the given active secrets (all when None); their ciphertext is wiped."""

    async def webhook_target(self, integration_id: UUID) -> WebhookTarget | None:
        """The live integration with its active secrets, in one round trip."""

    async def credentials(self, integration_id: UUID) -> SealedCredentials | None:
        """REST settings of the integration, even deleted: its accepted deliveries still go out."""


class DeliveryRepository(Protocol):
    """Webhook deliveries: the durable record the receiver writes and the worker drains.

    The receiver stores deliveries through the group-committing ``DeliveryInbox``
    (``service_layer.ports``), not through a unit of work.
    """

    async def status_of(self, *, integration_id: UUID, dedupe_key: str) -> DeliveryStatus | None:
        """The status of the stored delivery with that dedupe key, if any."""

    async def claim(self, *, limit: int, claim_id: UUID, lease_s: float) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` pending deliveries, at most one per PagerDuty incident.

        Only the oldest pending delivery of each incident can be claimed; a lease that expires
        makes the delivery claimable again. Ordered by id (arrival order).
        """

    async def lock_claims(self, claims: Sequence[tuple[int, UUID]]) -> set[int]:
        """Lock the (delivery id, claim id) deliveries these claims still hold; their ids.

        A delivery missing from the answer was taken over by another worker (its lease ran out).
        """

    async def mark_published(self, published: Sequence[tuple[int, str]]) -> None:
        """Record (delivery id, enrichment status) deliveries as published, with how their
        enrichment went."""

    async def release(self, *, delivery_id: int, claim_id: UUID, failure: FailedAttempt) -> None:
        """Give a failed delivery back for a later retry, or mark it failed for good."""

    async def delete_finished(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` deliveries that finished before the cutoff; how many went.

        Pending deliveries (``received``) are never touched, whatever their age.
        """


class SyncRepository(Protocol):
    """Fireline → PagerDuty: which integration each incident came from, and the changes to send.

    Requests are leased like deliveries: ``claim`` moves a request's due time forward by the
    lease, so one whose dispatcher died is claimed again once the lease is over.
    """

    async def link_syncing(self, origins: Sequence[IncidentOrigin]) -> int:
        """Link each incident to the integration whose stored deliveries named its PagerDuty
        incident first, when that integration is live and has ``sync_to_pagerduty`` on; how
        many links are new (an incident's first link stays)."""

    async def link_of(self, incident_id: UUID) -> PagerDutyLink | None: ...

    async def add(
        self,
        *,
        request_id: UUID,
        source_event_id: UUID,
        link: PagerDutyLink,
        action: Action,
        note: str | None,
    ) -> bool:
        """Store a pending request, due now; False when that incidents event already made one."""

    async def claim(
        self, *, limit: int, claim_id: UUID, now: datetime, lease_until: datetime
    ) -> list[SyncRequest]:
        """Lease up to ``limit`` due requests, only the oldest pending one of each incident; the
        attempt is counted and its time recorded now, before the call."""

    async def record(
        self,
        request: SyncRequest,
        verdict: Verdict,
        *,
        at: datetime,
        pagerduty_user_id: str | None,
    ) -> bool:
        """Record an attempt's verdict; False when the claim was lost (its lease ran out)."""

    async def match_echo(
        self,
        *,
        integration_id: UUID,
        external_id: str,
        action: Action,
        agent_id: str | None,
        received_at: datetime,
        event_id: str,
        note: str | None = None,
    ) -> UUID | None:
        """Mark the request whose echo this PagerDuty event is (see ``domain.sync``); its id.
        A note's echo must carry the note's text."""


class UnitOfWork(Transactional, Protocol):
    """The repositories and the outbox, on one transaction (``Transactional``).

    The storage adapters raise ``UnstorableValue`` (``domain.errors``) for a value the database
    refuses, so a use case can tell bad content from an outage.
    """

    @property
    def integrations(self) -> IntegrationRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def sync(self) -> SyncRepository: ...

    async def publish(
        self, event: AlertEventType | IntegrationEventType | PagerDutySyncAttempted
    ) -> None:
        """Queue ``event`` on its topic (alerts, integrations or PagerDuty sync); it is sent
        only if the transaction commits."""

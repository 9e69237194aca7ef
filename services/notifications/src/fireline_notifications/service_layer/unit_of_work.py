"""What the use cases need from storage: three repositories and one transaction around them.

Protocols, so the use cases can run against in-memory fakes in unit tests; the PostgreSQL
implementations live in ``adapters.postgres``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from fireline_contracts import (
    WebhookEndpointChanged,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointDisabled,
    WebhookEndpointSecretRotated,
)
from fireline_notifications.domain.delivery import Attempt, Delivery, Verdict
from fireline_notifications.domain.endpoint import Endpoint, SigningSecret
from fireline_notifications.domain.message import IncidentSnapshot
from fireline_runtime.unit_of_work import Transactional

EndpointEvent = (
    WebhookEndpointCreated
    | WebhookEndpointChanged
    | WebhookEndpointSecretRotated
    | WebhookEndpointDeleted
    | WebhookEndpointDisabled
)


@dataclass(frozen=True)
class PendingAge:
    endpoint_id: UUID
    pending: int
    oldest_age_s: float


class EndpointRepository(Protocol):
    async def add(self, endpoint: Endpoint, secret: SigningSecret) -> None:
        """Store a new endpoint and its first signing secret."""

    async def get(
        self, org_id: UUID | None, endpoint_id: UUID, *, for_update: bool = False
    ) -> Endpoint | None:
        """The endpoint, if it is ``org_id``'s (any org's when ``org_id`` is None)."""

    async def of_org(self, org_id: UUID) -> list[Endpoint]:
        """The org's endpoints, oldest first."""

    async def of_orgs(self, org_ids: Collection[UUID]) -> list[Endpoint]:
        """Every endpoint of these orgs (enabled or not), each org's oldest first."""

    async def save(self, endpoint: Endpoint) -> None:
        """Store an existing endpoint's state."""

    async def delete(self, org_id: UUID, endpoint_id: UUID) -> bool:
        """Delete the endpoint with its secrets and deliveries; False when there was none."""

    async def enabled_of(self, endpoint_ids: Collection[UUID]) -> list[Endpoint]:
        """Those of the endpoints that exist and are enabled."""

    async def signing_secrets(
        self, endpoint_ids: Collection[UUID], now: datetime
    ) -> dict[UUID, list[SigningSecret]]:
        """By endpoint, the secrets that sign at ``now``, newest first."""

    async def add_secret(self, endpoint_id: UUID, secret: SigningSecret) -> None:
        """Store another signing secret for the endpoint."""

    async def expire_secrets(self, endpoint_id: UUID, at: datetime) -> None:
        """Make the endpoint's secrets that would sign after ``at`` stop signing then."""


class DeliveryRepository(Protocol):
    async def add(self, delivery: Delivery) -> bool:
        """Store a new delivery; False (nothing stored) when it exists already."""

    async def add_many(self, deliveries: Sequence[Delivery]) -> int:
        """Store the deliveries that do not exist yet; how many were new."""

    async def get(self, endpoint_id: UUID, delivery_id: UUID) -> Delivery | None:
        """The endpoint's delivery with that id, if any."""

    async def claim(
        self,
        *,
        per_endpoint: int,
        total: int,
        in_flight: dict[UUID, int],
        now: datetime,
        lease_until: datetime,
    ) -> list[Delivery]:
        """Up to ``total`` due deliveries of enabled endpoints, oldest first, at most
        ``per_endpoint`` less what is already ``in_flight`` of each; each is leased (not due
        again) until ``lease_until``. Rows another process is claiming are skipped, never
        waited for."""

    async def record(self, delivery: Delivery, verdict: Verdict, attempt: Attempt) -> None:
        """Store the attempt and the delivery's state after it."""

    async def reschedule(self, delivery_id: UUID, at: datetime) -> None:
        """Make a delivery pending and due at ``at`` (a retry asked for by hand)."""

    async def attempts(self, endpoint_id: UUID, *, before: int | None, limit: int) -> list[Attempt]:
        """Up to ``limit`` attempts to the endpoint, newest first, below ``before`` (the
        number of the last attempt of the previous page)."""

    async def prune(self, finished_before: datetime) -> int:
        """Delete deliveries finished before then, with their attempts; the number deleted."""

    async def pending_ages(self, now: datetime) -> list[PendingAge]:
        """Per endpoint with pending deliveries: how many, and how long the oldest has waited."""


class IncidentDirectory(Protocol):
    async def get_many(self, incident_ids: Sequence[UUID]) -> list[IncidentSnapshot]:
        """What is known of those incidents (none for an incident never seen)."""

    async def save_many(self, snapshots: Sequence[IncidentSnapshot]) -> None:
        """Store what is known of the incidents (each at most once in ``snapshots``)."""


class UnitOfWork(Transactional, Protocol):
    """The repositories and the outbox, on one transaction (``Transactional``)."""

    @property
    def endpoints(self) -> EndpointRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def incidents(self) -> IncidentDirectory: ...

    async def publish(self, event: EndpointEvent) -> None:
        """Queue ``event`` in the outbox; it is sent only if the transaction commits."""

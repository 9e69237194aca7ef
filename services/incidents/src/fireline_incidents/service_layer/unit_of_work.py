"""What the use cases need from storage: three repositories and one transaction around them.

These are protocols so the use cases can run against in-memory fakes in unit tests; the
PostgreSQL implementations live in ``adapters.postgres`` and the ``adapters.*_repository`` modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from fireline_contracts import incidents as contract
from fireline_incidents.domain.model import DirectoryUser, Incident, IncidentFilter
from fireline_incidents.domain.pagination import PagePosition
from fireline_incidents.domain.timeline import TimelineEntry, TimelinePosition
from fireline_runtime.unit_of_work import Transactional

SourceKey = tuple[UUID, str, str]
"""(org id, source kind, external id): the alert an incident was started from."""

IncidentEventType = (
    contract.IncidentStarted
    | contract.IncidentStatusChanged
    | contract.IncidentSeverityChanged
    | contract.IncidentAssignmentChanged
    | contract.IncidentDetailsChanged
    | contract.IncidentTimelineEntryAdded
)


class SourceIncidents(Protocol):
    """What applying PagerDuty's events needs of the incidents."""

    async def reserve_number(self, org_id: UUID) -> int:
        """The org's next incident number; locks the org's numbering until the transaction ends.

        Incident starts of one org serialise on this lock, so call it as late as possible.
        """

    async def unreserve_number(self, org_id: UUID, number: int) -> None:
        """Give back ``number``, the last one reserved in this transaction (no gap is left)."""

    async def get_by_source(
        self, org_id: UUID, source: str, external_id: str, *, for_update: bool = False
    ) -> Incident | None:
        """The org's incident started from that alert, if any."""

    async def add(self, incident: Incident) -> None:
        """Store a new incident."""

    async def save(self, incident: Incident) -> None:
        """Store the state of an existing incident (everything but its id, org and number)."""


class IncidentRepository(SourceIncidents, Protocol):
    async def get(
        self, org_id: UUID, incident_id: UUID, *, for_update: bool = False
    ) -> Incident | None:
        """The org's incident with that id, if any."""

    async def list(
        self, org_id: UUID, filters: IncidentFilter, *, after: PagePosition | None, limit: int
    ) -> list[Incident]:
        """Up to ``limit`` of the org's incidents, newest first, starting after ``after``."""

    async def count_by_status(self, org_id: UUID) -> dict[str, int]:
        """How many of the org's incidents are in each status (absent: none)."""


class SourceTimeline(Protocol):
    """What applying PagerDuty's events needs of the timeline."""

    async def add(self, entry: TimelineEntry) -> TimelineEntry | None:
        """Store ``entry``; None (and nothing stored) when its incident already has an entry for
        the same source event. The stored entry carries its ``seq``."""

    async def restamp_started(self, incident_id: UUID, at: datetime) -> None:
        """Move the incident's ``started`` entry to ``at`` (its creation time moved earlier)."""


class Timeline(SourceTimeline, Protocol):
    async def list(
        self, incident_id: UUID, *, after: TimelinePosition | None, limit: int
    ) -> list[TimelineEntry]:
        """Up to ``limit`` entries of the incident, oldest first, starting after ``after``."""


class CreatorDirectory(Protocol):
    """What applying PagerDuty's events needs of the users: who an alert's emails name."""

    async def find_active(self, org_id: UUID, emails: Sequence[str]) -> list[DirectoryUser]:
        """Active users of ``org_id`` whose (normalised) email is one of ``emails``."""


class UserDirectory(CreatorDirectory, Protocol):
    async def record(self, user: DirectoryUser, *, version_at: datetime) -> bool:
        """Store the user's state unless a newer one is stored; True when it was stored."""

    async def get_active(self, org_id: UUID, user_id: UUID) -> DirectoryUser | None:
        """The user, if they are an active user of ``org_id``."""


class SourceEventWork(Protocol):
    """What the use cases that apply PagerDuty's events need: the part of :class:`UnitOfWork`
    a consumer batch (:class:`BatchUnitOfWork`) provides too. Entering begins the use case's
    transaction (or joins the batch's) and leaving commits it."""

    @property
    def incidents(self) -> SourceIncidents: ...

    @property
    def users(self) -> CreatorDirectory: ...

    @property
    def timeline(self) -> SourceTimeline: ...

    async def publish(self, event: IncidentEventType) -> None:
        """Queue ``event`` in the outbox; it is sent only if the transaction commits."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWork(Transactional, Protocol):
    """The repositories and the outbox, on one transaction (``Transactional``)."""

    @property
    def incidents(self) -> IncidentRepository: ...

    @property
    def users(self) -> UserDirectory: ...

    @property
    def timeline(self) -> Timeline: ...

    async def publish(self, event: IncidentEventType) -> None:
        """Queue ``event`` in the outbox; it is sent only if the transaction commits."""


class BatchUnitOfWork(SourceEventWork, Protocol):
    """A unit of work for a consumer batch: what the batch will ask for is read up front, and
    what it did is written together at the end, inside the consumer's transaction."""

    async def prefetch(
        self,
        *,
        sources: Sequence[SourceKey],
        source_events: Sequence[tuple[SourceKey, str, str]],
        emails: Sequence[tuple[UUID, str]],
    ) -> None:
        """Read the incidents ``sources`` name, whether their (timeline source, source event id)
        pairs are recorded, and the active users of (org, email) pairs."""

    async def flush(self) -> None:
        """Write everything the batch's use cases did."""

"""Use cases: reading incidents and their timelines, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from fireline_incidents.domain.errors import IncidentNotFound
from fireline_incidents.domain.model import (
    Incident,
    IncidentFilter,
)
from fireline_incidents.domain.pagination import PagePosition, decode_cursor, encode_cursor
from fireline_incidents.domain.timeline import (
    TimelineEntry,
    TimelinePosition,
    decode_timeline_cursor,
    encode_timeline_cursor,
)
from fireline_incidents.service_layer.unit_of_work import (
    UnitOfWork,
)


@dataclass(frozen=True)
class IncidentPage:
    items: list[Incident]
    next_cursor: str | None


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineEntry]
    next_cursor: str | None


async def get_incident(*, uow: UnitOfWork, org_id: UUID, incident_id: UUID) -> Incident:
    """One incident of the org."""
    async with uow.reading() as reader:
        incident = await reader.incidents.get(org_id, incident_id)
    if incident is None:
        raise IncidentNotFound("No such incident.")
    return incident


async def list_incidents(
    *,
    uow: UnitOfWork,
    org_id: UUID,
    filters: IncidentFilter,
    limit: int,
    cursor: str | None,
) -> IncidentPage:
    """A page of the org's incidents, newest first, and the cursor of the next page if any."""
    after = decode_cursor(cursor) if cursor is not None else None
    async with uow.reading() as reader:
        # One row more than asked tells whether another page exists without counting.
        rows = await reader.incidents.list(org_id, filters, after=after, limit=limit + 1)
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(PagePosition(created_at=last.created_at, incident_id=last.id))
    return IncidentPage(items=items, next_cursor=next_cursor)


async def list_timeline(
    *, uow: UnitOfWork, org_id: UUID, incident_id: UUID, limit: int, cursor: str | None
) -> TimelinePage:
    """A page of the org's incident's timeline, oldest first."""
    after = decode_timeline_cursor(cursor, incident_id=incident_id) if cursor else None
    async with uow.reading() as reader:
        if await reader.incidents.get(org_id, incident_id) is None:
            raise IncidentNotFound("No such incident.")
        rows = await reader.timeline.list(incident_id, after=after, limit=limit + 1)
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_timeline_cursor(
            TimelinePosition(incident_id=incident_id, occurred_at=last.occurred_at, seq=last.seq)
        )
    return TimelinePage(items=items, next_cursor=next_cursor)

"""What every use case that changes an incident shares: its timeline entries, published with
the change (a new incident's inside its start), and the log line of a start."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import uuid4

from fireline_incidents.domain.model import (
    Incident,
)
from fireline_incidents.domain.timeline import (
    SYSTEM,
    Actor,
    EntrySource,
    TimelineEntry,
    short,
    started_summary,
)
from fireline_incidents.service_layer import events
from fireline_incidents.service_layer.unit_of_work import (
    SourceEventWork,
)

log = logging.getLogger(__name__)


async def record_started_entry(
    uow: SourceEventWork, incident: Incident, *, source: EntrySource, started_by: str, creator: str
) -> TimelineEntry:
    """Store the entry every incident starts with; :func:`announce_start` publishes it."""
    entry = await add_entry(
        uow,
        incident,
        kind="started",
        at=incident.created_at,
        actor=SYSTEM,
        source=source,
        source_event_id=None,
        summary=started_summary(incident, started_by=started_by, creator=creator),
        announce=False,
    )
    assert entry is not None  # only an entry with a source event id can be there already
    return entry


async def announce_start(
    uow: SourceEventWork, incident: Incident, *entries: TimelineEntry | None
) -> None:
    """Publish a new incident's start, carrying its first timeline entries (those stored)."""
    await uow.publish(
        events.started(incident, timeline=[entry for entry in entries if entry is not None])
    )


async def add_entry(
    uow: SourceEventWork,
    incident: Incident,
    *,
    kind: str,
    at: datetime,
    actor: Actor,
    source: EntrySource,
    source_event_id: str | None,
    summary: str,
    text: str | None = None,
    announce: bool = True,
) -> TimelineEntry | None:
    """Store an entry and publish it; None when the source event already has its entry.

    ``announce=False`` stores it without an event: a new incident's first entries, which its
    start carries (:func:`announce_start`).
    """
    entry = await uow.timeline.add(
        TimelineEntry(
            id=uuid4(),
            org_id=incident.org_id,
            incident_id=incident.id,
            kind=kind,
            occurred_at=at,
            actor=actor,
            source=source,
            source_event_id=source_event_id,
            summary=short(summary),
            text=text,
        )
    )
    if entry is not None and announce:
        await uow.publish(events.timeline_entry_added(entry))
    return entry


def log_started(incident: Incident, *, started_by: str) -> None:
    # Ids only: the alert's emails are personal data and stay out of the logs.
    log.info(
        "incident started",
        extra={
            "incident_id": str(incident.id),
            "org_id": str(incident.org_id),
            "number": incident.number,
            "source": incident.source.kind,
            "started_by": started_by,
            "creator_matched": incident.creator_id is not None,
        },
    )

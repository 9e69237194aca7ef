"""Use cases: what people do to incidents through the API: open one, change it, add a note."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from fireline_contracts import utc_now
from fireline_incidents.domain.commands import (
    AddNote,
    ChangeIncidentStatus,
    OpenIncident,
)
from fireline_incidents.domain.errors import IncidentNotFound, UnknownCreator
from fireline_incidents.domain.model import (
    INITIAL_STATUS,
    MANUAL_SOURCE,
    Incident,
    Source,
    change_severity,
    change_status,
    clean_title,
    incident_type_or_default,
    severity_or_default,
)
from fireline_incidents.domain.timeline import (
    Actor,
    TimelineEntry,
    clean_note,
    short,
)
from fireline_incidents.service_layer import events
from fireline_incidents.service_layer.entries import (
    add_entry,
    announce_start,
    log_started,
    record_started_entry,
)
from fireline_incidents.service_layer.unit_of_work import (
    SourceEventWork,
    UnitOfWork,
)


async def add_note(*, uow: UnitOfWork, command: AddNote) -> TimelineEntry:
    """A person's note on the org's incident."""
    text = clean_note(command.text)
    async with uow:
        incident = await uow.incidents.get(command.org_id, command.incident_id, for_update=True)
        if incident is None:
            raise IncidentNotFound("No such incident.")
        entry = await add_entry(
            uow,
            incident,
            kind="note",
            at=utc_now(),
            actor=command.actor,
            source="api",
            source_event_id=None,
            summary=short(f"Note by {command.actor.label}: {text}"),
            text=text,
        )
    assert entry is not None  # entries without a source event id never collide
    return entry


async def open_incident(*, uow: UnitOfWork, command: OpenIncident) -> Incident:
    """Start an incident by hand; a creator, if named, must be an active user of the org."""
    title = clean_title(command.title)
    now = utc_now()
    async with uow:
        if (
            command.creator_id is not None
            and await uow.users.get_active(command.org_id, command.creator_id) is None
        ):
            raise UnknownCreator("The creator is not an active user of this organisation.")
        incident = Incident(
            id=uuid4(),
            org_id=command.org_id,
            number=await uow.incidents.reserve_number(command.org_id),
            title=title,
            status=INITIAL_STATUS,
            severity=severity_or_default(command.severity),
            incident_type=incident_type_or_default(command.incident_type),
            creator_id=command.creator_id,
            source=Source(kind=MANUAL_SOURCE),
            created_at=now,
            acknowledged_at=None,
            resolved_at=None,
            updated_at=now,
        )
        await uow.incidents.add(incident)
        creator = (
            f"creator {command.creator_id} (named when it was opened)"
            if command.creator_id
            else "no creator (none was named)"
        )
        opening = await record_started_entry(
            uow, incident, source="api", started_by="the API", creator=creator
        )
        await announce_start(uow, incident, opening)
    log_started(incident, started_by="manual")
    return incident


async def change_incident_status(*, uow: UnitOfWork, command: ChangeIncidentStatus) -> Incident:
    """Set an incident's status and/or severity; setting what it already has changes nothing."""
    now = utc_now()
    async with uow:
        incident = await uow.incidents.get(command.org_id, command.incident_id, for_update=True)
        if incident is None:
            raise IncidentNotFound("No such incident.")
        by = f" by {command.actor.label}"
        if command.status is not None:
            change = change_status(incident, command.status, at=now, recorded_at=now)
            if change is not None:
                await uow.incidents.save(change.incident)
                await uow.publish(events.status_changed(change, changed_in="api"))
                summary = f"Status set to {command.status}{by}"
                await _api_entry(uow, incident, "status_changed", command.actor, summary, now)
                incident = change.incident
        if command.severity is not None:
            severity = change_severity(incident, command.severity, at=now, recorded_at=now)
            if severity is not None:
                await uow.incidents.save(severity.incident)
                await uow.publish(events.severity_changed(severity))
                summary = f"Severity set to {severity.incident.severity}{by}"
                await _api_entry(uow, incident, "severity_changed", command.actor, summary, now)
                incident = severity.incident
        return incident


async def _api_entry(
    uow: SourceEventWork, incident: Incident, kind: str, actor: Actor, summary: str, at: datetime
) -> None:
    await add_entry(
        uow,
        incident,
        kind=kind,
        at=at,
        actor=actor,
        source="api",
        source_event_id=None,
        summary=summary,
    )

"""Use cases of the incidents service: one function per command."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final
from uuid import UUID, uuid4

from fireline_contracts import utc_now
from fireline_incidents.domain.commands import (
    AddNote,
    ApplyAlert,
    ChangeIncidentStatus,
    OpenIncident,
    RecordActivity,
    RecordSyncAttempt,
    RecordUser,
)
from fireline_incidents.domain.errors import IncidentNotFound, UnknownCreator
from fireline_incidents.domain.model import (
    INITIAL_STATUS,
    MANUAL_SOURCE,
    CreatorMatch,
    DirectoryUser,
    Incident,
    IncidentFilter,
    Source,
    SourceSnapshot,
    SourceSync,
    alert_title,
    candidate_emails,
    change_severity,
    change_status,
    clean_title,
    incident_type_or_default,
    match_creator,
    normalize_email,
    severity_or_default,
    sync_from_source,
)
from fireline_incidents.domain.pagination import PagePosition, decode_cursor, encode_cursor
from fireline_incidents.domain.timeline import (
    FIRELINE,
    SYSTEM,
    Actor,
    EntrySource,
    TimelineEntry,
    TimelinePosition,
    clean_note,
    decode_timeline_cursor,
    describe_source_event,
    encode_timeline_cursor,
    short,
    started_summary,
    sync_summary,
)
from fireline_incidents.service_layer import events
from fireline_incidents.service_layer.unit_of_work import (
    BatchUnitOfWork,
    SourceEventWork,
    UnitOfWork,
)

log = logging.getLogger(__name__)

_SOURCE_ENTRIES: Final[EntrySource] = "pagerduty"
"""The timeline source of the entries PagerDuty's events add."""

# Builds a new incident from its number and the users its emails matched.
_Starter = Callable[[int, Sequence[DirectoryUser]], tuple[Incident, CreatorMatch]]


@dataclass(frozen=True)
class IncidentPage:
    items: list[Incident]
    next_cursor: str | None


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineEntry]
    next_cursor: str | None


async def record_user(*, uow: UnitOfWork, command: RecordUser) -> bool:
    """Store a user's latest state in the projection; False if a newer state is already stored."""
    user = DirectoryUser(
        user_id=command.user_id,
        org_id=command.org_id,
        email=normalize_email(command.email),
        active=command.active,
    )
    async with uow:
        return await uow.users.record(user, version_at=command.version_at)


async def apply_alert(*, uow: SourceEventWork, command: ApplyAlert) -> Incident:
    """Record a PagerDuty event that carried the whole incident, and mirror the incident's state.

    Any such event can start the incident, not only the trigger: the payload carries everything
    an incident needs, so an event that overtakes its trigger (or whose trigger never reaches us)
    is not lost. Each PagerDuty event is applied once: its timeline entry is the record that it
    was, so a redelivery or replay (even under another delivery id) finds it and changes nothing.
    State then follows :func:`sync_from_source`'s ordering rule.
    """
    recorded_at = utc_now()
    async with uow:
        incident, started = await _find_or_start(
            uow,
            org_id=command.org_id,
            source=command.source,
            external_id=command.external_id,
            start=lambda number, users: _incident_from_alert(command, number, users, recorded_at),
            emails=candidate_emails(command.creator_email, command.oncall_emails),
            started_by=f"PagerDuty {command.event_type}",
        )
        if command.fireline_change is not None:
            # Fireline's own change coming back: its "Resolved in PagerDuty" entry already says
            # it, so no second entry and no move (``sync_from_source``). Without an entry to
            # find, a replay is stopped by the ordering rule instead: its time is no longer new.
            return await _apply_echo(uow, incident, command, recorded_at)
        kind, summary = describe_source_event(
            command.event_type,
            actor=command.actor,
            status=command.status,
            priority=command.priority,
            priority_severity=command.priority_severity,
            assignment=command.assignment,
            merged_into=command.merged_into,
            service_name=command.service_name,
            incident_type=command.source_incident_type,
        )
        entry = await _add_entry(
            uow,
            incident,
            kind=kind,
            at=command.occurred_at,
            actor=command.actor,
            source=_SOURCE_ENTRIES,
            source_event_id=command.event_id,
            summary=summary,
        )
        if entry is None:
            return incident  # this PagerDuty event was applied before
        if incident.source_state_at is None and not started:
            # Started from a reference (a note that overtook every full event): now the details
            # are known. The creator is matched from this event's emails if none was.
            incident = await _fill_details(uow, incident, command, recorded_at)
        sync = sync_from_source(incident, _snapshot(command), recorded_at=recorded_at)
        if sync.changed:
            await _record_sync(uow, sync)
            if sync.incident.created_at < incident.created_at:
                await uow.timeline.restamp_started(incident.id, sync.incident.created_at)
            incident = sync.incident
    return incident


SourceEvent = ApplyAlert | RecordActivity
"""A PagerDuty event, as the alerts topic delivers it."""


async def prefetch_source_events(*, uow: BatchUnitOfWork, commands: Sequence[SourceEvent]) -> None:
    """Read in one go what applying ``commands`` one after another will ask the batch for."""
    await uow.prefetch(
        sources=[(c.org_id, c.source, c.external_id) for c in commands],
        source_events=[
            ((c.org_id, c.source, c.external_id), _SOURCE_ENTRIES, c.event_id)
            for c in commands
            if c.event_id is not None
        ],
        emails=[
            (c.org_id, email)
            for c in commands
            if isinstance(c, ApplyAlert)
            for email in candidate_emails(c.creator_email, c.oncall_emails)
        ],
    )


async def apply_source_event(*, uow: SourceEventWork, command: SourceEvent) -> Incident:
    """Apply one PagerDuty event, whichever use case its kind needs."""
    if isinstance(command, ApplyAlert):
        return await apply_alert(uow=uow, command=command)
    return await record_activity(uow=uow, command=command)


async def record_activity(*, uow: SourceEventWork, command: RecordActivity) -> Incident:
    """Put a PagerDuty note, status update, responder, bridge, field or workflow change on the
    incident's timeline, starting the incident from the reference if it is not known yet."""
    recorded_at = utc_now()
    async with uow:
        incident, _ = await _find_or_start(
            uow,
            org_id=command.org_id,
            source=command.source,
            external_id=command.external_id,
            start=lambda number, users: _incident_from_reference(command, number, recorded_at),
            emails=[],
            started_by=f"PagerDuty {command.event_type}",
        )
        if command.fireline_change is not None:
            return incident  # a note Fireline posted: its own entry is already there
        await _add_entry(
            uow,
            incident,
            kind=command.kind,
            at=command.occurred_at,
            actor=command.actor,
            source=_SOURCE_ENTRIES,
            source_event_id=command.event_id,
            summary=command.summary,
            text=command.text,
        )
    return incident


async def record_sync_attempt(*, uow: UnitOfWork, command: RecordSyncAttempt) -> bool:
    """Put an attempt at sending a Fireline change to PagerDuty on the incident's timeline;
    False when the incident is unknown or the attempt is already there."""
    async with uow:
        incident = await uow.incidents.get(command.org_id, command.incident_id)
        if incident is None:
            return False
        entry = await _add_entry(
            uow,
            incident,
            kind="pagerduty_sync",
            at=command.attempted_at,
            actor=FIRELINE,
            source="pagerduty_sync",
            source_event_id=command.event_id,
            summary=sync_summary(
                action=command.action,
                outcome=command.outcome,
                attempt=command.attempt,
                status_code=command.status_code,
                detail=command.detail,
                next_attempt_at=command.next_attempt_at,
            ),
        )
    return entry is not None


async def add_note(*, uow: UnitOfWork, command: AddNote) -> TimelineEntry:
    """A person's note on the org's incident."""
    text = clean_note(command.text)
    async with uow:
        incident = await uow.incidents.get(command.org_id, command.incident_id, for_update=True)
        if incident is None:
            raise IncidentNotFound("No such incident.")
        entry = await _add_entry(
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
        await uow.publish(events.started(incident))
        creator = (
            f"creator {command.creator_id} (named when it was opened)"
            if command.creator_id
            else "no creator (none was named)"
        )
        await _add_started_entry(uow, incident, source="api", started_by="the API", creator=creator)
    _log_started(incident, started_by="manual")
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


# --- starting incidents -------------------------------------------------------------------------


async def _find_or_start(
    uow: SourceEventWork,
    *,
    org_id: UUID,
    source: str,
    external_id: str,
    start: _Starter,
    emails: list[str],
    started_by: str,
) -> tuple[Incident, bool]:
    incident = await uow.incidents.get_by_source(org_id, source, external_id, for_update=True)
    if incident is not None:
        return incident, False
    # Before the numbering lock: reads that need no lock should not lengthen its hold.
    users = await uow.users.find_active(org_id, emails) if emails else []
    number = await uow.incidents.reserve_number(org_id)
    # Looked up again under the lock: another consumer may have started it meanwhile.
    incident = await uow.incidents.get_by_source(org_id, source, external_id, for_update=True)
    if incident is not None:
        await uow.incidents.unreserve_number(org_id, number)
        return incident, False
    incident, match = start(number, users)
    await uow.incidents.add(incident)
    await uow.publish(events.started(incident))
    await _add_started_entry(
        uow, incident, source="pagerduty", started_by=started_by, creator=_creator_text(match)
    )
    _log_started(incident, started_by=started_by)
    return incident, True


def _creator_text(match: CreatorMatch) -> str:
    if match.user_id is None:
        return f"no creator ({match.reason})"
    return f"creator {match.user_id} ({match.reason})"


def _incident_from_alert(
    command: ApplyAlert, number: int, users: Sequence[DirectoryUser], recorded_at: datetime
) -> tuple[Incident, CreatorMatch]:
    match = match_creator(
        org_id=command.org_id,
        creator_email=command.creator_email,
        oncall_emails=command.oncall_emails,
        users=users,
    )
    incident = Incident(
        id=uuid4(),
        org_id=command.org_id,
        number=number,
        title=alert_title(command.title, source=command.source, external_id=command.external_id),
        status=INITIAL_STATUS,
        # The priority's mapped severity wins over the integration's default classification.
        severity=severity_or_default(command.priority_severity or command.severity),
        incident_type=incident_type_or_default(command.incident_type),
        creator_id=match.user_id,
        source=Source(
            kind=command.source,
            external_id=command.external_id,
            html_url=command.html_url,
            service_id=command.service_id,
            service_name=command.service_name,
        ),
        # When the alert says it happened, so time-to-acknowledge is measured on one clock.
        created_at=command.occurred_at,
        acknowledged_at=None,
        resolved_at=None,
        updated_at=recorded_at,
        # The state is mirrored by the sync that follows; the priority is the start's own.
        source_priority=command.priority,
    )
    return incident, match


def _incident_from_reference(
    command: RecordActivity, number: int, recorded_at: datetime
) -> tuple[Incident, CreatorMatch]:
    incident = Incident(
        id=uuid4(),
        org_id=command.org_id,
        number=number,
        title=alert_title(
            command.title or "", source=command.source, external_id=command.external_id
        ),
        status=INITIAL_STATUS,
        severity=severity_or_default(None),
        incident_type=incident_type_or_default(None),
        creator_id=None,
        source=Source(
            kind=command.source, external_id=command.external_id, html_url=command.html_url
        ),
        created_at=command.occurred_at,
        acknowledged_at=None,
        resolved_at=None,
        updated_at=recorded_at,
    )
    return incident, CreatorMatch(None, "only a reference to the incident has arrived yet")


async def _fill_details(
    uow: SourceEventWork, incident: Incident, command: ApplyAlert, recorded_at: datetime
) -> Incident:
    creator_id = incident.creator_id
    if creator_id is None:
        emails = candidate_emails(command.creator_email, command.oncall_emails)
        users = await uow.users.find_active(command.org_id, emails) if emails else []
        creator_id = match_creator(
            org_id=command.org_id,
            creator_email=command.creator_email,
            oncall_emails=command.oncall_emails,
            users=users,
        ).user_id
    filled = replace(
        incident,
        title=alert_title(command.title, source=command.source, external_id=command.external_id),
        incident_type=incident_type_or_default(command.incident_type),
        severity=severity_or_default(command.severity),
        creator_id=creator_id,
        source=replace(
            incident.source,
            html_url=command.html_url or incident.source.html_url,
            service_id=command.service_id,
            service_name=command.service_name,
        ),
        updated_at=recorded_at,
    )
    # Saved by the sync that follows (a first full event is always the newest state so far);
    # announced here so that consumers of the incidents topic correct IncidentStarted's
    # placeholders too.
    await uow.publish(events.details_changed(filled, at=recorded_at))
    return filled


async def _apply_echo(
    uow: SourceEventWork, incident: Incident, command: ApplyAlert, recorded_at: datetime
) -> Incident:
    sync = sync_from_source(
        incident, replace(_snapshot(command), echo=True), recorded_at=recorded_at
    )
    if not sync.changed:
        return incident
    await _record_sync(uow, sync)
    return sync.incident


def _snapshot(command: ApplyAlert) -> SourceSnapshot:
    return SourceSnapshot(
        event_type=command.event_type,
        status=command.status,
        occurred_at=command.occurred_at,
        priority=command.priority,
        priority_severity=command.priority_severity,
        assignment=command.assignment,
        merged_into=command.merged_into,
    )


# --- recording changes --------------------------------------------------------------------------


async def _record_sync(uow: SourceEventWork, sync: SourceSync) -> None:
    await uow.incidents.save(sync.incident)
    if sync.status_change is not None:
        await uow.publish(events.status_changed(sync.status_change, changed_in="pagerduty"))
    if sync.severity_change is not None:
        await uow.publish(events.severity_changed(sync.severity_change))
    if sync.assignment_changed:
        await uow.publish(events.assignment_changed(sync.incident))


async def _add_started_entry(
    uow: SourceEventWork, incident: Incident, *, source: EntrySource, started_by: str, creator: str
) -> None:
    await _add_entry(
        uow,
        incident,
        kind="started",
        at=incident.created_at,
        actor=SYSTEM,
        source=source,
        source_event_id=None,
        summary=started_summary(incident, started_by=started_by, creator=creator),
    )


async def _api_entry(
    uow: SourceEventWork, incident: Incident, kind: str, actor: Actor, summary: str, at: datetime
) -> None:
    await _add_entry(
        uow,
        incident,
        kind=kind,
        at=at,
        actor=actor,
        source="api",
        source_event_id=None,
        summary=summary,
    )


async def _add_entry(
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
) -> TimelineEntry | None:
    """Store an entry and publish it; None when the source event already has its entry."""
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
    if entry is None:
        return None
    await uow.publish(events.timeline_entry_added(entry))
    return entry


def _log_started(incident: Incident, *, started_by: str) -> None:
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

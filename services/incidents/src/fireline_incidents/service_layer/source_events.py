"""Use cases: PagerDuty's events, as the alerts and sync topics deliver them, applied to
incidents."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Final
from uuid import UUID, uuid4

from fireline_contracts import utc_now
from fireline_incidents.domain.commands import (
    ApplyAlert,
    RecordActivity,
    RecordSyncAttempt,
)
from fireline_incidents.domain.model import (
    INITIAL_STATUS,
    Assignment,
    CreatorMatch,
    DirectoryUser,
    Incident,
    Source,
    SourceSnapshot,
    SourceSync,
    alert_title,
    candidate_emails,
    incident_type_or_default,
    match_creator,
    severity_or_default,
    sync_from_source,
)
from fireline_incidents.domain.timeline import (
    FIRELINE,
    EntrySource,
    TimelineEntry,
    describe_source_event,
    sync_summary,
)
from fireline_incidents.service_layer import events
from fireline_incidents.service_layer.entries import (
    add_entry,
    announce_start,
    log_started,
    record_started_entry,
)
from fireline_incidents.service_layer.unit_of_work import (
    BatchUnitOfWork,
    SourceEventWork,
    UnitOfWork,
)

_SOURCE_ENTRIES: Final[EntrySource] = "pagerduty"
"""The timeline source of the entries PagerDuty's events add."""


# Builds a new incident from its number and the users its emails matched.
_Starter = Callable[[int, Sequence[DirectoryUser]], tuple[Incident, CreatorMatch]]


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
        incident, opening = await _find_or_start(
            uow,
            org_id=command.org_id,
            source=command.source,
            external_id=command.external_id,
            start=lambda number, users: _incident_from_alert(command, number, users, recorded_at),
            emails=candidate_emails(command.creator_email, command.oncall_emails),
            started_by=f"PagerDuty {command.event_type}",
        )
        if command.fireline_change is not None:
            if opening is not None:
                await announce_start(uow, incident, opening)
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
        entry = await add_entry(
            uow,
            incident,
            kind=kind,
            at=command.occurred_at,
            actor=command.actor,
            source=_SOURCE_ENTRIES,
            source_event_id=command.event_id,
            summary=summary,
            announce=opening is None,
        )
        if opening is not None:
            # Before the sync's events: a consumer learns of the incident before its changes.
            await announce_start(uow, incident, opening, entry)
        elif entry is None:
            return incident  # this PagerDuty event was applied before
        if incident.source_state_at is None and opening is None:
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
        incident, opening = await _find_or_start(
            uow,
            org_id=command.org_id,
            source=command.source,
            external_id=command.external_id,
            start=lambda number, users: _incident_from_reference(command, number, recorded_at),
            emails=[],
            started_by=f"PagerDuty {command.event_type}",
        )
        if command.fireline_change is not None:
            if opening is not None:
                await announce_start(uow, incident, opening)
            return incident  # a note Fireline posted: its own entry is already there
        entry = await add_entry(
            uow,
            incident,
            kind=command.kind,
            at=command.occurred_at,
            actor=command.actor,
            source=_SOURCE_ENTRIES,
            source_event_id=command.event_id,
            summary=command.summary,
            text=command.text,
            announce=opening is None,
        )
        if opening is not None:
            await announce_start(uow, incident, opening, entry)
    return incident


async def record_sync_attempt(*, uow: UnitOfWork, command: RecordSyncAttempt) -> bool:
    """Put an attempt at sending a Fireline change to PagerDuty on the incident's timeline;
    False when the incident is unknown or the attempt is already there."""
    async with uow:
        incident = await uow.incidents.get(command.org_id, command.incident_id)
        if incident is None:
            return False
        entry = await add_entry(
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


async def _find_or_start(
    uow: SourceEventWork,
    *,
    org_id: UUID,
    source: str,
    external_id: str,
    start: _Starter,
    emails: list[str],
    started_by: str,
) -> tuple[Incident, TimelineEntry | None]:
    """The incident, and its started entry if it was started now: the caller announces the
    start (:func:`announce_start`) with that entry and the one it adds."""
    incident = await uow.incidents.get_by_source(org_id, source, external_id, for_update=True)
    if incident is not None:
        return incident, None
    # Before the numbering lock: reads that need no lock should not lengthen its hold.
    users = await uow.users.find_active(org_id, emails) if emails else []
    number = await uow.incidents.reserve_number(org_id)
    # Looked up again under the lock: another consumer may have started it meanwhile.
    incident = await uow.incidents.get_by_source(org_id, source, external_id, for_update=True)
    if incident is not None:
        await uow.incidents.unreserve_number(org_id, number)
        return incident, None
    incident, match = start(number, users)
    await uow.incidents.add(incident)
    opening = await record_started_entry(
        uow, incident, source="pagerduty", started_by=started_by, creator=_creator_text(match)
    )
    log_started(incident, started_by=started_by)
    return incident, opening


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
    # Started assigned, as PagerDuty's own incident was: IncidentStarted says to whom, so the
    # sync that follows finds no change and announces none (one event fewer a start).
    assignment = command.assignment or Assignment(())
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
        # The rest of the state is mirrored by the sync that follows; the priority is the
        # start's own.
        source_priority=command.priority,
        assignees=assignment.assignees,
        escalation_policy_id=assignment.escalation_policy_id,
        escalation_policy_name=assignment.escalation_policy_name,
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


async def _record_sync(uow: SourceEventWork, sync: SourceSync) -> None:
    await uow.incidents.save(sync.incident)
    if sync.status_change is not None:
        await uow.publish(events.status_changed(sync.status_change, changed_in="pagerduty"))
    if sync.severity_change is not None:
        await uow.publish(events.severity_changed(sync.severity_change))
    if sync.assignment_changed:
        await uow.publish(events.assignment_changed(sync.incident))

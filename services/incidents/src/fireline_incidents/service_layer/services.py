"""Use cases of the incidents service: one function per command."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID, uuid4

from fireline_contracts import (
    IncidentSource,
    IncidentStarted,
    IncidentStartedPayload,
    IncidentStatusChanged,
    IncidentStatusChangedPayload,
    utc_now,
)
from fireline_incidents.domain.commands import (
    ApplyAlert,
    ChangeIncidentStatus,
    OpenIncident,
    RecordUser,
)
from fireline_incidents.domain.errors import IncidentNotFound, UnknownCreator
from fireline_incidents.domain.model import (
    INITIAL_STATUS,
    MANUAL_SOURCE,
    DirectoryUser,
    Incident,
    IncidentFilter,
    Source,
    StatusChange,
    advance_from_alert,
    alert_title,
    candidate_emails,
    change_status,
    clean_title,
    incident_type_or_default,
    normalize_email,
    resolve_creator,
    severity_or_default,
)
from fireline_incidents.domain.pagination import PagePosition, decode_cursor, encode_cursor
from fireline_incidents.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncidentPage:
    items: list[Incident]
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


async def apply_alert(*, uow: UnitOfWork, command: ApplyAlert) -> Incident:
    """Start the alert's incident unless it exists, then advance it to the alert's status.

    Any lifecycle step can start the incident, not only the trigger: the alert payload carries
    everything an incident needs, so an acknowledgement or resolution that overtakes its trigger
    (or whose trigger never reaches us) is not lost. The incident then starts ``triggered`` and
    moves on at once; the trigger, when it comes, finds the incident and changes nothing.
    """
    recorded_at = utc_now()
    started = False
    async with uow:
        key = (command.org_id, command.source, command.external_id)
        incident = await uow.incidents.get_by_source(*key, for_update=True)
        if incident is None:
            # Before the numbering lock: reads that need no lock should not lengthen its hold.
            emails = candidate_emails(command.creator_email, command.oncall_emails)
            users = await uow.users.find_active(command.org_id, emails) if emails else []
            number = await uow.incidents.reserve_number(command.org_id)
            # Looked up again under the lock: another consumer may have started it meanwhile.
            incident = await uow.incidents.get_by_source(*key, for_update=True)
            if incident is None:
                incident = await _start_from_alert(uow, command, number=number, users=users)
                started = True
            else:
                await uow.incidents.unreserve_number(command.org_id, number)
        change = advance_from_alert(
            incident, command.status, at=command.occurred_at, recorded_at=recorded_at
        )
        if change is not None:
            await _record_change(uow, change)
            incident = change.incident
    if started:
        _log_started(incident, started_by=f"alert {command.status}")
    return incident


async def _start_from_alert(
    uow: UnitOfWork, command: ApplyAlert, *, number: int, users: Sequence[DirectoryUser]
) -> Incident:
    recorded_at = utc_now()
    incident = Incident(
        id=uuid4(),
        org_id=command.org_id,
        number=number,
        title=alert_title(command.title, source=command.source, external_id=command.external_id),
        status=INITIAL_STATUS,
        severity=severity_or_default(command.severity),
        incident_type=incident_type_or_default(command.incident_type),
        creator_id=resolve_creator(
            org_id=command.org_id,
            creator_email=command.creator_email,
            oncall_emails=command.oncall_emails,
            users=users,
        ),
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
    )
    await uow.incidents.add(incident)
    await uow.publish(_started(incident))
    return incident


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
        await uow.publish(_started(incident))
    _log_started(incident, started_by="manual")
    return incident


async def change_incident_status(*, uow: UnitOfWork, command: ChangeIncidentStatus) -> Incident:
    """Set an incident's status; setting the status it already has changes nothing."""
    now = utc_now()
    async with uow:
        incident = await uow.incidents.get(command.org_id, command.incident_id, for_update=True)
        if incident is None:
            raise IncidentNotFound("No such incident.")
        change = change_status(incident, command.status, at=now, recorded_at=now)
        if change is None:
            return incident
        await _record_change(uow, change)
        return change.incident


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


async def _record_change(uow: UnitOfWork, change: StatusChange) -> None:
    await uow.incidents.save_status(change.incident)
    incident = change.incident
    await uow.publish(
        IncidentStatusChanged(
            org_id=incident.org_id,
            payload=IncidentStatusChangedPayload(
                incident_id=incident.id,
                status=incident.status,
                previous_status=change.previous_status,
                changed_at=change.changed_at,
                acknowledged_at=incident.acknowledged_at,
                resolved_at=incident.resolved_at,
            ),
        )
    )


def _started(incident: Incident) -> IncidentStarted:
    source = incident.source
    return IncidentStarted(
        org_id=incident.org_id,
        payload=IncidentStartedPayload(
            incident_id=incident.id,
            number=incident.number,
            title=incident.title,
            status=incident.status,
            severity=incident.severity,
            incident_type=incident.incident_type,
            creator_id=incident.creator_id,
            # The contract leaves the source out for incidents opened by hand.
            source=None
            if source.is_manual
            else IncidentSource.model_validate(source, from_attributes=True),
            created_at=incident.created_at,
        ),
    )

"""The incidents topic's events, built from the domain: what consumers of the topic see.

Pure functions; the use cases queue them with ``uow.publish``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from fireline_contracts import incidents as contract
from fireline_incidents.domain.model import Incident, SeverityChange, StatusChange
from fireline_incidents.domain.timeline import TimelineEntry


def source_of(incident: Incident) -> contract.IncidentSource | None:
    # The contract leaves the source out for incidents opened by hand.
    if incident.source.is_manual:
        return None
    return contract.IncidentSource.model_validate(incident.source, from_attributes=True)


def started(incident: Incident, *, timeline: Sequence[TimelineEntry]) -> contract.IncidentStarted:
    """The start, carrying the incident's first timeline entries: none of them is announced on
    its own, so a start from PagerDuty is one event for every consumer of the topic, not three."""
    return contract.IncidentStarted(
        org_id=incident.org_id,
        payload=contract.IncidentStartedPayload(
            incident_id=incident.id,
            number=incident.number,
            title=incident.title,
            status=incident.status,
            severity=incident.severity,
            incident_type=incident.incident_type,
            creator_id=incident.creator_id,
            source=source_of(incident),
            created_at=incident.created_at,
            assignees=_assignees(incident),
            escalation_policy_id=incident.escalation_policy_id,
            escalation_policy_name=incident.escalation_policy_name,
            timeline=tuple(_entry(entry) for entry in timeline),
        ),
    )


def _assignees(incident: Incident) -> tuple[contract.IncidentAssignee, ...]:
    return tuple(contract.IncidentAssignee(id=a.id, name=a.name) for a in incident.assignees)


def details_changed(incident: Incident, *, at: datetime) -> contract.IncidentDetailsChanged:
    return contract.IncidentDetailsChanged(
        org_id=incident.org_id,
        payload=contract.IncidentDetailsChangedPayload(
            incident_id=incident.id,
            title=incident.title,
            severity=incident.severity,
            incident_type=incident.incident_type,
            creator_id=incident.creator_id,
            source=source_of(incident),
            changed_at=at,
        ),
    )


def status_changed(
    change: StatusChange, *, changed_in: Literal["api", "pagerduty"]
) -> contract.IncidentStatusChanged:
    incident = change.incident
    return contract.IncidentStatusChanged(
        org_id=incident.org_id,
        payload=contract.IncidentStatusChangedPayload(
            incident_id=incident.id,
            status=incident.status,
            previous_status=change.previous_status,
            changed_at=change.changed_at,
            acknowledged_at=incident.acknowledged_at,
            resolved_at=incident.resolved_at,
            reopen_count=incident.reopen_count,
            merged_into=incident.merged_into,
            changed_in=changed_in,
        ),
    )


def severity_changed(change: SeverityChange) -> contract.IncidentSeverityChanged:
    incident = change.incident
    return contract.IncidentSeverityChanged(
        org_id=incident.org_id,
        payload=contract.IncidentSeverityChangedPayload(
            incident_id=incident.id,
            severity=incident.severity,
            previous_severity=change.previous_severity,
            changed_at=change.changed_at,
            priority=change.priority,
        ),
    )


def assignment_changed(incident: Incident) -> contract.IncidentAssignmentChanged:
    return contract.IncidentAssignmentChanged(
        org_id=incident.org_id,
        payload=contract.IncidentAssignmentChangedPayload(
            incident_id=incident.id,
            assignees=_assignees(incident),
            escalation_policy_id=incident.escalation_policy_id,
            escalation_policy_name=incident.escalation_policy_name,
            changed_at=incident.source_state_at or incident.updated_at,
        ),
    )


def timeline_entry_added(entry: TimelineEntry) -> contract.IncidentTimelineEntryAdded:
    return contract.IncidentTimelineEntryAdded(org_id=entry.org_id, payload=_entry(entry))


def _entry(entry: TimelineEntry) -> contract.IncidentTimelineEntryPayload:
    actor = entry.actor
    return contract.IncidentTimelineEntryPayload(
        incident_id=entry.incident_id,
        entry_id=entry.id,
        kind=entry.kind,
        occurred_at=entry.occurred_at,
        actor=contract.TimelineActor(kind=actor.kind, id=actor.id, name=actor.name),
        source=entry.source,
        source_event_id=entry.source_event_id,
        summary=entry.summary,
        text=entry.text,
    )

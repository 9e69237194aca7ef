"""Commands: what the entrypoints ask the use cases to do, already translated from transport."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fireline_incidents.domain.model import Assignment, Status
from fireline_incidents.domain.timeline import SYSTEM, Actor


@dataclass(frozen=True)
class RecordUser:
    """Store a user's latest state in the projection (from a users-topic event)."""

    user_id: UUID
    org_id: UUID
    email: str
    active: bool
    version_at: datetime


@dataclass(frozen=True)
class ApplyAlert:
    """A PagerDuty event that carried the whole incident: start the incident if needed, record
    the event on its timeline and mirror the incident's state (``status`` is PagerDuty's)."""

    org_id: UUID
    status: Status
    source: str
    external_id: str
    title: str
    severity: str | None
    incident_type: str | None
    creator_email: str | None
    oncall_emails: tuple[str, ...]
    html_url: str | None
    service_id: str | None
    service_name: str | None
    occurred_at: datetime
    # PagerDuty's own event: the fields below default to what an alert written before they were
    # added means (its delivery id stands in for the event id).
    event_type: str = "incident.triggered"
    event_id: str | None = None
    actor: Actor = SYSTEM
    priority: str | None = None
    priority_severity: str | None = None
    assignment: Assignment | None = None
    merged_into: str | None = None
    source_incident_type: str | None = None
    fireline_change: UUID | None = None
    """Set when this PagerDuty event is the echo of a change made in Fireline (the sync request
    that made it): PagerDuty's time is recorded, nothing else."""


@dataclass(frozen=True)
class RecordActivity:
    """A PagerDuty event that only referenced the incident (a note, a status update...)."""

    org_id: UUID
    source: str
    external_id: str
    title: str | None
    html_url: str | None
    event_id: str
    event_type: str
    kind: str
    summary: str
    text: str | None
    actor: Actor
    occurred_at: datetime
    fireline_change: UUID | None = None
    """Set when this is the echo of a note Fireline posted in PagerDuty: nothing to add."""


@dataclass(frozen=True)
class AddNote:
    """A person adds a note to an incident's timeline."""

    org_id: UUID
    incident_id: UUID
    text: str
    actor: Actor


@dataclass(frozen=True)
class OpenIncident:
    """Start an incident by hand."""

    org_id: UUID
    title: str
    severity: str | None = None
    incident_type: str | None = None
    creator_id: UUID | None = None


@dataclass(frozen=True)
class ChangeIncidentStatus:
    """A person sets an incident's status and/or severity (None leaves it as it is)."""

    org_id: UUID
    incident_id: UUID
    status: Status | None = None
    severity: str | None = None
    actor: Actor = SYSTEM


@dataclass(frozen=True)
class RecordSyncAttempt:
    """pagerduty-ingest called PagerDuty's API for a change made in Fireline; put the outcome
    on the incident's timeline."""

    org_id: UUID
    incident_id: UUID
    event_id: str
    action: str
    outcome: str
    attempt: int
    status_code: int | None
    detail: str | None
    next_attempt_at: datetime | None
    attempted_at: datetime

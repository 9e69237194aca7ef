"""Commands: what the entrypoints ask the use cases to do, already translated from transport."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fireline_incidents.domain.model import Status


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
    """An alert's lifecycle step: start the incident if needed, then move it to ``status``."""

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
    """A person sets an incident's status."""

    org_id: UUID
    incident_id: UUID
    status: Status

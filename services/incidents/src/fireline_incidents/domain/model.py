"""Incidents, their status rules, and how an alert's emails pick the incident's creator.

Statuses are PagerDuty's own, ``triggered`` → ``acknowledged`` → ``resolved``, so an alert's
lifecycle maps onto an incident one to one and the contract's ``IncidentStarted.status`` reads
``triggered`` as documented there. Alerts only ever move an incident forward (a late
acknowledgement never reopens a resolved incident); a person changing the status through the API
may move it anywhere, which is how an incident is reopened (``resolved`` → ``triggered``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal, get_args
from uuid import UUID

from fireline_incidents.domain.errors import InvalidIncident

Status = Literal["triggered", "acknowledged", "resolved"]
STATUSES: Final[tuple[Status, ...]] = get_args(Status)
INITIAL_STATUS: Final[Status] = "triggered"

# Used when an alert (or a manual create) does not say; the integration's defaults and the webhook
# URL's query parameters normally do. SEV3 is the middle of the usual SEV1-SEV5 scale, so an
# unclassified incident is neither ignored nor paged as a major one.
DEFAULT_SEVERITY: Final = "SEV3"
DEFAULT_INCIDENT_TYPE: Final = "Default"
MANUAL_SOURCE: Final = "manual"
MAX_TITLE_LENGTH: Final = 500

# How far along its lifecycle a status is; alerts may only increase it.
_PROGRESS: Final[dict[Status, int]] = {"triggered": 0, "acknowledged": 1, "resolved": 2}


def normalize_email(email: str) -> str:
    """The form emails are stored and compared in: trimmed, lower-cased."""
    return email.strip().lower()


def severity_or_default(severity: str | None) -> str:
    """The given severity, or the default when it is absent or blank."""
    cleaned = (severity or "").strip()
    return cleaned or DEFAULT_SEVERITY


def incident_type_or_default(incident_type: str | None) -> str:
    """The given incident type, or the default when it is absent or blank."""
    cleaned = (incident_type or "").strip()
    return cleaned or DEFAULT_INCIDENT_TYPE


def clean_title(title: str) -> str:
    """The title trimmed; a blank or over-long title is refused."""
    cleaned = title.strip()
    if not cleaned:
        raise InvalidIncident("The title must not be blank.")
    if len(cleaned) > MAX_TITLE_LENGTH:
        raise InvalidIncident(f"The title must be at most {MAX_TITLE_LENGTH} characters.")
    return cleaned


def alert_title(title: str, *, source: str, external_id: str) -> str:
    """An alert's title; an alert without one still starts an incident, named after its id."""
    cleaned = title.strip()[:MAX_TITLE_LENGTH]
    return cleaned or f"{source} incident {external_id}"


@dataclass(frozen=True)
class DirectoryUser:
    """A user as the users projection knows them."""

    user_id: UUID
    org_id: UUID
    email: str
    active: bool


def candidate_emails(creator_email: str | None, oncall_emails: Iterable[str]) -> list[str]:
    """The emails an alert offers for its creator, normalised, in the order they are tried."""
    seen: list[str] = []
    for raw in (creator_email, *oncall_emails):
        email = normalize_email(raw or "")
        if email and email not in seen:
            seen.append(email)
    return seen


def resolve_creator(
    *,
    org_id: UUID,
    creator_email: str | None,
    oncall_emails: Iterable[str],
    users: Iterable[DirectoryUser],
) -> UUID | None:
    """The incident's creator: the user matching the alert's creator email, else the first
    on-call email that matches, else nobody. Only active users of the same org ever match.

    ``users`` may hold several users with one email (identity's events for two users can arrive
    in either order while one takes over the other's address); the first one listed wins.
    """
    by_email: dict[str, UUID] = {}
    for user in users:
        if user.active and user.org_id == org_id:
            by_email.setdefault(normalize_email(user.email), user.user_id)
    for email in candidate_emails(creator_email, oncall_emails):
        if (user_id := by_email.get(email)) is not None:
            return user_id
    return None


@dataclass(frozen=True)
class Source:
    """Where an incident came from; ``kind`` is ``manual`` for incidents opened by hand."""

    kind: str
    external_id: str | None = None
    html_url: str | None = None
    service_id: str | None = None
    service_name: str | None = None

    @property
    def is_manual(self) -> bool:
        return self.kind == MANUAL_SOURCE


@dataclass(frozen=True)
class Incident:
    id: UUID
    org_id: UUID
    number: int
    title: str
    status: Status
    severity: str
    incident_type: str
    creator_id: UUID | None
    source: Source
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class StatusChange:
    """An incident after a status change, the status it had before, and when it changed."""

    incident: Incident
    previous_status: Status
    changed_at: datetime


def change_status(
    incident: Incident, target: Status, *, at: datetime, recorded_at: datetime
) -> StatusChange | None:
    """Move ``incident`` to ``target`` (any status to any other); None when it already is there.

    ``at`` is when the change happened (for an alert, when PagerDuty says it did), ``recorded_at``
    when this service stored it. ``acknowledged_at`` keeps the first acknowledgement;
    ``resolved_at`` is set on resolving and cleared when the incident is reopened.
    """
    if target == incident.status:
        return None
    acknowledged_at = incident.acknowledged_at
    if target == "acknowledged" and acknowledged_at is None:
        acknowledged_at = at
    resolved_at = at if target == "resolved" else None
    updated = replace(
        incident,
        status=target,
        acknowledged_at=acknowledged_at,
        resolved_at=resolved_at,
        updated_at=recorded_at,
    )
    return StatusChange(incident=updated, previous_status=incident.status, changed_at=at)


def advance_from_alert(
    incident: Incident, alert_status: Status, *, at: datetime, recorded_at: datetime
) -> StatusChange | None:
    """Apply an alert's lifecycle step; alerts only move forward, never reopen or un-acknowledge."""
    if _PROGRESS[alert_status] <= _PROGRESS[incident.status]:
        return None
    return change_status(incident, alert_status, at=at, recorded_at=recorded_at)


@dataclass(frozen=True)
class IncidentFilter:
    """The list endpoint's filters; None means "any"."""

    status: Status | None = None
    source: str | None = None
    external_id: str | None = None

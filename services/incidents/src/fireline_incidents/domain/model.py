"""Incidents, their status rules, and how an alert's emails pick the incident's creator.

Statuses are PagerDuty's own, ``triggered`` → ``acknowledged`` → ``resolved``, so an alert's
lifecycle maps onto an incident one to one and the contract's ``IncidentStarted.status`` reads
``triggered`` as documented there. A PagerDuty incident's state (status, priority, assignees) is
mirrored from the newest PagerDuty event by PagerDuty's own ``occurred_at``
(:func:`sync_from_source`), so deliveries that arrive out of order never move an incident back; a
person changing the status through the API may move it anywhere.
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


@dataclass(frozen=True)
class CreatorMatch:
    """The creator chosen for an alert's incident, and why (for the timeline)."""

    user_id: UUID | None
    reason: str


def match_creator(
    *,
    org_id: UUID,
    creator_email: str | None,
    oncall_emails: Iterable[str],
    users: Iterable[DirectoryUser],
) -> CreatorMatch:
    """The incident's creator: the user matching the alert's creator email, else the first
    on-call email that matches, else nobody. Only active users of the same org ever match.

    ``users`` may hold several users with one email (identity's events for two users can arrive
    in either order while one takes over the other's address); the first one listed wins.
    """
    by_email: dict[str, UUID] = {}
    for user in users:
        if user.active and user.org_id == org_id:
            by_email.setdefault(normalize_email(user.email), user.user_id)
    creator = normalize_email(creator_email or "")
    for email in candidate_emails(creator_email, oncall_emails):
        if (user_id := by_email.get(email)) is not None:
            why = "triggered it in PagerDuty" if email == creator else "on call for the incident"
            return CreatorMatch(user_id, f"the Fireline user who {why}")
    if not creator and not any(e.strip() for e in oncall_emails):
        return CreatorMatch(None, "PagerDuty gave no email to match")
    return CreatorMatch(None, "no active Fireline user has the PagerDuty users' emails")


def resolve_creator(
    *,
    org_id: UUID,
    creator_email: str | None,
    oncall_emails: Iterable[str],
    users: Iterable[DirectoryUser],
) -> UUID | None:
    """The creator :func:`match_creator` chooses."""
    return match_creator(
        org_id=org_id, creator_email=creator_email, oncall_emails=oncall_emails, users=users
    ).user_id


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
class Assignee:
    """Someone an incident is assigned to at its source (a PagerDuty user)."""

    id: str
    name: str | None = None


@dataclass(frozen=True)
class Assignment:
    """Who a source incident is assigned to, and through which escalation policy."""

    assignees: tuple[Assignee, ...]
    escalation_policy_id: str | None = None
    escalation_policy_name: str | None = None


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
    # Mirrored from the source (PagerDuty); manual incidents keep the defaults.
    reopen_count: int = 0
    merged_into: str | None = None
    assignees: tuple[Assignee, ...] = ()
    escalation_policy_id: str | None = None
    escalation_policy_name: str | None = None
    source_priority: str | None = None
    source_state_at: datetime | None = None
    """``occurred_at`` of the source event the state above was last taken from; None while only
    references to the incident have arrived (its details are still unknown)."""


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


@dataclass(frozen=True)
class SeverityChange:
    incident: Incident
    previous_severity: str
    changed_at: datetime
    priority: str | None


def change_severity(
    incident: Incident, severity: str, *, at: datetime, recorded_at: datetime
) -> SeverityChange | None:
    """Set a person's severity; None when it already is that."""
    cleaned = severity_or_default(severity)
    if cleaned == incident.severity:
        return None
    updated = replace(incident, severity=cleaned, updated_at=recorded_at)
    return SeverityChange(updated, incident.severity, at, priority=None)


@dataclass(frozen=True)
class SourceSnapshot:
    """The incident as one source (PagerDuty) event shows it."""

    event_type: str
    status: Status
    occurred_at: datetime
    priority: str | None = None
    priority_severity: str | None = None
    assignment: Assignment | None = None
    """None when the event did not say (alerts written before assignees were carried)."""
    merged_into: str | None = None
    echo: bool = False
    """PagerDuty's webhook answering a change Fireline made there (see ``sync_from_source``)."""


@dataclass(frozen=True)
class SourceSync:
    """The incident after a source event, and which of its parts changed."""

    incident: Incident
    status_change: StatusChange | None
    severity_change: SeverityChange | None
    assignment_changed: bool
    changed: bool


RESOLVED_EVENT: Final = "incident.resolved"
ACKNOWLEDGED_EVENT: Final = "incident.acknowledged"
REOPENED_EVENT: Final = "incident.reopened"


def sync_from_source(
    incident: Incident, snapshot: SourceSnapshot, *, recorded_at: datetime
) -> SourceSync:
    """Apply one source event the first time it is seen (the caller deduplicates by event id).

    The ordering rule: the incident's status, priority (hence severity), assignees, escalation
    policy and merge target are those of the source event with the latest ``occurred_at``
    (PagerDuty's clock) seen so far; an event older than that, or as old, changes none of them,
    so an overtaken delivery never moves an incident back. Facts that do not depend on order are
    kept from every event, old or new: the first acknowledgement (the earliest acknowledged
    snapshot), the number of reopenings and the earliest time the incident is known to exist.
    """
    at = snapshot.occurred_at
    current = incident
    acknowledged_at = current.acknowledged_at
    if snapshot.status == "acknowledged" and (acknowledged_at is None or at < acknowledged_at):
        acknowledged_at = at
    facts = replace(
        current,
        acknowledged_at=acknowledged_at,
        reopen_count=current.reopen_count + (snapshot.event_type == REOPENED_EVENT),
        created_at=min(current.created_at, at),
    )
    newer = current.source_state_at is None or at > current.source_state_at
    if not newer:
        changed = facts != current
        if changed:
            facts = replace(facts, updated_at=recorded_at)
        return SourceSync(facts, None, None, assignment_changed=False, changed=changed)

    resolved_at: datetime | None = None
    if snapshot.status == "resolved":
        keep = current.status == "resolved" and snapshot.event_type != RESOLVED_EVENT
        resolved_at = current.resolved_at if keep else at
    severity = current.severity
    if snapshot.priority != current.source_priority and snapshot.priority_severity:
        # A priority the integration's map does not know leaves the severity alone.
        severity = snapshot.priority_severity.strip() or severity
    assignment = snapshot.assignment or Assignment(
        current.assignees, current.escalation_policy_id, current.escalation_policy_name
    )
    if snapshot.echo:
        # The echo of Fireline's own change never moves the incident: after a resolve and a
        # reopen in Fireline, the resolve's late echo must not resolve it again. PagerDuty's
        # time still counts, so an older PagerDuty event arriving after it changes nothing.
        resolved_at = current.resolved_at
    updated = replace(
        facts,
        status=current.status if snapshot.echo else snapshot.status,
        resolved_at=resolved_at,
        merged_into=current.merged_into
        if snapshot.echo
        else (snapshot.merged_into if snapshot.status == "resolved" else None),
        severity=severity,
        source_priority=snapshot.priority,
        assignees=assignment.assignees,
        escalation_policy_id=assignment.escalation_policy_id,
        escalation_policy_name=assignment.escalation_policy_name,
        source_state_at=at,
        updated_at=recorded_at,
    )
    status_change = (
        StatusChange(updated, current.status, at)
        if (updated.status, updated.merged_into) != (current.status, current.merged_into)
        else None
    )
    severity_change = (
        SeverityChange(updated, current.severity, at, priority=snapshot.priority)
        if updated.severity != current.severity
        else None
    )
    assignment_changed = (updated.assignees, updated.escalation_policy_id) != (
        current.assignees,
        current.escalation_policy_id,
    )
    return SourceSync(updated, status_change, severity_change, assignment_changed, changed=True)


@dataclass(frozen=True)
class IncidentFilter:
    """The list endpoint's filters; None means "any"."""

    status: Status | None = None
    source: str | None = None
    external_id: str | None = None
    severity: str | None = None
    title: str | None = None
    """Part of the title, matched case-insensitively as plain text."""

"""An incident's timeline: one entry per thing that happened, in the order it happened.

Entries from PagerDuty carry PagerDuty's event id, and an incident holds at most one entry per
source event: a redelivered or replayed event finds its entry and changes nothing. Their time is
PagerDuty's ``occurred_at``, so the timeline reads in the order things happened in PagerDuty even
when the deliveries arrived in another order. Summaries are built here from what the event itself
says (never from the incident's state at arrival), so they read the same whatever the order.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from fireline_incidents.domain.errors import InvalidCursor, InvalidNote
from fireline_incidents.domain.model import Assignment, Incident

MAX_NOTE_LENGTH: Final = 10_000
"""Characters in a note written through the API: a long paragraph, far from a log dump."""
MAX_SUMMARY_LENGTH: Final = 500
DEFAULT_TIMELINE_LIMIT: Final = 50

EntrySource = Literal["pagerduty", "api", "pagerduty_sync"]
ActorKind = Literal[
    "pagerduty_user",
    "pagerduty_service",
    "pagerduty_integration",
    "pagerduty",
    "api_key",
    "user",
    "system",
]

_AGENT_KINDS: Final[dict[str, ActorKind]] = {
    "user_reference": "pagerduty_user",
    "user": "pagerduty_user",
    "service_reference": "pagerduty_service",
    "service": "pagerduty_service",
    "inbound_integration_reference": "pagerduty_integration",
    "integration_reference": "pagerduty_integration",
}


@dataclass(frozen=True)
class Actor:
    """Who did what an entry records."""

    kind: ActorKind
    id: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """How a summary names the actor."""
        if self.name:
            return self.name
        if self.kind == "api_key" and self.id:
            return f"API key {self.id}"
        if self.kind == "system":
            return "PagerDuty"
        return self.id or "PagerDuty"


SYSTEM: Final = Actor(kind="system")
FIRELINE: Final = Actor(kind="system", name="Fireline")
"""Fireline itself, e.g. calling PagerDuty's API for a change made here."""

_SYNC_DONE: Final = {
    "acknowledge": "Acknowledged in PagerDuty",
    "resolve": "Resolved in PagerDuty",
    "note": "Note posted to PagerDuty",
}
_SYNC_NOUN: Final = {
    "acknowledge": "acknowledgement",
    "resolve": "resolution",
    "note": "note",
    "reopen": "reopening",
}


def sync_summary(
    *,
    action: str,
    outcome: str,
    attempt: int,
    status_code: int | None,
    detail: str | None,
    next_attempt_at: datetime | None,
) -> str:
    """One line for an attempt at sending a Fireline change to PagerDuty."""
    answer = " ".join(part for part in (str(status_code or ""), detail or "") if part)
    answer = answer or "no answer"
    noun = _SYNC_NOUN.get(action, action)
    retry = f"; retrying at {next_attempt_at:%H:%M:%S} UTC" if next_attempt_at else ""
    if outcome == "succeeded":
        return _SYNC_DONE.get(action, f"{noun} sent to PagerDuty")
    if outcome == "refused":
        if status_code is None:
            return f"Not sent to PagerDuty: {answer}"
        return f"PagerDuty refused the {noun}: {answer}"
    if outcome == "rate_limited":
        return f"PagerDuty rate limited the {noun} ({answer}){retry}"
    if outcome == "failed":
        return f"Gave up sending the {noun} to PagerDuty after {attempt} attempts ({answer})"
    return f"PagerDuty did not take the {noun} ({answer}){retry}"


def pagerduty_actor(agent_id: str | None, agent_type: str | None, name: str | None) -> Actor:
    """The actor of a PagerDuty event from its agent reference; no agent is PagerDuty itself."""
    if not agent_id or not agent_type:
        return SYSTEM
    return Actor(kind=_AGENT_KINDS.get(agent_type, "pagerduty"), id=agent_id, name=name)


@dataclass(frozen=True)
class TimelineEntry:
    id: UUID
    org_id: UUID
    incident_id: UUID
    kind: str
    occurred_at: datetime
    actor: Actor
    source: EntrySource
    source_event_id: str | None
    summary: str
    text: str | None = None
    seq: int = 0
    """Storage order; breaks ties between entries with the same time."""


def clean_note(text: str) -> str:
    """A note as stored: trimmed; blank or longer than MAX_NOTE_LENGTH is refused."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidNote("The note must not be blank.")
    if len(cleaned) > MAX_NOTE_LENGTH:
        raise InvalidNote(f"The note must be at most {MAX_NOTE_LENGTH} characters.")
    return cleaned


def short(text: str) -> str:
    """A summary line cut to a sane length."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_SUMMARY_LENGTH else line[: MAX_SUMMARY_LENGTH - 1] + "…"


def _names(assignment: Assignment | None) -> str:
    if assignment is None or not assignment.assignees:
        return "nobody"
    return ", ".join(a.name or a.id for a in assignment.assignees)


# Entry kind and summary for each PagerDuty event type that carries the whole incident.
_STATUS_WORDS: Final[dict[str, str]] = {
    "incident.triggered": "Triggered",
    "incident.acknowledged": "Acknowledged",
    "incident.unacknowledged": "Unacknowledged (the acknowledgement timed out)",
    "incident.reopened": "Reopened",
}


def describe_source_event(
    event_type: str,
    *,
    actor: Actor,
    status: str,
    priority: str | None,
    priority_severity: str | None,
    assignment: Assignment | None,
    merged_into: str | None,
    service_name: str | None,
    incident_type: str | None,
) -> tuple[str, str]:
    """``(kind, summary)`` of the entry for a PagerDuty event that carried the whole incident."""
    # No agent (automation, timeouts): the summary names nobody rather than "by PagerDuty".
    by = "" if actor.kind == "system" else f" by {actor.label}"
    if event_type in _STATUS_WORDS:
        return "status_changed", f"{_STATUS_WORDS[event_type]} in PagerDuty{by}"
    if event_type == "incident.resolved":
        if merged_into:
            return "merged", f"Merged into PagerDuty incident {merged_into}{by}"
        return "status_changed", f"Resolved in PagerDuty{by}"
    if event_type == "incident.priority_updated":
        if priority is None:
            return "severity_changed", f"Priority removed in PagerDuty{by}"
        mapped = (
            f" (severity {priority_severity})" if priority_severity else " (no severity mapped)"
        )
        return "severity_changed", f"Priority set to {priority}{mapped}{by}"
    if event_type in ("incident.reassigned", "incident.escalated", "incident.delegated"):
        verb = {
            "incident.reassigned": "Reassigned",
            "incident.escalated": "Escalated",
            "incident.delegated": "Delegated",
        }[event_type]
        name = assignment.escalation_policy_name if assignment is not None else None
        policy = f" on {name}" if name else ""
        return "assignment_changed", f"{verb} to {_names(assignment)}{policy}{by}"
    if event_type == "incident.service_updated":
        return "service_changed", f"Moved to service {service_name or 'unknown'}{by}"
    if event_type == "incident.incident_type.changed":
        return "incident_type_changed", f"PagerDuty incident type set to {incident_type}{by}"
    return "other", f"{event_type} in PagerDuty ({status}){by}"


def started_summary(incident: Incident, *, started_by: str, creator: str) -> str:
    """The ``started`` entry: what started the incident, and who its creator is and why."""
    return short(f"Incident #{incident.number} started from {started_by}; {creator}")


@dataclass(frozen=True)
class TimelinePosition:
    """The last entry of a page, and the incident the cursor was issued for."""

    incident_id: UUID
    occurred_at: datetime
    seq: int


_MAX_CURSOR_LENGTH: Final = 256
_MAX_SEQ: Final = 2**63


def encode_timeline_cursor(position: TimelinePosition) -> str:
    document = {
        "i": str(position.incident_id),
        "t": position.occurred_at.isoformat(),
        "s": position.seq,
    }
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_timeline_cursor(cursor: str, *, incident_id: UUID) -> TimelinePosition:
    """The position a cursor stands for; one issued for another incident is refused."""
    if not cursor or len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor("The cursor is not valid.")
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = TimelinePosition(
            incident_id=UUID(document["i"]),
            occurred_at=datetime.fromisoformat(document["t"]),
            seq=int(document["s"]),
        )
    except (binascii.Error, ValueError, TypeError, KeyError, OverflowError, UnicodeDecodeError):
        # OverflowError: json reads `Infinity`, which int() refuses that way.
        raise InvalidCursor("The cursor is not valid.") from None
    if position.occurred_at.tzinfo is None or not 0 <= position.seq < _MAX_SEQ:
        # A seq outside bigint would reach PostgreSQL as an error, not as an empty page.
        raise InvalidCursor("The cursor is not valid.")
    if position.incident_id != incident_id:
        # Keyset values from another incident would silently skip or repeat entries here.
        raise InvalidCursor("The cursor belongs to another incident's timeline.")
    return position

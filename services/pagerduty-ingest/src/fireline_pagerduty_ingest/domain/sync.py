"""Fireline → PagerDuty: which Fireline changes are sent, and what follows each attempt.

A change made in Fireline (by a person or an API key) to an incident that came from PagerDuty is
sent back through PagerDuty's REST API when the integration has ``sync_to_pagerduty`` on:
acknowledged → ``PUT /incidents/{id}`` with status ``acknowledged``, resolved → status
``resolved``; a note → ``POST /incidents/{id}/notes`` when ``sync_notes`` is on too. PagerDuty's
API has no way back to ``triggered`` (no reopen, no unacknowledge), so a reopening in Fireline
is not sent: PagerDuty keeps the incident resolved (or acknowledged) until something happens there.

A change mirrored *from* PagerDuty is never sent back (the event says where the change was made),
and PagerDuty's webhook answering a change Fireline made (its "echo") is recognised when it is
published (``ECHO_WINDOW``), so nothing bounces.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from uuid import UUID

Action = Literal["acknowledge", "resolve", "note"]
RequestState = Literal["pending", "succeeded", "failed"]
Outcome = Literal["succeeded", "retrying", "rate_limited", "refused", "failed"]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "succeeded",
    "retrying",
    "rate_limited",
    "refused",
    "failed",
)

STATUS_ACTIONS: Final[dict[str, Action]] = {"acknowledged": "acknowledge", "resolved": "resolve"}
"""Fireline statuses PagerDuty's API can set; ``triggered`` (a reopening) is not among them."""
ACTION_STATUSES: Final[dict[Action, str]] = {a: s for s, a in STATUS_ACTIONS.items()}
ECHO_EVENT_TYPES: Final[dict[str, Action]] = {
    "incident.acknowledged": "acknowledge",
    "incident.resolved": "resolve",
    "incident.annotated": "note",
}
"""The PagerDuty webhook event each write made through the API causes."""

ECHO_WINDOW: Final = timedelta(minutes=10)
"""How long after Fireline's call PagerDuty's webhook for it is still taken as its echo.
PagerDuty sends the webhook within seconds; a later event of that type is someone acting in
PagerDuty, and is mirrored as usual."""
MAX_RETRY_AFTER: Final = timedelta(hours=1)
"""The longest a 429's Retry-After is honoured; a larger one is taken as this."""
DEFAULT_RATE_LIMIT_WAIT: Final = timedelta(seconds=60)
"""Used when a 429 says nothing about when to come back: PagerDuty's limits are per minute."""
JITTER: Final = 0.2
MAX_DETAIL: Final = 300
MAX_NOTE: Final = 25_000
"""PagerDuty refuses longer note content; Fireline's notes are at most 10,000 characters."""
RETRYABLE_4XX: Final = frozenset({408, 409, 425})
"""4xx answers that say "not now" rather than "never": retried like a 5xx."""


@dataclass(frozen=True)
class SyncSettings:
    """An integration's write-back settings and opened credentials, as a call needs them."""

    sync_status: bool
    sync_notes: bool
    from_email: str | None
    base_url: str
    token: str | None

    def sends(self, action: Action) -> bool:
        if self.token is None or self.from_email is None or not self.sync_status:
            return False
        return self.sync_notes if action == "note" else True


@dataclass(frozen=True)
class IncidentOrigin:
    """A Fireline incident and the PagerDuty incident it came from, as the incidents topic
    names them; which integration's deliveries named it is learnt from storage."""

    org_id: UUID
    incident_id: UUID
    external_id: str


@dataclass(frozen=True)
class SyncAsked:
    """A change made in Fireline that PagerDuty should hear about, if the integration sends such
    changes: a status PagerDuty's API can set, or a note."""

    source_event_id: UUID
    incident_id: UUID
    action: Action
    note: str | None = None


@dataclass(frozen=True)
class ReopenedInFireline:
    """A reopening (or unacknowledgement) made in Fireline, which PagerDuty's API cannot do."""

    source_event_id: UUID
    incident_id: UUID
    previous_status: str
    at: datetime


IncidentsChange = IncidentOrigin | SyncAsked | ReopenedInFireline
"""What an incidents event means to the sync, when it means anything."""


@dataclass(frozen=True)
class PagerDutyLink:
    """A Fireline incident that came from a PagerDuty incident, and through which integration."""

    incident_id: UUID
    org_id: UUID
    integration_id: UUID
    external_id: str


@dataclass(frozen=True)
class SyncRequest:
    """One change to send to PagerDuty, as claimed by a dispatcher."""

    id: UUID
    org_id: UUID
    incident_id: UUID
    integration_id: UUID
    external_id: str
    action: Action
    note: str | None
    attempts: int
    """Attempts made so far, this one included (it is counted when claimed)."""
    schedule_step: int
    claim_id: UUID


@dataclass(frozen=True)
class CallResult:
    """What PagerDuty answered one call (no status: no answer came)."""

    status_code: int | None
    detail: str | None = None
    retry_after_s: float | None = None
    pagerduty_user_id: str | None = None
    """Who PagerDuty says made the change (the ``From`` user), from a 2xx answer."""
    hopeless: bool = False
    """Not sent, and sending again cannot help (e.g. the API URL is no longer allowed)."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    next_attempt_at: datetime | None
    schedule_step: int

    @property
    def state(self) -> RequestState:
        if self.outcome == "succeeded":
            return "succeeded"
        return "pending" if self.next_attempt_at is not None else "failed"


def judge(
    result: CallResult,
    *,
    schedule_step: int,
    now: datetime,
    schedule: Sequence[float],
    rng: random.Random | None = None,
) -> Verdict:
    """What follows an attempt: done; a 429 again after its Retry-After (no retry used up);
    a 5xx, timeout or no answer again after the next delay of ``schedule`` (jittered), and
    failed once it is used up; any other 4xx (401, 403, 404...) never again."""
    code = result.status_code
    if result.hopeless:
        return Verdict("refused", None, schedule_step)
    if code is not None and 200 <= code < 300:
        return Verdict("succeeded", None, schedule_step)
    if code == 429:
        wait = (
            DEFAULT_RATE_LIMIT_WAIT
            if result.retry_after_s is None
            else timedelta(seconds=max(result.retry_after_s, 0.0))
        )
        return Verdict("rate_limited", now + min(wait, MAX_RETRY_AFTER), schedule_step)
    if code is not None and 400 <= code < 500 and code not in RETRYABLE_4XX:
        return Verdict("refused", None, schedule_step)
    if schedule_step >= len(schedule):
        return Verdict("failed", None, schedule_step)
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    delay = timedelta(seconds=schedule[schedule_step] * factor)
    return Verdict("retrying", now + delay, schedule_step + 1)


def parse_schedule(text: str) -> tuple[float, ...]:
    """``5,30,120`` → the delays before the first, second, third retry, in seconds."""
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError("the retry schedule must be comma-separated seconds") from None
    if not delays or any(d <= 0 for d in delays):
        raise ValueError("the retry schedule needs positive delays")
    return delays


def short_detail(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_DETAIL:
        return text
    return text[:MAX_DETAIL] + "…"

"""A webhook delivery as Fireline records it: how it is deduplicated and what happens to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from fireline_pagerduty_ingest.domain.alert import AlertEventType
from fireline_pagerduty_ingest.domain.sync import ECHO_EVENT_TYPES
from fireline_pagerduty_ingest.domain.webhook import Publication, WebhookEvent

MAX_BODY_BYTES = 256 * 1024
"""PagerDuty guarantees bodies up to 55 KB and sends up to 256 KB best-effort; larger is refused."""

MAX_WEBHOOK_ID_LENGTH = 200
"""A longer ``X-Webhook-Id`` is not PagerDuty's (a UUID); ``event.id`` is used instead."""

DeliveryStatus = Literal["received", "published", "ignored", "failed"]


@dataclass(frozen=True)
class Receipt:
    """What the receiver tells PagerDuty about a delivery."""

    delivery_id: str
    """The dedupe key: ``X-Webhook-Id``, else ``event.id``."""
    duplicate: bool
    """True when this delivery was already stored; nothing new happens."""
    status: DeliveryStatus


@dataclass(frozen=True)
class NewDelivery:
    """A verified delivery as the receiver stores it."""

    integration_id: UUID
    org_id: UUID
    dedupe_key: str
    event_id: str
    event_type: str
    incident_id: str | None
    status: DeliveryStatus
    body: bytes
    incident_type: str | None
    severity: str | None
    correlation_id: str | None
    traceparent: str | None = None
    parsed_event: str | None = None
    """The parsed delivery's stored form (``webhook.stored_form``) when the worker is to publish
    it."""
    alert: AlertEventType | None = None
    """The alert to publish with the delivery, in the same statement, unless an earlier delivery
    of its incident is still pending (then the worker publishes it, in its turn)."""

    def __repr__(self) -> str:
        return f"NewDelivery(integration={self.integration_id}, key={self.dedupe_key!r})"


@dataclass(frozen=True)
class Stored:
    """A delivery as it was stored: its id, and its status (``published`` when its alert went
    out with it)."""

    id: int
    status: DeliveryStatus


@dataclass(frozen=True)
class ClaimedDelivery:
    """A pending delivery this worker holds a lease on."""

    id: int
    integration_id: UUID
    org_id: UUID
    dedupe_key: str
    body: bytes
    incident_type: str | None
    severity: str | None
    correlation_id: str | None
    attempts: int
    received_at: datetime
    traceparent: str | None
    parsed_event: str | None = None
    """What the receiver parsed (``webhook.stored_form``); None for rows stored before it was."""


def dedupe_key(webhook_id: str | None, event: WebhookEvent) -> str:
    """``X-Webhook-Id`` (the same on every retry of a delivery), else PagerDuty's event id."""
    if webhook_id is not None:
        cleaned = webhook_id.strip()
        if cleaned and len(cleaned) <= MAX_WEBHOOK_ID_LENGTH and cleaned.isprintable():
            return cleaned
    return event.id


def initial_status(event: WebhookEvent) -> DeliveryStatus:
    """Every event about an incident waits for publication (in its incident's order); the rest is
    only recorded.

    ``pagey.ping``, ``service.*`` and event types without an incident are recorded as
    ``ignored`` so they are visible, but never published: no incident in Fireline follows them.
    """
    if event.publication is Publication.NONE:
        return "ignored"
    return "received"


def needs_worker(event: WebhookEvent) -> bool:
    """Whether the worker must publish ``event`` even for an integration that publishes on
    receipt: a status change or a note by a user may be the echo of Fireline's own change
    (``domain.sync``), which only the worker recognises. An integration's write-back can be
    turned off while its last changes' echoes are still on their way."""
    return (
        event.event_type in ECHO_EVENT_TYPES
        and event.agent is not None
        and event.agent.type == "user_reference"
    )


@dataclass(frozen=True)
class FailedAttempt:
    """A delivery that could not be published this time: why, and what happens next."""

    error: str
    retry_in_s: float
    give_up: bool
    """True when no attempt is left (or none could succeed): the delivery is marked failed."""

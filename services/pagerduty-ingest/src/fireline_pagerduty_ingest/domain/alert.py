"""Turning a stored lifecycle delivery into the alert event Fireline publishes."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from fireline_contracts import (
    AlertAcknowledged,
    AlertPayload,
    AlertResolved,
    AlertTriggered,
)
from fireline_pagerduty_ingest.domain.classification import Classification
from fireline_pagerduty_ingest.domain.enrichment import Enrichment
from fireline_pagerduty_ingest.domain.webhook import Lifecycle, WebhookEvent

AlertEventType = AlertTriggered | AlertAcknowledged | AlertResolved

# Event ids are derived from the delivery, so even if a delivery were ever finalised twice the
# outbox's unique event_id would refuse the second copy, and consumers would dedupe it anyway.
_EVENT_ID_NAMESPACE = uuid.UUID("6a0f6c57-2b8e-4f55-9d2c-1f4e5a7b3c91")


class NotAnAlert(ValueError):
    """The delivery is not one of the three lifecycle events that become alerts."""


def alert_event_id(integration_id: UUID, dedupe_key: str) -> UUID:
    """The event id of the alert a delivery becomes; stable across retries and restarts."""
    return uuid.uuid5(_EVENT_ID_NAMESPACE, f"{integration_id}\n{dedupe_key}")


def build_alert(
    event: WebhookEvent,
    *,
    org_id: UUID,
    integration_id: UUID,
    dedupe_key: str,
    classification: Classification,
    enrichment: Enrichment,
    correlation_id: str | None,
    received_at: datetime | None = None,
) -> AlertEventType:
    """The AlertTriggered, AlertAcknowledged or AlertResolved event for ``event``.

    ``received_at``, when Fireline received the delivery, is the event's ``occurred_at``: what the
    incidents service measures its delivery-to-incident latency from.
    """
    incident = event.incident
    if event.lifecycle is Lifecycle.OTHER or incident is None:
        raise NotAnAlert(f"{event.event_type} is not published as an alert")
    payload = AlertPayload(
        integration_id=integration_id,
        external_id=incident.id,
        number=incident.number,
        # The contract requires a title; PagerDuty always sends one, but a reference-only summary
        # or the id beats refusing the alert.
        title=incident.title or incident.summary or f"PagerDuty incident {incident.id}",
        urgency=incident.urgency,
        priority=incident.priority,
        html_url=incident.html_url,
        service_id=incident.service_id,
        service_name=incident.service_name,
        escalation_policy_id=incident.escalation_policy_id,
        creator_email=enrichment.creator_email,
        oncall_emails=enrichment.oncall_emails,
        incident_type=classification.incident_type,
        severity=classification.severity,
        alert_occurred_at=event.occurred_at,
        delivery_id=dedupe_key,
        pagerduty_event_type=event.event_type,
        enrichment_status=enrichment.status,
    )
    event_class = _EVENT_CLASSES[event.lifecycle]
    return event_class(
        event_id=alert_event_id(integration_id, dedupe_key),
        org_id=org_id,
        correlation_id=correlation_id,
        payload=payload,
        **({"occurred_at": received_at} if received_at is not None else {}),
    )


_EVENT_CLASSES: dict[Lifecycle, type[AlertEventType]] = {
    Lifecycle.TRIGGERED: AlertTriggered,
    Lifecycle.ACKNOWLEDGED: AlertAcknowledged,
    Lifecycle.RESOLVED: AlertResolved,
}

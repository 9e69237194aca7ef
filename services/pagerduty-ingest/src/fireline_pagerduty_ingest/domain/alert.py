"""Turning a stored incident delivery into the alert event Fireline publishes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from fireline_contracts import (
    AlertAcknowledged,
    AlertActivity,
    AlertActivityPayload,
    AlertAgent,
    AlertAssignee,
    AlertFieldValue,
    AlertPayload,
    AlertResolved,
    AlertTriggered,
    AlertUpdated,
)
from fireline_pagerduty_ingest.domain.activity import Activity
from fireline_pagerduty_ingest.domain.classification import Classification
from fireline_pagerduty_ingest.domain.enrichment import Enrichment
from fireline_pagerduty_ingest.domain.webhook import (
    IncidentSnapshot,
    Lifecycle,
    Publication,
    WebhookEvent,
)

AlertEventType = AlertTriggered | AlertAcknowledged | AlertResolved | AlertUpdated | AlertActivity

# Event ids are derived from the delivery, so even if a delivery were ever finalised twice the
# outbox's unique event_id would refuse the second copy, and consumers would dedupe it anyway.
_EVENT_ID_NAMESPACE = uuid.UUID("6a0f6c57-2b8e-4f55-9d2c-1f4e5a7b3c91")


class NotAnAlert(ValueError):
    """The delivery concerns no incident (pagey.ping, service.*, unknown types)."""


def alert_event_id(integration_id: UUID, dedupe_key: str) -> UUID:
    """The event id of the alert a delivery becomes; stable across retries and restarts."""
    return uuid.uuid5(_EVENT_ID_NAMESPACE, f"{integration_id}\n{dedupe_key}")


def priority_severity(priority: str | None, severities: Mapping[str, str]) -> str | None:
    """The severity the integration's map gives ``priority``; None when unmapped or absent.

    Priority names compare case-insensitively and trimmed: PagerDuty accounts name them freely
    (`P1`, `p1`, `SEV-1`...), and an admin typing the map should not have to match the case.
    """
    if priority is None:
        return None
    wanted = priority.strip().casefold()
    for name, severity in severities.items():
        if name.strip().casefold() == wanted:
            return severity
    return None


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
    priority_severities: Mapping[str, str] | None = None,
) -> AlertEventType:
    """The alert event for ``event``: AlertTriggered, AlertAcknowledged or AlertResolved for the
    three lifecycle steps, AlertUpdated for any other event carrying the whole incident, and
    AlertActivity for one that only references it.

    ``received_at``, when Fireline received the delivery, is the event's ``occurred_at``: what the
    incidents service measures its delivery-to-incident latency from.
    """
    incident = event.incident
    if incident is None or event.publication is Publication.NONE:
        raise NotAnAlert(f"{event.event_type} concerns no incident")
    envelope = {
        "event_id": alert_event_id(integration_id, dedupe_key),
        "org_id": org_id,
        "correlation_id": correlation_id,
        **({"occurred_at": received_at} if received_at is not None else {}),
    }
    agent = (
        AlertAgent(id=event.agent.id, type=event.agent.type, name=event.agent.summary)
        if event.agent is not None
        else None
    )
    if event.publication is Publication.ACTIVITY:
        return AlertActivity(
            **envelope,
            payload=_activity_payload(event, incident, integration_id, dedupe_key, agent),
        )
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
        pagerduty_event_id=event.id,
        status=incident.status,
        agent=agent,
        assignees=None
        if incident.assignees is None
        else tuple(AlertAssignee(id=a.id, name=a.summary) for a in incident.assignees),
        escalation_policy_name=incident.escalation_policy_name,
        priority_severity=priority_severity(incident.priority, priority_severities or {}),
        merged_into=incident.merged_into,
        pagerduty_incident_type=incident.incident_type,
    )
    return _EVENT_CLASSES.get(event.lifecycle, AlertUpdated)(**envelope, payload=payload)


def _activity_payload(
    event: WebhookEvent,
    incident: IncidentSnapshot,
    integration_id: UUID,
    dedupe_key: str,
    agent: AlertAgent | None,
) -> AlertActivityPayload:
    # Parsing describes every reference event; the fallback only guards the invariant.
    activity = event.activity or Activity(kind="other", summary=f"{event.event_type} in PagerDuty")
    return AlertActivityPayload(
        integration_id=integration_id,
        external_id=incident.id,
        title=incident.summary,
        html_url=incident.html_url,
        kind=activity.kind if activity.kind in _ACTIVITY_KINDS else "other",
        summary=activity.summary,
        text=activity.text,
        responder_name=activity.responder_name,
        responder_state=activity.responder_state,
        conference_url=activity.conference_url,
        conference_numbers=activity.conference_numbers,
        workflow_name=activity.workflow_name,
        custom_fields=tuple(
            AlertFieldValue(name=f.name, value=f.value) for f in activity.custom_fields
        ),
        agent=agent,
        alert_occurred_at=event.occurred_at,
        pagerduty_event_id=event.id,
        pagerduty_event_type=event.event_type,
        delivery_id=dedupe_key,
    )


_ACTIVITY_KINDS = frozenset(
    {"note", "status_update", "responder", "conference_bridge", "custom_fields", "workflow"}
)

_EVENT_CLASSES: dict[Lifecycle, type[AlertTriggered | AlertAcknowledged | AlertResolved]] = {
    Lifecycle.TRIGGERED: AlertTriggered,
    Lifecycle.ACKNOWLEDGED: AlertAcknowledged,
    Lifecycle.RESOLVED: AlertResolved,
}

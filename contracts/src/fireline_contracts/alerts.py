"""Events on ``fireline.alerts.v1``: PagerDuty incidents as seen by the ingest service.

Keyed by the PagerDuty incident id (``external_id``): PagerDuty orders deliveries per incident, and
the key keeps that order through Kafka. The three lifecycle events share one payload, so a consumer
that sees only the latest event still has everything it needs to start an incident.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime


class AlertPayload(ContractModel):
    """A PagerDuty incident, enriched with emails from PagerDuty's REST API where possible."""

    integration_id: UUID = Field(description="Fireline PagerDuty integration that received it.")
    source: Literal["pagerduty"] = Field(default="pagerduty", description="Alerting system.")
    external_id: str = Field(min_length=1, description="PagerDuty incident id, e.g. `PT4KHLK`.")
    number: int | None = Field(default=None, description="PagerDuty's incident number.")
    title: str = Field(description="Incident title as PagerDuty shows it.")
    urgency: str | None = Field(default=None, description="PagerDuty urgency (`high`, `low`).")
    priority: str | None = Field(default=None, description="PagerDuty priority name, e.g. `P1`.")
    html_url: str | None = Field(default=None, description="Link to the incident in PagerDuty.")
    service_id: str | None = Field(default=None, description="PagerDuty service id.")
    service_name: str | None = Field(default=None, description="PagerDuty service name.")
    escalation_policy_id: str | None = Field(
        default=None, description="PagerDuty escalation policy the on-call users come from."
    )
    creator_email: str | None = Field(
        default=None,
        description="Email of the PagerDuty user who triggered the incident; null when the "
        "incident came from the Events API or enrichment could not resolve it.",
    )
    oncall_emails: tuple[str, ...] = Field(
        default=(),
        description="Emails of the escalation policy's on-call users, lowest escalation level "
        "first; the incidents service tries them in this order when the creator has no match.",
    )
    incident_type: str | None = Field(
        default=None, description="Fireline incident type from the webhook URL or integration."
    )
    severity: str | None = Field(
        default=None, description="Fireline severity from the webhook URL or integration."
    )
    alert_occurred_at: UtcDatetime = Field(
        description="PagerDuty's `occurred_at` for the webhook event."
    )
    delivery_id: str = Field(
        description="`X-Webhook-Id` of the delivery (or PagerDuty's event id); the same on "
        "every retry."
    )
    pagerduty_event_type: str = Field(
        description="PagerDuty's webhook event type, e.g. `incident.triggered`."
    )
    enrichment_status: Literal["complete", "partial", "skipped", "failed"] = Field(
        description="How far email enrichment got: `skipped` when no API token is configured, "
        "`partial` or `failed` when PagerDuty's REST API did not answer every lookup."
    )


class AlertTriggered(EventEnvelope):
    """PagerDuty triggered an incident; the incidents service starts a Fireline incident."""

    event_type: Literal["AlertTriggered"] = Field(
        default="AlertTriggered", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: AlertPayload = Field(description="The PagerDuty incident.")

    @property
    def kafka_key(self) -> str:
        return self.payload.external_id


class AlertAcknowledged(EventEnvelope):
    """A PagerDuty incident was acknowledged."""

    event_type: Literal["AlertAcknowledged"] = Field(
        default="AlertAcknowledged", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: AlertPayload = Field(description="The PagerDuty incident.")

    @property
    def kafka_key(self) -> str:
        return self.payload.external_id


class AlertResolved(EventEnvelope):
    """A PagerDuty incident was resolved."""

    event_type: Literal["AlertResolved"] = Field(
        default="AlertResolved", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: AlertPayload = Field(description="The PagerDuty incident.")

    @property
    def kafka_key(self) -> str:
        return self.payload.external_id


AlertEvent = Annotated[
    AlertTriggered | AlertAcknowledged | AlertResolved, Field(discriminator="event_type")
]
"""Any event on the alerts topic, discriminated by ``event_type``."""

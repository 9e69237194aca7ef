"""Events on ``fireline.alerts.v1``: PagerDuty incidents as seen by the ingest service.

Keyed by the PagerDuty incident id (``external_id``): PagerDuty orders deliveries per incident, and
the key keeps that order through Kafka. Every event whose PagerDuty delivery carries the whole
incident (``AlertTriggered``, ``AlertAcknowledged``, ``AlertResolved``, ``AlertUpdated``) shares one
payload, so a consumer that sees only the latest of them still has everything it needs to start
and bring up to date an incident. ``AlertActivity`` is what PagerDuty sends with only a reference
to the incident: notes, status updates, responders, the conference bridge, custom fields and
workflows.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from fireline_contracts.envelope import ContractModel, EventEnvelope, UtcDatetime


class AlertAgent(ContractModel):
    """Who or what caused a PagerDuty event, as PagerDuty references it (never an email)."""

    id: str = Field(description="PagerDuty id of the user, service or integration.")
    type: str = Field(
        description="PagerDuty reference type: `user_reference`, `service_reference`, "
        "`inbound_integration_reference`, ..."
    )
    name: str | None = Field(default=None, description="Display name, when PagerDuty sent one.")


class AlertAssignee(ContractModel):
    """A PagerDuty user an incident is assigned to."""

    id: str = Field(description="PagerDuty user id.")
    name: str | None = Field(default=None, description="Display name, when PagerDuty sent one.")


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
    pagerduty_event_id: str | None = Field(
        default=None,
        description="PagerDuty's `event.id` (opaque: usually 26 characters, a long decimal for "
        "workflow events); the same on every delivery of one PagerDuty event.",
    )
    status: str | None = Field(
        default=None,
        description="The incident's PagerDuty status in this event's snapshot (`triggered`, "
        "`acknowledged`, `resolved`); null in events written before it was added.",
    )
    agent: AlertAgent | None = Field(
        default=None, description="Who caused the event; null for automation and old events."
    )
    assignees: tuple[AlertAssignee, ...] | None = Field(
        default=None,
        description="The incident's assignees in this snapshot (empty when resolved); null when "
        "unknown (events written before it was added).",
    )
    escalation_policy_name: str | None = Field(
        default=None, description="Name of the escalation policy (`escalation_policy_id`)."
    )
    priority_severity: str | None = Field(
        default=None,
        description="The Fireline severity the integration's priority map gives `priority`; null "
        "when the incident has no priority or the map has no entry for it.",
    )
    merged_into: str | None = Field(
        default=None,
        description="On a resolution by merge: the PagerDuty id of the incident it was merged "
        "into.",
    )
    pagerduty_incident_type: str | None = Field(
        default=None,
        description="PagerDuty's own incident type name (e.g. `major_default`), when sent; "
        "`incident_type` is Fireline's classification.",
    )
    fireline_change: UUID | None = Field(
        default=None,
        description="Set when this PagerDuty event is the echo of a change Fireline made through "
        "PagerDuty's REST API (the sync request's id): the incidents service records PagerDuty's "
        "time but neither moves the incident nor adds a timeline entry for it.",
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


class AlertUpdated(EventEnvelope):
    """Something else changed a PagerDuty incident, and the delivery carried the whole incident.

    ``payload.pagerduty_event_type`` says what: `incident.unacknowledged`, `.reopened`,
    `.reassigned`, `.escalated`, `.delegated`, `.priority_updated`, `.service_updated`,
    `.incident_type.changed`, or an incident event type PagerDuty added later.
    """

    event_type: Literal["AlertUpdated"] = Field(
        default="AlertUpdated", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: AlertPayload = Field(description="The PagerDuty incident after the change.")

    @property
    def kafka_key(self) -> str:
        return self.payload.external_id


ActivityKind = Literal[
    "note",
    "status_update",
    "responder",
    "conference_bridge",
    "custom_fields",
    "workflow",
    "other",
]


class AlertFieldValue(ContractModel):
    """One custom field value of a PagerDuty incident."""

    name: str = Field(description="The field's name.")
    value: str | tuple[str, ...] | None = Field(
        description="The value as text: a list for multi-value fields, null when cleared."
    )


class AlertActivityPayload(ContractModel):
    """Something that happened on a PagerDuty incident without changing the incident itself."""

    integration_id: UUID = Field(description="Fireline PagerDuty integration that received it.")
    source: Literal["pagerduty"] = Field(default="pagerduty", description="Alerting system.")
    external_id: str = Field(min_length=1, description="PagerDuty incident id.")
    title: str | None = Field(
        default=None, description="The incident reference's summary (usually its title)."
    )
    html_url: str | None = Field(default=None, description="Link to the incident in PagerDuty.")
    kind: ActivityKind = Field(
        description="`note` (incident.annotated), `status_update`, `responder` (added or "
        "replied), `conference_bridge`, `custom_fields`, `workflow` (started or completed), "
        "`other` (an incident event type PagerDuty added later)."
    )
    summary: str = Field(description="One human-readable line saying what happened.")
    text: str | None = Field(
        default=None,
        description="What a person wrote: the note, the status update or the responder message.",
    )
    responder_name: str | None = Field(default=None, description="Responder asked or replying.")
    responder_state: str | None = Field(
        default=None, description="Responder request state, e.g. `pending`, `accepted`."
    )
    conference_url: str | None = Field(default=None, description="Conference bridge URL.")
    conference_numbers: tuple[str, ...] = Field(
        default=(), description="Conference bridge dial-in numbers."
    )
    workflow_name: str | None = Field(default=None, description="Incident workflow's name.")
    custom_fields: tuple[AlertFieldValue, ...] = Field(
        default=(), description="Custom fields that changed."
    )
    agent: AlertAgent | None = Field(default=None, description="Who caused it, if anyone.")
    alert_occurred_at: UtcDatetime = Field(
        description="PagerDuty's `occurred_at` for the webhook event."
    )
    pagerduty_event_id: str = Field(description="PagerDuty's `event.id` (opaque).")
    pagerduty_event_type: str = Field(description="e.g. `incident.annotated`.")
    delivery_id: str = Field(description="`X-Webhook-Id` of the delivery (or the event id).")
    fireline_change: UUID | None = Field(
        default=None,
        description="Set on a note that is the echo of a note Fireline posted through "
        "PagerDuty's REST API (the sync request's id): the incidents service adds no timeline "
        "entry for it.",
    )


class AlertActivity(EventEnvelope):
    """A PagerDuty incident got a note, a status update, a responder, a bridge, a workflow..."""

    event_type: Literal["AlertActivity"] = Field(
        default="AlertActivity", description="Name of the event."
    )
    schema_version: Literal[1] = Field(default=1, description="Version of this event's schema.")
    payload: AlertActivityPayload = Field(description="What happened.")

    @property
    def kafka_key(self) -> str:
        return self.payload.external_id


AlertEvent = Annotated[
    AlertTriggered | AlertAcknowledged | AlertResolved | AlertUpdated | AlertActivity,
    Field(discriminator="event_type"),
]
"""Any event on the alerts topic, discriminated by ``event_type``."""

"""Deliveries become alerts: which ones, with what, and deduplicated by which key."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from fireline_contracts import AlertAcknowledged, AlertResolved, AlertTriggered
from fireline_pagerduty_ingest.domain.alert import NotAnAlert, alert_event_id, build_alert
from fireline_pagerduty_ingest.domain.classification import Classification
from fireline_pagerduty_ingest.domain.delivery import dedupe_key, initial_status
from fireline_pagerduty_ingest.domain.enrichment import Enrichment
from fireline_pagerduty_ingest.domain.webhook import parse_delivery, restored, stored_form
from support.pagerduty_fixtures import (
    ESCALATION_POLICY_ID,
    FULL_INCIDENT_FIXTURES,
    INCIDENT_HTML_URL,
    INCIDENT_ID,
    INCIDENT_NUMBER,
    INCIDENT_TITLE,
    PRIORITY,
    REFERENCE_FIXTURES,
    SERVICE_ID,
    SERVICE_NAME,
    URGENCY,
    delivery,
    load,
)

ORG = uuid.uuid4()
INTEGRATION = uuid.uuid4()
ENRICHED = Enrichment(
    creator_email="ada@example.com", oncall_emails=("grace@example.com",), status="complete"
)


def _alert(
    fixture: str, key: str = "wh-1", *, reparsed: bool = True, received_at: datetime | None = None
) -> object:
    body = delivery(fixture)
    # The worker reads back what the receiver stored; a body it had to parse again (a row from
    # before the stored form) must give the same alert.
    event = parse_delivery(body) if reparsed else restored(stored_form(parse_delivery(body)), b"")
    return build_alert(
        event,
        org_id=ORG,
        integration_id=INTEGRATION,
        dedupe_key=key,
        classification=Classification(incident_type="Outage", severity="SEV1"),
        enrichment=ENRICHED,
        correlation_id="cid-1",
        received_at=received_at,
    )


def test_a_trigger_becomes_an_alert_triggered_with_every_incident_fact() -> None:
    alert = _alert("incident_triggered")

    assert isinstance(alert, AlertTriggered)
    assert alert.org_id == ORG
    assert alert.kafka_key == INCIDENT_ID
    assert alert.correlation_id == "cid-1"
    p = alert.payload
    assert (p.integration_id, p.source, p.external_id) == (INTEGRATION, "pagerduty", INCIDENT_ID)
    assert (p.number, p.title, p.urgency, p.priority) == (
        INCIDENT_NUMBER,
        INCIDENT_TITLE,
        URGENCY,
        PRIORITY,
    )
    assert (p.html_url, p.service_id, p.service_name) == (
        INCIDENT_HTML_URL,
        SERVICE_ID,
        SERVICE_NAME,
    )
    assert p.escalation_policy_id == ESCALATION_POLICY_ID
    assert (p.creator_email, p.oncall_emails) == ("ada@example.com", ("grace@example.com",))
    assert (p.incident_type, p.severity) == ("Outage", "SEV1")
    assert p.alert_occurred_at.isoformat() == "2025-03-14T09:26:53.482000+00:00"
    assert (p.delivery_id, p.pagerduty_event_type, p.enrichment_status) == (
        "wh-1",
        "incident.triggered",
        "complete",
    )


@pytest.mark.parametrize(
    ("fixture", "event_class"),
    [("incident_acknowledged", AlertAcknowledged), ("incident_resolved", AlertResolved)],
)
def test_acknowledge_and_resolve_become_their_alerts(fixture: str, event_class: type) -> None:
    assert isinstance(_alert(fixture), event_class)


@pytest.mark.parametrize("fixture", ["pagey_ping", "service_updated"])
def test_other_deliveries_are_recorded_but_never_published(fixture: str) -> None:
    event = parse_delivery(delivery(fixture))

    assert initial_status(event) == "ignored"
    with pytest.raises(NotAnAlert):
        _alert(fixture)


@pytest.mark.parametrize(
    "fixture",
    ["incident_triggered", "incident_triggered_agent_null", "incident_acknowledged"],
)
def test_lifecycle_deliveries_wait_for_enrichment(fixture: str) -> None:
    assert initial_status(parse_delivery(delivery(fixture))) == "received"


def test_the_alerts_event_id_is_stable_for_a_delivery() -> None:
    first = _alert("incident_triggered", key="wh-1")
    again = _alert("incident_triggered", key="wh-1")
    other = _alert("incident_triggered", key="wh-2")

    assert isinstance(first, AlertTriggered)
    assert isinstance(again, AlertTriggered)
    assert isinstance(other, AlertTriggered)
    assert first.event_id == again.event_id == alert_event_id(INTEGRATION, "wh-1")
    assert other.event_id != first.event_id


def test_a_missing_title_falls_back_instead_of_losing_the_alert() -> None:
    document = load("incident_triggered")
    del document["event"]["data"]["title"]

    event = parse_delivery(json.dumps(document).encode())
    alert = build_alert(
        event,
        org_id=ORG,
        integration_id=INTEGRATION,
        dedupe_key="k",
        classification=Classification(incident_type=None, severity=None),
        enrichment=ENRICHED,
        correlation_id=None,
    )

    assert alert.payload.title == f"PagerDuty incident {INCIDENT_ID}"


def test_the_dedupe_key_is_the_webhook_id_else_the_event_id() -> None:
    event = parse_delivery(delivery("incident_triggered"))

    assert dedupe_key("  9f1c-webhook  ", event) == "9f1c-webhook"
    assert dedupe_key(None, event) == event.id
    assert dedupe_key("   ", event) == event.id
    assert dedupe_key("x" * 201, event) == event.id


@pytest.mark.parametrize("fixture", FULL_INCIDENT_FIXTURES + REFERENCE_FIXTURES)
def test_the_event_the_receiver_stored_becomes_the_same_alert_as_the_body(fixture: str) -> None:
    received_at = datetime.now(UTC)
    from_stored = _alert(fixture, reparsed=False, received_at=received_at)
    from_body = _alert(fixture, received_at=received_at)

    assert type(from_stored) is type(from_body)
    assert isinstance(from_stored, BaseModel)
    assert isinstance(from_body, BaseModel)
    assert from_stored.model_dump_json() == from_body.model_dump_json()

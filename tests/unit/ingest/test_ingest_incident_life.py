"""Every PagerDuty V3 event type, shaped as PagerDuty sends it, parses and becomes the right alert.

One fixture per event type and per shape variant (tests/fixtures/pagerduty/): a person, an
integration or nobody as agent, ``client`` null, absent or set, no priority, empty assignees,
payloads from before ``incident_key``/``reopened_at``/``incident_type`` existed, a merge, a
workflow event whose id is a 38-digit number, custom field values that are text or arrays.
"""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from fireline_contracts import (
    AlertAcknowledged,
    AlertActivity,
    AlertResolved,
    AlertTriggered,
    AlertUpdated,
    parse_event,
)
from fireline_pagerduty_ingest.domain.alert import NotAnAlert, build_alert, priority_severity
from fireline_pagerduty_ingest.domain.classification import Classification
from fireline_pagerduty_ingest.domain.delivery import initial_status
from fireline_pagerduty_ingest.domain.enrichment import SKIPPED
from fireline_pagerduty_ingest.domain.errors import InvalidIntegration
from fireline_pagerduty_ingest.domain.integration import (
    DEFAULT_PRIORITY_SEVERITIES,
    clean_priority_severities,
)
from fireline_pagerduty_ingest.domain.webhook import Publication, WebhookEvent, parse_delivery
from support.pagerduty_fixtures import (
    FULL_INCIDENT_FIXTURES,
    INCIDENT_ID,
    NO_INCIDENT_FIXTURES,
    REFERENCE_FIXTURES,
    delivery,
    load,
)

ORG = UUID("00000000-0000-4000-8000-000000000001")
INTEGRATION = UUID("00000000-0000-4000-8000-0000000000d1")


def alert_of(fixture: str, **overrides: object) -> object:
    event = parse_delivery(delivery(fixture, **overrides))  # type: ignore[arg-type]
    return _build(event)


def _build(event: WebhookEvent) -> object:
    built = build_alert(
        event,
        org_id=ORG,
        integration_id=INTEGRATION,
        dedupe_key="webhook-1",
        classification=Classification(incident_type=None, severity=None),
        enrichment=SKIPPED,
        correlation_id=None,
        priority_severities=DEFAULT_PRIORITY_SEVERITIES,
    )
    # What consumers get is what survives the wire.
    return parse_event(built.to_bytes())


EXPECTED_CLASS = {
    "incident.triggered": AlertTriggered,
    "incident.acknowledged": AlertAcknowledged,
    "incident.resolved": AlertResolved,
}


@pytest.mark.parametrize("fixture", FULL_INCIDENT_FIXTURES)
def test_every_full_incident_event_becomes_an_alert_with_its_state(fixture: str) -> None:
    document = load(fixture)["event"]
    event = parse_delivery(delivery(fixture))

    alert = _build(event)

    assert initial_status(event) == "received"
    assert event.publication is Publication.ALERT
    assert type(alert) is EXPECTED_CLASS.get(document["event_type"], AlertUpdated)
    assert isinstance(alert, AlertTriggered | AlertAcknowledged | AlertResolved | AlertUpdated)
    payload = alert.payload
    assert payload.pagerduty_event_id == document["id"]
    assert payload.pagerduty_event_type == document["event_type"]
    assert payload.status == document["data"]["status"]
    assert payload.assignees is not None
    assert [a.id for a in payload.assignees] == [a["id"] for a in document["data"]["assignees"]]
    agent = document["agent"]
    assert (payload.agent.id if payload.agent else None) == (agent["id"] if agent else None)


@pytest.mark.parametrize("fixture", REFERENCE_FIXTURES)
def test_every_reference_event_becomes_an_activity_on_its_incident(fixture: str) -> None:
    document = load(fixture)["event"]
    event = parse_delivery(delivery(fixture))

    alert = _build(event)

    assert initial_status(event) == "received"
    assert isinstance(alert, AlertActivity)
    assert alert.payload.external_id == INCIDENT_ID
    assert alert.payload.pagerduty_event_id == document["id"]
    assert alert.payload.kind != "other"
    assert alert.payload.summary


@pytest.mark.parametrize("fixture", NO_INCIDENT_FIXTURES)
def test_events_about_no_incident_are_recorded_and_never_published(fixture: str) -> None:
    event = parse_delivery(delivery(fixture))

    assert initial_status(event) == "ignored"
    with pytest.raises(NotAnAlert):
        _build(event)


def test_a_note_and_a_status_update_carry_what_was_written() -> None:
    note = alert_of("incident_annotated")
    update = alert_of("incident_status_update_published")

    assert isinstance(note, AlertActivity)
    assert isinstance(update, AlertActivity)
    assert (note.payload.kind, note.payload.text) == (
        "note",
        load("incident_annotated")["event"]["data"]["content"],
    )
    assert note.payload.agent is not None
    assert note.payload.agent.name == "Grace Hopper"
    assert update.payload.kind == "status_update"
    assert (
        update.payload.text == load("incident_status_update_published")["event"]["data"]["message"]
    )


def test_responders_bridge_fields_and_workflows_are_described() -> None:
    added = alert_of("incident_responder_added")
    replied = alert_of("incident_responder_replied")
    bridge = alert_of("incident_conference_bridge_updated")
    no_numbers = alert_of("incident_conference_bridge_updated_numbers_null")
    fields = alert_of("incident_custom_field_values_updated")
    workflow = alert_of("incident_workflow_started")

    assert isinstance(added, AlertActivity)
    assert isinstance(replied, AlertActivity)
    assert (added.payload.responder_name, added.payload.responder_state) == (
        "Linus Pauling",
        "pending",
    )
    assert replied.payload.responder_state == "accepted"
    assert isinstance(bridge, AlertActivity)
    assert isinstance(no_numbers, AlertActivity)
    assert bridge.payload.conference_url == "https://meet.example.com/checkout-bridge"
    assert bridge.payload.conference_numbers == ("+1 555-0100,,4127#",)
    assert no_numbers.payload.conference_numbers == ()
    assert isinstance(fields, AlertActivity)
    values = {f.name: f.value for f in fields.payload.custom_fields}
    assert values == {"regions": ("us-east-1", "eu-west-1")}, "changed fields, arrays kept"
    assert isinstance(workflow, AlertActivity)
    assert workflow.payload.workflow_name == "Major incident kickoff"
    assert workflow.payload.pagerduty_event_id.isdigit()
    assert len(workflow.payload.pagerduty_event_id) == 38


def test_a_merge_names_the_surviving_incident() -> None:
    merged = alert_of("incident_resolved_merged")

    assert isinstance(merged, AlertResolved)
    assert merged.payload.merged_into == INCIDENT_ID
    plain = alert_of("incident_resolved")
    assert isinstance(plain, AlertResolved)
    assert plain.payload.merged_into is None


def test_agents_may_be_people_integrations_or_nobody() -> None:
    by_integration = alert_of("incident_triggered_events_api_null_key")
    by_nobody = alert_of("incident_triggered_agent_null")
    by_person = alert_of("incident_reopened")

    assert isinstance(by_integration, AlertTriggered)
    assert by_integration.payload.agent is not None
    assert by_integration.payload.agent.type == "inbound_integration_reference"
    assert isinstance(by_nobody, AlertTriggered)
    assert by_nobody.payload.agent is None
    assert isinstance(by_person, AlertUpdated)
    assert by_person.payload.agent is not None
    assert by_person.payload.agent.type == "user_reference"


def test_priority_maps_to_severity_case_insensitively_and_unmapped_is_none() -> None:
    p1 = alert_of("incident_triggered", priority="P1")
    none = alert_of("incident_triggered", priority=None)
    odd = alert_of("incident_triggered", priority="Sev-Urgent")

    assert isinstance(p1, AlertTriggered)
    assert isinstance(none, AlertTriggered)
    assert isinstance(odd, AlertTriggered)
    assert p1.payload.priority_severity == "SEV1"
    assert none.payload.priority is None
    assert none.payload.priority_severity is None
    assert odd.payload.priority_severity is None
    assert priority_severity(" p2 ", {"P2": "SEV2"}) == "SEV2"


def test_a_priority_map_is_cleaned_and_a_bad_one_refused() -> None:
    assert clean_priority_severities(None) == dict(DEFAULT_PRIORITY_SEVERITIES)
    assert clean_priority_severities({" P1 ": " critical "}) == {"P1": "critical"}
    assert clean_priority_severities({}) == {}
    for bad in ({"P1": " "}, {"P1": "SEV1", "p1": "SEV2"}, {"x" * 101: "SEV1"}):
        with pytest.raises(InvalidIntegration):
            clean_priority_severities(bad)


OPTIONAL_NULLS = ("priority", "conference_bridge", "resolve_reason", "incident_key")
NEWER_FIELDS = ("incident_key", "reopened_at", "incident_type", "created_at")


@pytest.mark.parametrize("fixture", FULL_INCIDENT_FIXTURES + REFERENCE_FIXTURES)
def test_optional_fields_null_or_absent_still_make_the_alert(fixture: str) -> None:
    document = load(fixture)
    event = document["event"]
    event["agent"] = None
    del event["client"]
    data = event["data"]
    own_id = data["id"] if data["type"] == "incident" else data["incident"]["id"]
    if data["type"] == "incident":
        data.update(dict.fromkeys(OPTIONAL_NULLS))
        for name in NEWER_FIELDS:
            data.pop(name, None)
        data["assignees"], data["teams"] = [], []
    else:
        data["incident"]["summary"] = None
    body = json.dumps(document).encode()

    alert = _build(parse_delivery(body))

    assert isinstance(
        alert, AlertTriggered | AlertAcknowledged | AlertResolved | AlertUpdated | AlertActivity
    )
    assert alert.payload.agent is None
    assert alert.payload.external_id == own_id

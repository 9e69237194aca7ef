"""Parsing PagerDuty V3 deliveries: the right incident facts come out, and bad bodies are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from fireline_pagerduty_ingest.domain.webhook import (
    Lifecycle,
    MalformedDelivery,
    WebhookEvent,
    lifecycle,
    parse_delivery,
    restored,
    stored_form,
)
from support.pagerduty_fixtures import (
    ESCALATION_POLICY_ID,
    FIXTURES,
    INCIDENT_HTML_URL,
    INCIDENT_ID,
    INCIDENT_NUMBER,
    INCIDENT_TITLE,
    INCIDENT_TYPE,
    ON_CALL_USER_ID,
    PRIORITY,
    RAW_VARIANT_TITLE,
    SERVICE_ID,
    SERVICE_NAME,
    TRIGGERING_USER_ID,
    URGENCY,
    delivery,
    load,
    new_incident_id,
    raw_variant_body,
)


def _body(document: Any) -> bytes:
    return json.dumps(document).encode("utf-8")


def _event_with(**changes: Any) -> bytes:
    document = load("incident_triggered")
    document["event"].update(changes)
    return _body(document)


def _event_without(key: str) -> bytes:
    document = load("incident_triggered")
    del document["event"][key]
    return _body(document)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("incident_triggered", Lifecycle.TRIGGERED),
        ("incident_triggered_agent_null", Lifecycle.TRIGGERED),
        ("incident_acknowledged", Lifecycle.ACKNOWLEDGED),
        ("incident_resolved", Lifecycle.RESOLVED),
        ("incident_annotated", Lifecycle.OTHER),
        ("pagey_ping", Lifecycle.OTHER),
        ("service_updated", Lifecycle.OTHER),
    ],
)
def test_each_fixture_maps_to_its_lifecycle_step(fixture: str, expected: Lifecycle) -> None:
    assert parse_delivery(delivery(fixture)).lifecycle is expected


def test_a_triggered_delivery_yields_every_incident_fact_fireline_stores() -> None:
    event = parse_delivery(delivery("incident_triggered"))

    assert event.id == load("incident_triggered")["event"]["id"]
    assert event.event_type == "incident.triggered"
    assert event.resource_type == "incident"
    assert event.occurred_at == datetime(2025, 3, 14, 9, 26, 53, 482000, tzinfo=UTC)
    assert event.data_type == "incident"
    assert event.agent_user_id == TRIGGERING_USER_ID
    incident = event.incident
    assert incident is not None
    assert incident.is_reference is False
    assert incident.id == INCIDENT_ID
    assert incident.number == INCIDENT_NUMBER
    assert incident.title == INCIDENT_TITLE
    assert incident.status == "triggered"
    assert incident.html_url == INCIDENT_HTML_URL
    assert incident.urgency == URGENCY
    assert incident.priority == PRIORITY
    assert incident.service_id == SERVICE_ID
    assert incident.service_name == SERVICE_NAME
    assert incident.escalation_policy_id == ESCALATION_POLICY_ID
    assert incident.incident_type == INCIDENT_TYPE


@pytest.mark.parametrize(
    ("fixture", "status", "agent_user_id"),
    [
        ("incident_acknowledged", "acknowledged", ON_CALL_USER_ID),
        ("incident_resolved", "resolved", ON_CALL_USER_ID),
    ],
)
def test_later_lifecycle_deliveries_describe_the_same_incident(
    fixture: str, status: str, agent_user_id: str
) -> None:
    event = parse_delivery(delivery(fixture))

    assert event.incident is not None
    assert event.incident.id == INCIDENT_ID
    assert event.incident.status == status
    assert event.agent_user_id == agent_user_id


def test_an_annotation_takes_its_incident_from_the_notes_reference() -> None:
    event = parse_delivery(delivery("incident_annotated"))

    assert event.data_type == "incident_note"
    assert event.agent_user_id == ON_CALL_USER_ID
    incident = event.incident
    assert incident is not None
    assert incident.is_reference is True
    assert incident.id == INCIDENT_ID
    assert incident.html_url == INCIDENT_HTML_URL
    assert incident.summary == INCIDENT_TITLE
    # A reference says nothing about these; None means unknown, not cleared.
    assert incident.title is None
    assert incident.status is None
    assert incident.service_id is None


@pytest.mark.parametrize("fixture", ["pagey_ping", "service_updated"])
def test_pings_and_service_events_parse_without_an_incident(fixture: str) -> None:
    event = parse_delivery(delivery(fixture))

    assert event.incident is None
    assert event.agent is None
    assert event.agent_user_id is None


def test_a_service_event_keeps_its_resource_type() -> None:
    event = parse_delivery(delivery("service_updated"))

    assert event.event_type == "service.updated"
    assert event.resource_type == "service"
    assert event.data_type == "service"


def test_an_events_api_trigger_has_no_agent_and_so_no_creator_candidate() -> None:
    event = parse_delivery(delivery("incident_triggered_agent_null"))

    assert event.agent is None
    assert event.agent_user_id is None
    assert event.incident is not None
    assert event.incident.id == INCIDENT_ID


def test_an_integration_agent_is_not_mistaken_for_a_user() -> None:
    document = load("incident_triggered")
    document["event"]["agent"] = {
        "id": "PINT123",
        "type": "events_api_v2_inbound_integration_reference",
        "summary": "Datadog",
    }

    event = parse_delivery(_body(document))

    assert event.agent is not None
    assert event.agent.id == "PINT123"
    assert event.agent_user_id is None


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("incident.custom_field_values.updated", {"type": "incident_field_values", "fields": []}),
        ("incident.workflow.started", None),
        ("incident.responder.added", {"type": "incident_responder", "incident": "oops"}),
        ("incident.status_update_published", {"type": "incident_status_update"}),
        ("schedule.updated", {"id": "PSCH001", "type": "schedule"}),
        ("something.new", {"anything": ["goes"]}),
    ],
)
def test_unknown_or_unusual_event_types_parse_without_an_incident(
    event_type: str, data: Any
) -> None:
    document = load("pagey_ping")
    document["event"]["event_type"] = event_type
    document["event"]["resource_type"] = event_type.partition(".")[0]
    document["event"]["data"] = data
    event = parse_delivery(_body(document))

    assert event.event_type == event_type
    assert event.lifecycle is Lifecycle.OTHER
    assert event.incident is None


@pytest.mark.parametrize("event_type", ["incident.reopened", "incident.unacknowledged"])
def test_reopened_and_unacknowledged_are_not_new_triggers(event_type: str) -> None:
    document = load("incident_triggered")
    document["event"]["event_type"] = event_type

    event = parse_delivery(_body(document))

    assert event.lifecycle is Lifecycle.OTHER
    assert event.incident is not None
    assert event.incident.id == INCIDENT_ID
    assert event.incident.status == "triggered"


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("incident.triggered", Lifecycle.TRIGGERED),
        ("incident.acknowledged", Lifecycle.ACKNOWLEDGED),
        ("incident.resolved", Lifecycle.RESOLVED),
        ("incident.reopened", Lifecycle.OTHER),
        ("incident.unacknowledged", Lifecycle.OTHER),
        ("incident.annotated", Lifecycle.OTHER),
        ("pagey.ping", Lifecycle.OTHER),
        ("INCIDENT.TRIGGERED", Lifecycle.OTHER),
        ("", Lifecycle.OTHER),
    ],
)
def test_lifecycle_maps_only_the_three_transitions(event_type: str, expected: Lifecycle) -> None:
    assert lifecycle(event_type) is expected


def test_overrides_make_a_distinct_incident_with_a_stable_event_id() -> None:
    incident_id = new_incident_id()
    body = delivery(
        "incident_triggered",
        incident_id=incident_id,
        agent_user_id="PNEWUSR",
        escalation_policy_id="PNEWEP1",
        title="Disk full on db-7",
    )

    event = parse_delivery(body)

    assert event.incident is not None
    assert event.incident.id == incident_id
    assert event.incident.html_url == f"https://acme.pagerduty.com/incidents/{incident_id}"
    assert event.incident.escalation_policy_id == "PNEWEP1"
    assert event.incident.title == "Disk full on db-7"
    assert event.agent_user_id == "PNEWUSR"
    assert event.id != parse_delivery(delivery("incident_triggered")).id
    # Same arguments, same bytes: a replay of the same delivery.
    replay = delivery(
        "incident_triggered",
        incident_id=incident_id,
        agent_user_id="PNEWUSR",
        escalation_policy_id="PNEWEP1",
        title="Disk full on db-7",
    )
    assert replay == body


def test_an_annotation_override_moves_the_reference_too() -> None:
    incident_id = new_incident_id()

    event = parse_delivery(delivery("incident_annotated", incident_id=incident_id, event_id="e-1"))

    assert event.id == "e-1"
    assert event.incident is not None
    assert event.incident.id == incident_id


def test_a_raw_variant_body_parses_to_the_same_facts() -> None:
    event = parse_delivery(raw_variant_body())

    assert event.incident is not None
    assert event.incident.title == RAW_VARIANT_TITLE
    assert event.incident.html_url == INCIDENT_HTML_URL


def test_a_rest_shaped_priority_and_service_are_read_by_name() -> None:
    document = load("incident_triggered")
    data = document["event"]["data"]
    data["priority"] = {"id": "PPR1Q2W", "type": "priority", "name": "SEV-2"}
    data["service"] = {"id": SERVICE_ID, "type": "service", "name": "Checkout"}

    incident = parse_delivery(_body(document)).incident

    assert incident is not None
    assert incident.priority == "SEV-2"
    assert incident.service_name == "Checkout"


def test_odd_field_shapes_inside_the_incident_degrade_to_unknown() -> None:
    document = load("incident_triggered")
    data = document["event"]["data"]
    data.update(number=True, title=42, priority=None, service="PSV7K2M", incident_type=[])

    incident = parse_delivery(_body(document)).incident

    assert incident is not None
    assert incident.id == INCIDENT_ID
    assert (incident.number, incident.title, incident.priority) == (None, None, None)
    assert (incident.service_id, incident.incident_type) == (None, None)


def test_a_missing_agent_or_data_key_reads_as_null() -> None:
    document = load("pagey_ping")
    del document["event"]["agent"]
    del document["event"]["data"]

    event = parse_delivery(_body(document))

    assert event.agent is None
    assert event.data_type is None


def test_a_parsed_event_cannot_be_altered() -> None:
    event = parse_delivery(delivery("incident_triggered"))

    with pytest.raises(ValidationError):
        event.event_type = "incident.resolved"  # type: ignore[misc]
    assert isinstance(event, WebhookEvent)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json at all", r"not valid JSON \(Expecting value at line 1 column 1\)"),
        (b"", r"not valid JSON"),
        (b'{"event": {', r"not valid JSON"),
        (b"\xff\xfe\xfa{}", r"not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, r"not valid JSON"),
        (b'[{"event": {}}]', r"must be a JSON object, not an array"),
        (b'"incident.triggered"', r"must be a JSON object, not a string"),
        (b"null", r"must be a JSON object, not null"),
        (b"{}", r'no "event" object'),
        (b'{"messages": []}', r'no "event" object'),
        (b'{"event": "incident.triggered"}', r'"event" must be a JSON object, not a string'),
        (b'{"event": []}', r'"event" must be a JSON object, not an array'),
        (b'{"event": null}', r'"event" must be a JSON object, not null'),
        (_event_without("event_type"), r"event\.event_type is missing"),
        (_event_with(event_type=7), r"event\.event_type must be a non-empty string, not a number"),
        (_event_with(event_type=""), r"event\.event_type must be a non-empty string"),
        (_event_without("id"), r"event\.id is missing"),
        (_event_without("resource_type"), r"event\.resource_type is missing"),
        (_event_without("occurred_at"), r"event\.occurred_at is missing"),
        (_event_with(occurred_at="yesterday"), r"event\.occurred_at is not an ISO 8601 timestamp"),
        (_event_with(occurred_at="2025-03-14T09:26:53"), r"event\.occurred_at has no UTC offset"),
        (_event_with(agent="PUA1B2C"), r"event\.agent must be an object or null, not a string"),
        (_event_with(data=[1]), r"event\.data must be an object or null, not an array"),
        (_event_with(data=None), r"event\.data must be the incident .* incident\.triggered"),
        (
            _event_with(data={"type": "incident_note", "incident": {"id": INCIDENT_ID}}),
            r"event\.data must be the incident",
        ),
        (_event_with(data={"type": "incident", "title": "no id"}), r"event\.data\.id must be"),
    ],
)
def test_malformed_deliveries_are_refused_with_a_message_saying_what_is_wrong(
    body: bytes, message: str
) -> None:
    with pytest.raises(MalformedDelivery, match=message):
        parse_delivery(body)


def test_malformed_delivery_is_a_value_error() -> None:
    # So generic input-validation handlers that catch ValueError treat it as a client error.
    assert issubclass(MalformedDelivery, ValueError)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_the_stored_form_reads_back_as_the_event_the_receiver_parsed(fixture: str) -> None:
    event = parse_delivery(delivery(fixture))

    # No raw body to fall back on: the event can only come from its stored form.
    assert restored(stored_form(event), b"") == event


def test_text_normalised_at_the_receiver_reads_back_normalised() -> None:
    title = json.dumps(INCIDENT_TITLE).encode()
    body = delivery("incident_triggered").replace(title, b'"cpu \\u0000 \\ud800 hot"')
    event = parse_delivery(body)
    assert event.incident is not None
    assert event.incident.title == "cpu \ufffd \ufffd hot"

    assert restored(stored_form(event), b"") == event


def test_without_a_stored_form_the_raw_body_is_parsed() -> None:
    body = delivery("incident_triggered")

    assert restored(None, body) == parse_delivery(body)


def test_a_stored_form_that_no_longer_validates_is_replaced_by_the_raw_body() -> None:
    body = delivery("incident_acknowledged")
    written_by_another_version = json.dumps({"id": "evt", "kind": "incident.acknowledged"})

    assert restored(written_by_another_version, body) == parse_delivery(body)


def _titled(title_json: bytes) -> bytes:
    return delivery("incident_triggered").replace(json.dumps(INCIDENT_TITLE).encode(), title_json)


@pytest.mark.parametrize(
    ("title_json", "title"),
    [
        (b'"cpu \\u0000 hot"', "cpu \ufffd hot"),
        (b'"cpu \\uD800 \\udfff hot"', "cpu \ufffd \ufffd hot"),
        # Surrogates encoded in the bytes themselves, which json.loads decodes from bytes.
        (b'"cpu \xed\xa0\x80 hot"', "cpu \ufffd hot"),
        (b'"cpu \\\\u0000 hot"', "cpu \\u0000 hot"),
        (b'"cpu \xc3\xa9 \\u00e9 hot"', "cpu \xe9 \xe9 hot"),
    ],
)
def test_unstorable_text_is_normalised_however_the_body_spells_it(
    title_json: bytes, title: str
) -> None:
    event = parse_delivery(_titled(title_json))

    assert event.incident is not None
    assert event.incident.title == title


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),
        lambda text: text.encode("utf-16-le"),
        lambda text: text.encode("utf-32"),
        lambda text: text.encode("utf-8-sig"),
    ],
)
def test_bodies_in_other_encodings_json_reads_parse_as_before(encode: Any) -> None:
    utf8 = delivery("incident_triggered")

    assert parse_delivery(encode(utf8.decode())) == parse_delivery(utf8)

"""Events survive the wire, land on the right topic and key, and refuse what does not fit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal
from uuid import UUID, uuid4

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from fireline_contracts import (
    ALERTS,
    ALL_TOPICS,
    EVENT_TYPES,
    INCIDENTS,
    KEY_USAGE,
    KEYS,
    UPCASTERS,
    USERS,
    AlertAcknowledged,
    AlertActivity,
    AlertActivityPayload,
    AlertAgent,
    AlertAssignee,
    AlertEvent,
    AlertFieldValue,
    AlertPayload,
    AlertResolved,
    AlertTriggered,
    AlertUpdated,
    ContractError,
    ContractModel,
    EventEnvelope,
    IncidentAssignee,
    IncidentAssignmentChanged,
    IncidentAssignmentChangedPayload,
    IncidentDetailsChanged,
    IncidentDetailsChangedPayload,
    IncidentSeverityChanged,
    IncidentSeverityChangedPayload,
    IncidentSource,
    IncidentStarted,
    IncidentStartedPayload,
    IncidentStatusChanged,
    IncidentStatusChangedPayload,
    IncidentTimelineEntryAdded,
    IncidentTimelineEntryPayload,
    IntegrationChanged,
    IntegrationChangedPayload,
    IntegrationCreated,
    IntegrationDeleted,
    IntegrationPayload,
    KeyCreated,
    KeyCreatedPayload,
    KeyEvent,
    KeyExchangeFailed,
    KeyExchangeFailedPayload,
    KeyRenamed,
    KeyRenamedPayload,
    KeyRevoked,
    KeyRevokedPayload,
    KeyRotated,
    KeyRotatedPayload,
    KeysWatermark,
    KeysWatermarkPayload,
    KeyUsed,
    KeyUsedPayload,
    LoginFailed,
    LoginFailedPayload,
    LoginSucceeded,
    LoginSucceededPayload,
    PagerDutySyncAttempted,
    PagerDutySyncAttemptedPayload,
    SessionRevoked,
    SessionRevokedPayload,
    SigningSecretsRotated,
    SigningSecretsRotatedPayload,
    TimelineActor,
    TopicSpec,
    UnknownEventType,
    UserCreated,
    UserDeactivated,
    UserPayload,
    UserUpdated,
    WebhookEndpointChanged,
    WebhookEndpointChangedPayload,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointDisabled,
    WebhookEndpointDisabledPayload,
    WebhookEndpointPayload,
    WebhookEndpointSecretRotated,
    dlq_name,
    parse_event,
    topic_for_event_type,
    topic_name,
)

ORG_ID = UUID("00000000-0000-4000-8000-000000000001")
KEY_ID = UUID("00000000-0000-4000-8000-0000000000a1")
USER_ID = UUID("00000000-0000-4000-8000-0000000000b1")
INCIDENT_ID = UUID("00000000-0000-4000-8000-0000000000c1")
INTEGRATION_ID = UUID("00000000-0000-4000-8000-0000000000d1")
ENDPOINT_ID = UUID("00000000-0000-4000-8000-0000000000e1")
PD_INCIDENT_ID = "Q2KRW8X8BD7GXX"
WHEN = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PREVIOUS_DIGEST = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


def _user(*, active: bool = True) -> UserPayload:
    return UserPayload(
        user_id=USER_ID,
        email="ada@example.com",
        name="Ada",
        role="admin",
        active=active,
        changed_by=USER_ID,
    )


def _alert() -> AlertPayload:
    return AlertPayload(
        integration_id=INTEGRATION_ID,
        external_id=PD_INCIDENT_ID,
        number=1234,
        title="Checkout latency above SLO",
        urgency="high",
        priority="P1",
        html_url="https://acme.pagerduty.com/incidents/Q2KRW8X8BD7GXX",
        service_id="PF9KMXH",
        service_name="checkout",
        escalation_policy_id="PUS0KTE",
        creator_email="ada@example.com",
        oncall_emails=("first@example.com", "second@example.com"),
        incident_type="outage",
        severity="sev1",
        alert_occurred_at=WHEN,
        delivery_id="01F9M1MMP0B3YVK0YFM5Z3Y7E0",
        pagerduty_event_type="incident.triggered",
        enrichment_status="complete",
    )


def _envelope() -> dict[str, Any]:
    return {"org_id": ORG_ID, "occurred_at": WHEN, "correlation_id": "req-42"}


def sample_events() -> list[EventEnvelope]:
    """One fully populated event of every type, every optional field set."""
    return [
        KeyCreated(
            **_envelope(),
            payload=KeyCreatedPayload(
                key_id=KEY_ID,
                name="ci-deployer",
                digest=DIGEST,
                scopes=("incidents:read", "incidents:write"),
                expires_at=WHEN + timedelta(days=90),
                created_by=USER_ID,
                created_at=WHEN,
            ),
        ),
        KeyRenamed(
            **_envelope(),
            payload=KeyRenamedPayload(
                key_id=KEY_ID,
                name="ci",
                digest=DIGEST,
                scopes=("incidents:read", "incidents:write"),
                expires_at=WHEN + timedelta(days=90),
                created_by=USER_ID,
                created_at=WHEN,
                renamed_by=USER_ID,
                previous_digest=PREVIOUS_DIGEST,
                previous_valid_until=WHEN + timedelta(minutes=30),
            ),
        ),
        KeyRevoked(
            **_envelope(),
            payload=KeyRevokedPayload(
                key_id=KEY_ID,
                revoked_at=WHEN,
                revoked_by=USER_ID,
                reason="leaked",
                report_url="https://github.com/acme/app/blob/abc123/config.yml",
            ),
        ),
        UserCreated(**_envelope(), payload=_user()),
        UserUpdated(**_envelope(), payload=_user()),
        UserDeactivated(**_envelope(), payload=_user(active=False)),
        KeyUsed(
            **_envelope(),
            payload=KeyUsedPayload(key_id=KEY_ID, used_at=WHEN, previous_secret=True),
        ),
        AlertTriggered(**_envelope(), payload=_alert()),
        AlertAcknowledged(**_envelope(), payload=_alert()),
        AlertResolved(**_envelope(), payload=_alert()),
        AlertUpdated(
            **_envelope(),
            payload=_alert().model_copy(
                update={
                    "pagerduty_event_type": "incident.reassigned",
                    "pagerduty_event_id": "01GJ4N2B7RZX5K9QTW3VC8HM4D",
                    "status": "acknowledged",
                    "agent": AlertAgent(id="PUA1B2C", type="user_reference", name="Ada"),
                    "assignees": (AlertAssignee(id="PUB3D4E", name="Grace"),),
                    "priority_severity": "SEV1",
                }
            ),
        ),
        AlertActivity(
            **_envelope(),
            payload=AlertActivityPayload(
                integration_id=INTEGRATION_ID,
                external_id=PD_INCIDENT_ID,
                kind="custom_fields",
                summary="Custom fields changed: regions",
                custom_fields=(AlertFieldValue(name="regions", value=("us-east-1", "eu-west-1")),),
                alert_occurred_at=WHEN,
                pagerduty_event_id="32743190385439511823355034091750713370",
                pagerduty_event_type="incident.custom_field_values.updated",
                delivery_id="f3a1c2d4-0000-4000-8000-000000000001",
            ),
        ),
        IncidentSeverityChanged(
            **_envelope(),
            payload=IncidentSeverityChangedPayload(
                incident_id=INCIDENT_ID,
                severity="SEV1",
                previous_severity="SEV3",
                changed_at=WHEN,
                priority="P1",
            ),
        ),
        IncidentAssignmentChanged(
            **_envelope(),
            payload=IncidentAssignmentChangedPayload(
                incident_id=INCIDENT_ID,
                assignees=(IncidentAssignee(id="PUB3D4E", name="Grace"),),
                escalation_policy_id="PEP4Q8Z",
                changed_at=WHEN,
            ),
        ),
        IncidentDetailsChanged(
            **_envelope(),
            payload=IncidentDetailsChangedPayload(
                incident_id=INCIDENT_ID,
                title="Checkout latency above SLO",
                severity="SEV1",
                incident_type="outage",
                source=IncidentSource(kind="pagerduty", external_id=PD_INCIDENT_ID),
                changed_at=WHEN,
            ),
        ),
        IncidentTimelineEntryAdded(
            **_envelope(),
            payload=IncidentTimelineEntryPayload(
                incident_id=INCIDENT_ID,
                entry_id=USER_ID,
                kind="note",
                occurred_at=WHEN,
                actor=TimelineActor(kind="pagerduty_user", id="PUB3D4E", name="Grace"),
                source="pagerduty",
                source_event_id="01GJ4N2B7RZX5K9QTW3VC8HM4D",
                summary="Note by Grace",
                text="Rolled back deploy 4812.",
            ),
        ),
        IncidentStarted(
            **_envelope(),
            payload=IncidentStartedPayload(
                incident_id=INCIDENT_ID,
                number=7,
                title="Checkout latency above SLO",
                status="triggered",
                severity="sev1",
                incident_type="outage",
                creator_id=USER_ID,
                source=IncidentSource(
                    kind="pagerduty",
                    external_id=PD_INCIDENT_ID,
                    html_url="https://acme.pagerduty.com/incidents/Q2KRW8X8BD7GXX",
                    service_id="PF9KMXH",
                    service_name="checkout",
                ),
                created_at=WHEN,
                timeline=(
                    IncidentTimelineEntryPayload(
                        incident_id=INCIDENT_ID,
                        entry_id=UUID("00000000-0000-4000-8000-0000000000d7"),
                        kind="started",
                        occurred_at=WHEN,
                        actor=TimelineActor(kind="system"),
                        source="pagerduty",
                        summary="Incident started by PagerDuty incident.triggered",
                    ),
                ),
            ),
        ),
        IncidentStatusChanged(
            **_envelope(),
            payload=IncidentStatusChangedPayload(
                incident_id=INCIDENT_ID,
                status="resolved",
                previous_status="acknowledged",
                changed_at=WHEN,
                acknowledged_at=WHEN - timedelta(minutes=5),
                resolved_at=WHEN,
            ),
        ),
        LoginSucceeded(
            **_envelope(),
            payload=LoginSucceededPayload(
                user_id=USER_ID, email="ada@example.com", session_id=uuid4(), address="192.0.2.7"
            ),
        ),
        LoginFailed(
            **_envelope(),
            payload=LoginFailedPayload(
                user_id=USER_ID, email="ada@example.com", address="192.0.2.7"
            ),
        ),
        SessionRevoked(
            **_envelope(),
            payload=SessionRevokedPayload(
                user_id=USER_ID, session_id=uuid4(), reason="logout", revoked_by=USER_ID
            ),
        ),
        KeyExchangeFailed(
            **_envelope(),
            payload=KeyExchangeFailedPayload(
                key_id=KEY_ID, window_start=WHEN, window_s=60, attempts=3, addresses=("192.0.2.7",)
            ),
        ),
        IntegrationCreated(
            **_envelope(),
            payload=IntegrationPayload(
                integration_id=INTEGRATION_ID, name="checkout", changed_by_key=KEY_ID
            ),
        ),
        IntegrationChanged(
            **_envelope(),
            payload=IntegrationChangedPayload(
                integration_id=INTEGRATION_ID,
                name="checkout",
                changed_by_key=KEY_ID,
                changed=("name", "pagerduty_api_token"),
            ),
        ),
        SigningSecretsRotated(
            **_envelope(),
            payload=SigningSecretsRotatedPayload(
                integration_id=INTEGRATION_ID,
                name="checkout",
                changed_by_key=KEY_ID,
                added=1,
                retired=1,
            ),
        ),
        IntegrationDeleted(
            **_envelope(),
            payload=IntegrationPayload(
                integration_id=INTEGRATION_ID, name="checkout", changed_by_key=KEY_ID
            ),
        ),
        WebhookEndpointCreated(
            **_envelope(),
            payload=WebhookEndpointPayload(
                endpoint_id=ENDPOINT_ID, host="hooks.example.com", changed_by_key=KEY_ID
            ),
        ),
        WebhookEndpointChanged(
            **_envelope(),
            payload=WebhookEndpointChangedPayload(
                endpoint_id=ENDPOINT_ID,
                host="hooks.example.com",
                changed_by_key=KEY_ID,
                changed=("url", "enabled"),
            ),
        ),
        WebhookEndpointSecretRotated(
            **_envelope(),
            payload=WebhookEndpointPayload(
                endpoint_id=ENDPOINT_ID, host="hooks.example.com", changed_by_key=KEY_ID
            ),
        ),
        WebhookEndpointDeleted(
            **_envelope(),
            payload=WebhookEndpointPayload(endpoint_id=ENDPOINT_ID, host="hooks.example.com"),
        ),
        WebhookEndpointDisabled(
            **_envelope(),
            payload=WebhookEndpointDisabledPayload(
                endpoint_id=ENDPOINT_ID,
                host="hooks.example.com",
                reason="failing",
                failing_since=WHEN - timedelta(days=5),
                disabled_at=WHEN,
            ),
        ),
        PagerDutySyncAttempted(
            **_envelope(),
            payload=PagerDutySyncAttemptedPayload(
                incident_id=INCIDENT_ID,
                integration_id=INTEGRATION_ID,
                external_id=PD_INCIDENT_ID,
                request_id=UUID("00000000-0000-4000-8000-0000000000e1"),
                action="resolve",
                outcome="rate_limited",
                attempt=1,
                status_code=429,
                detail="Rate Limit Exceeded",
                next_attempt_at=WHEN + timedelta(seconds=30),
                attempted_at=WHEN,
            ),
        ),
        KeyRotated(
            **_envelope(),
            payload=KeyRotatedPayload(
                key_id=KEY_ID,
                name="ci",
                digest=DIGEST,
                scopes=("incidents:read",),
                expires_at=WHEN + timedelta(days=90),
                created_by=USER_ID,
                created_at=WHEN,
                previous_digest=PREVIOUS_DIGEST,
                previous_valid_until=WHEN + timedelta(minutes=30),
                rotated_at=WHEN,
                rotated_by=USER_ID,
            ),
        ),
        KeysWatermark(
            **_envelope(),
            payload=KeysWatermarkPayload(
                partition=1, partitions=3, as_of=WHEN, route="keys-watermark-1-0"
            ),
        ),
    ]


SAMPLES = sample_events()


def _spec_of(event: EventEnvelope) -> TopicSpec:
    (spec,) = [spec for spec in ALL_TOPICS if type(event) in spec.events]
    return spec


def _ids(event: EventEnvelope) -> str:
    return event.event_type


def test_every_registered_event_type_has_a_sample_and_a_topic() -> None:
    assert (
        {event.event_type for event in SAMPLES}
        == set(EVENT_TYPES)
        == {
            "KeyCreated",
            "KeyRenamed",
            "KeyRotated",
            "KeyRevoked",
            "KeysWatermark",
            "UserCreated",
            "UserUpdated",
            "UserDeactivated",
            "KeyUsed",
            "AlertTriggered",
            "AlertUpdated",
            "AlertActivity",
            "IncidentSeverityChanged",
            "IncidentAssignmentChanged",
            "IncidentDetailsChanged",
            "IncidentTimelineEntryAdded",
            "AlertAcknowledged",
            "AlertResolved",
            "IncidentStarted",
            "IncidentStatusChanged",
            "LoginSucceeded",
            "LoginFailed",
            "SessionRevoked",
            "KeyExchangeFailed",
            "IntegrationCreated",
            "IntegrationChanged",
            "SigningSecretsRotated",
            "IntegrationDeleted",
            "WebhookEndpointCreated",
            "WebhookEndpointChanged",
            "WebhookEndpointSecretRotated",
            "WebhookEndpointDeleted",
            "WebhookEndpointDisabled",
            "PagerDutySyncAttempted",
        }
    )
    on_topics = [event for spec in ALL_TOPICS for event in spec.events]
    assert sorted(e.declared_event_type() for e in on_topics) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=_ids)
def test_event_round_trips_through_bytes(event: EventEnvelope) -> None:
    raw = event.to_bytes()

    parsed = parse_event(raw, spec=_spec_of(event))

    assert type(parsed) is type(event)
    assert parsed == event
    assert parse_event(raw.decode()) == event
    assert parsed.to_bytes() == raw


def test_round_trip_keeps_every_payload_value() -> None:
    (created,) = [e for e in SAMPLES if isinstance(e, KeyCreated)]

    parsed = parse_event(created.to_bytes())

    assert isinstance(parsed, KeyCreated)
    assert parsed.payload.scopes == ("incidents:read", "incidents:write")
    assert parsed.payload.expires_at == WHEN + timedelta(days=90)
    assert parsed.event_id == created.event_id
    assert parsed.correlation_id == "req-42"


def test_topic_unions_pick_the_class_from_event_type() -> None:
    alert = TypeAdapter(AlertEvent).validate_json(SAMPLES[8].to_bytes())
    key = TypeAdapter(KeyEvent).validate_json(SAMPLES[2].to_bytes())

    assert isinstance(alert, AlertAcknowledged)
    assert isinstance(key, KeyRevoked)


def test_envelope_defaults_give_a_fresh_id_and_the_current_utc_time() -> None:
    before = datetime.now(UTC)
    first = KeyUsed(org_id=ORG_ID, payload=KeyUsedPayload(key_id=KEY_ID, used_at=WHEN))
    second = KeyUsed(org_id=ORG_ID, payload=KeyUsedPayload(key_id=KEY_ID, used_at=WHEN))

    assert first.event_id != second.event_id
    assert first.event_type == "KeyUsed"
    assert first.schema_version == 1
    assert first.correlation_id is None
    assert before <= first.occurred_at <= datetime.now(UTC)
    assert first.occurred_at.utcoffset() == timedelta(0)


def test_datetimes_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=2))

    event = KeyUsed(
        org_id=ORG_ID,
        occurred_at=datetime(2026, 3, 14, 11, 0, tzinfo=paris),
        payload=KeyUsedPayload(key_id=KEY_ID, used_at=datetime(2026, 3, 14, 11, 0, tzinfo=paris)),
    )

    assert event.occurred_at.tzinfo is UTC
    assert event.occurred_at.hour == 9
    assert event.payload.used_at.tzinfo is UTC
    assert b'"used_at":"2026-03-14T09:00:00Z"' in event.to_bytes()


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        KeyUsedPayload(key_id=KEY_ID, used_at=datetime(2026, 3, 14, 9, 0))


def test_key_created_refuses_anything_but_a_sha256_hex_digest() -> None:
    fields: dict[str, Any] = {"key_id": KEY_ID, "name": "ci", "scopes": (), "created_at": WHEN}

    with pytest.raises(ValidationError, match="digest"):
        KeyCreatedPayload(**fields, digest="fl_live_4f9a0c2e7b1d")
    with pytest.raises(ValidationError, match="digest"):
        KeyCreatedPayload(**fields, digest=DIGEST.upper())


def test_a_key_renamed_from_before_the_state_fields_still_parses() -> None:
    # Exactly what identity published before renames carried the key's state.
    raw = (
        '{"event_id":"6f1c3f5e-8d9e-4d8a-9a51-3f0e6f0f2b10","event_type":"KeyRenamed",'
        '"schema_version":1,"occurred_at":"2026-03-14T09:26:53Z",'
        f'"org_id":"{ORG_ID}","correlation_id":null,'
        f'"payload":{{"key_id":"{KEY_ID}","name":"ci"}}}}'
    )

    parsed = parse_event(raw, spec=KEYS)

    assert isinstance(parsed, KeyRenamed)
    assert parsed.payload.name == "ci"
    payload = parsed.payload
    state = (payload.digest, payload.scopes, payload.expires_at, payload.created_at)
    assert state == (None, None, None, None)


def test_key_renamed_carries_the_keys_state_whole_or_not_at_all() -> None:
    state: dict[str, Any] = {"digest": DIGEST, "scopes": ("incidents:read",), "created_at": WHEN}
    for missing in state:
        partial = {k: v for k, v in state.items() if k != missing}
        with pytest.raises(ValidationError, match=f"also needs {missing}"):
            KeyRenamedPayload(key_id=KEY_ID, name="ci", **partial)
    with pytest.raises(ValidationError, match="digest"):
        KeyRenamedPayload(key_id=KEY_ID, name="ci", **{**state, "digest": DIGEST.upper()})
    # Expiry and creator are legitimately null on a key with the rest of its state.
    whole = KeyRenamedPayload(key_id=KEY_ID, name="ci", **state)
    assert (whole.expires_at, whole.created_by) == (None, None)


def test_a_replaced_secrets_digest_and_its_end_go_together() -> None:
    state: dict[str, Any] = {"digest": DIGEST, "scopes": ("incidents:read",), "created_at": WHEN}
    rotated: dict[str, Any] = {**state, "name": "ci", "key_id": KEY_ID, "rotated_at": WHEN}
    end = WHEN + timedelta(minutes=5)
    for half in ({"previous_digest": PREVIOUS_DIGEST}, {"previous_valid_until": end}):
        with pytest.raises(ValidationError, match="go together"):
            KeyRotatedPayload(**rotated, **half)
        with pytest.raises(ValidationError, match="go together"):
            KeyRenamedPayload(key_id=KEY_ID, name="ci", **state, **half)
    # A rotation without grace carries neither: the old secret dies with the event.
    assert KeyRotatedPayload(**rotated).previous_digest is None
    grace = {"previous_digest": PREVIOUS_DIGEST, "previous_valid_until": end}
    with pytest.raises(ValidationError, match="needs the key's state"):
        KeyRenamedPayload(key_id=KEY_ID, name="ci", **grace)


@pytest.mark.parametrize("event", SAMPLES, ids=_ids)
def test_events_and_payloads_are_frozen(event: EventEnvelope) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        # The type checker already refuses this; the test proves the runtime does too.
        event.org_id = uuid4()  # type: ignore[misc]
    payload: ContractModel = getattr(event, "payload")  # noqa: B009 - the base declares no payload
    first_field = next(iter(type(payload).model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(payload, first_field, None)
    assert hash(event) == hash(parse_event(event.to_bytes()))


_EXPECTED_KEY = {
    "KeyCreated": str(KEY_ID),
    "KeyRenamed": str(KEY_ID),
    "KeyRevoked": str(KEY_ID),
    "KeysWatermark": "keys-watermark-1-0",
    "UserCreated": str(USER_ID),
    "UserUpdated": str(USER_ID),
    "UserDeactivated": str(USER_ID),
    "LoginSucceeded": str(USER_ID),
    "LoginFailed": str(USER_ID),
    "SessionRevoked": str(USER_ID),
    "KeyUsed": str(KEY_ID),
    "KeyExchangeFailed": str(KEY_ID),
    "IntegrationCreated": str(INTEGRATION_ID),
    "IntegrationChanged": str(INTEGRATION_ID),
    "SigningSecretsRotated": str(INTEGRATION_ID),
    "IntegrationDeleted": str(INTEGRATION_ID),
    "AlertTriggered": PD_INCIDENT_ID,
    "AlertAcknowledged": PD_INCIDENT_ID,
    "AlertResolved": PD_INCIDENT_ID,
    "IncidentStarted": str(INCIDENT_ID),
    "IncidentStatusChanged": str(INCIDENT_ID),
    "IncidentSeverityChanged": str(INCIDENT_ID),
    "IncidentAssignmentChanged": str(INCIDENT_ID),
    "IncidentDetailsChanged": str(INCIDENT_ID),
    "IncidentTimelineEntryAdded": str(INCIDENT_ID),
    "AlertUpdated": PD_INCIDENT_ID,
    "AlertActivity": PD_INCIDENT_ID,
    "KeyRotated": str(KEY_ID),
    "WebhookEndpointCreated": str(ENDPOINT_ID),
    "WebhookEndpointChanged": str(ENDPOINT_ID),
    "WebhookEndpointSecretRotated": str(ENDPOINT_ID),
    "WebhookEndpointDeleted": str(ENDPOINT_ID),
    "WebhookEndpointDisabled": str(ENDPOINT_ID),
    "PagerDutySyncAttempted": str(INCIDENT_ID),
}


@pytest.mark.parametrize(
    ("event", "expected_key"),
    [(event, _EXPECTED_KEY[event.event_type]) for event in SAMPLES],
    ids=[event.event_type for event in SAMPLES],
)
def test_kafka_key_is_the_aggregate_id(event: EventEnvelope, expected_key: str) -> None:
    assert event.kafka_key == expected_key


def test_topics_are_versioned_and_state_carrying_ones_compactable() -> None:
    assert [spec.name for spec in ALL_TOPICS] == [
        "fireline.identity.keys.v1",
        "fireline.identity.users.v1",
        "fireline.auth.key-usage.v1",
        "fireline.alerts.v1",
        "fireline.incidents.v1",
        "fireline.identity.sessions.v1",
        "fireline.auth.key-exchange-failures.v1",
        "fireline.pagerduty.integrations.v1",
        "fireline.notifications.v1",
        "fireline.pagerduty.sync.v1",
    ]
    assert {spec.name for spec in ALL_TOPICS if spec.compacted} == {KEYS.name, USERS.name}
    assert KEY_USAGE.event_types == {"KeyUsed"}
    assert topic_for_event_type("AlertResolved") is ALERTS
    assert topic_for_event_type("IncidentStarted") is INCIDENTS


def test_topic_and_dlq_names_honour_the_prefix() -> None:
    prefixed = topic_name(KEYS, "test-1a2b.")

    assert topic_name(KEYS) == "fireline.identity.keys.v1"
    assert prefixed == "test-1a2b.fireline.identity.keys.v1"
    assert dlq_name(prefixed) == "test-1a2b.fireline.identity.keys.v1.dlq"


def test_parse_event_rejects_an_unknown_event_type() -> None:
    raw = SAMPLES[0].to_bytes().replace(b'"KeyCreated"', b'"KeyMinted"')

    with pytest.raises(UnknownEventType, match="KeyMinted") as caught:
        parse_event(raw)

    assert isinstance(caught.value, ContractError)
    assert caught.value.event_type == "KeyMinted"
    with pytest.raises(UnknownEventType):
        topic_for_event_type("KeyMinted")


def test_parse_event_rejects_an_event_from_another_topic() -> None:
    raw = SAMPLES[0].to_bytes()

    with pytest.raises(UnknownEventType, match=r"fireline\.alerts\.v1") as caught:
        parse_event(raw, spec=ALERTS)

    assert caught.value.topic == ALERTS.name
    assert isinstance(parse_event(raw, spec=KEYS), KeyCreated)


def test_parse_event_rejects_a_missing_org_id() -> None:
    data = SAMPLES[3].model_dump(mode="json")
    del data["org_id"]

    with pytest.raises(ValidationError) as caught:
        parse_event(TypeAdapter(dict[str, Any]).dump_json(data))

    assert [error["loc"] for error in caught.value.errors()] == [("org_id",)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b'["KeyCreated"]', "not a JSON object"),
        (b'{"schema_version": 1}', "unknown event_type None"),
    ],
)
def test_parse_event_rejects_malformed_messages(raw: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_event(raw)


def test_parse_event_rejects_a_payload_of_another_event_type() -> None:
    data = SAMPLES[2].model_dump(mode="json")  # KeyRevoked
    data["event_type"] = "KeyCreated"

    with pytest.raises(ValidationError, match="payload"):
        parse_event(TypeAdapter(dict[str, Any]).dump_json(data))


def test_parse_event_refuses_a_schema_version_newer_than_the_code() -> None:
    data = SAMPLES[1].model_dump(mode="json")
    data["schema_version"] = 2

    with pytest.raises(ContractError, match="upgrade fireline-contracts"):
        parse_event(TypeAdapter(dict[str, Any]).dump_json(data))


class _KeyRenamedPayloadV2(ContractModel):
    key_id: UUID = Field(description="Id of the renamed key.")
    label: str = Field(description="The key's new name (called `name` in v1).")


class _KeyRenamedV2(EventEnvelope):
    """What KeyRenamed would look like after an incompatible field rename."""

    event_type: Literal["KeyRenamed"] = Field(default="KeyRenamed", description="Event name.")
    schema_version: Literal[2] = Field(default=2, description="Schema version.")
    payload: _KeyRenamedPayloadV2 = Field(description="The key and its new label.")

    @property
    def kafka_key(self) -> str:
        return str(self.payload.key_id)


def _rename_name_to_label(event: dict[str, Any]) -> dict[str, Any]:
    payload = dict(event["payload"])
    payload["label"] = payload.pop("name")
    return {**event, "payload": payload}


def test_upcasters_turn_an_old_stored_version_into_the_current_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Name only, as first published: the imagined v2 payload has no room for the key's state.
    stored_v1 = KeyRenamed(**_envelope(), payload=KeyRenamedPayload(key_id=KEY_ID, name="ci"))
    monkeypatch.setitem(EVENT_TYPES, "KeyRenamed", _KeyRenamedV2)
    monkeypatch.setitem(UPCASTERS, ("KeyRenamed", 1), _rename_name_to_label)

    parsed = parse_event(stored_v1.model_dump_json(exclude_none=True), spec=KEYS)

    assert isinstance(parsed, _KeyRenamedV2)
    assert parsed.schema_version == 2
    assert parsed.payload.label == stored_v1.payload.name
    assert parsed.event_id == stored_v1.event_id
    assert parsed.kafka_key == stored_v1.kafka_key


def test_an_old_version_without_an_upcaster_is_a_contract_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(EVENT_TYPES, "KeyRenamed", _KeyRenamedV2)

    with pytest.raises(ContractError, match="no upcaster for KeyRenamed from schema_version 1"):
        parse_event(SAMPLES[1].to_bytes())


def test_events_of_the_current_version_skip_the_upcasters(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(event: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("a current event must not be upcast")

    monkeypatch.setitem(UPCASTERS, ("KeyRenamed", 1), explode)

    assert parse_event(SAMPLES[1].to_bytes()) == SAMPLES[1]


def test_an_event_never_carries_text_no_consumer_can_store() -> None:
    # As a producer that skipped the rule would put it on the wire: JSON escapes for a NUL and a
    # lone surrogate. Every consumer parses with the contract, so each gets U+FFFD instead.
    raw = (
        KeyCreated(
            org_id=uuid4(),
            payload=KeyCreatedPayload(
                key_id=KEY_ID,
                name="placeholder",
                digest=DIGEST,
                scopes=("incidents:read",),
                expires_at=None,
                created_by=USER_ID,
                created_at=WHEN,
            ),
        )
        .to_bytes()
        .replace(b"placeholder", b"nul\\u0000 and \\ud800")
    )

    parsed = parse_event(raw)

    assert isinstance(parsed, KeyCreated)
    assert parsed.payload.name == "nul\ufffd and \ufffd"
    assert b"\\u0000" not in parsed.to_bytes()


def _key_event_with_name(replacement: bytes) -> bytes:
    return (
        KeyCreated(
            org_id=uuid4(),
            payload=KeyCreatedPayload(
                key_id=KEY_ID,
                name="placeholder",
                digest=DIGEST,
                scopes=("incidents:read",),
                expires_at=None,
                created_by=USER_ID,
                created_at=WHEN,
            ),
        )
        .to_bytes()
        .replace(b"placeholder", replacement)
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # A lone surrogate encoded in the bytes themselves: json.loads lets it through.
        (b"lone \xed\xa0\x80 here", "lone \ufffd here"),
        # An escaped pair is an emoji, not a lone surrogate: kept.
        (b"pager \\ud83d\\udcdf", "pager \U0001f4df"),
        # Upper-case escapes are escapes too.
        (b"nul\\u0000 \\uD800", "nul\ufffd \ufffd"),
        # A plain message: the fast path, nothing to change.
        (b"checkout \xe2\x80\x94 latency", "checkout \u2014 latency"),
    ],
    ids=["encoded-surrogate", "escaped-pair", "upper-case-escapes", "plain"],
)
def test_parsed_text_is_storable_whatever_way_it_was_written(name: bytes, expected: str) -> None:
    raw = _key_event_with_name(name)

    for given in (raw, raw.decode("utf-8", "surrogatepass")):
        parsed = parse_event(given)
        assert isinstance(parsed, KeyCreated)
        assert parsed.payload.name == expected


def _key_payload(name: str) -> dict[str, Any]:
    return {
        "key_id": str(KEY_ID),
        "name": name,
        "digest": DIGEST,
        "scopes": ["incidents:read"],
        "expires_at": None,
        "created_by": str(USER_ID),
        "created_at": WHEN.isoformat(),
    }


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("nul\x00", "nul\ufffd"),  # ASCII: NUL is the only character to replace
        ("lone \ud800 café", "lone \ufffd café"),
        ("café \u202e fine", "café \u202e fine"),  # storable, if unusual: kept as sent
        ("plain", "plain"),
    ],
)
def test_a_constructor_normalises_each_string_it_is_given(sent: str, kept: str) -> None:
    assignee = IncidentAssignee(id="PU1", name=sent)
    payload = IncidentAssignmentChangedPayload(
        incident_id=uuid4(),
        assignees=[{"id": "PU2", "name": sent}, assignee],
        escalation_policy_name=sent,
        changed_at=WHEN,
    )

    assert assignee.name == kept
    assert [a.name for a in payload.assignees] == [kept, kept]
    assert payload.escalation_policy_name == kept


def test_every_way_of_building_an_event_normalises_its_text() -> None:
    # A producer builds events in Python, a consumer from JSON: each way, at any depth (the name
    # sits in the nested payload), NUL and lone surrogates become U+FFFD before validation.
    hostile = "nul\x00 and \ud800"
    org = str(uuid4())
    as_dict = {"event_type": "KeyCreated", "org_id": org, "payload": _key_payload(hostile)}
    as_json = json.dumps(as_dict)  # writes both characters as \u escapes

    built = [
        KeyCreated(org_id=UUID(org), payload=KeyCreatedPayload(**_key_payload(hostile))),
        KeyCreated(org_id=UUID(org), payload=_key_payload(hostile)),
        KeyCreated.model_validate(as_dict),
        KeyCreated.model_validate_json(as_json),
        KeyCreated.model_validate_json(as_json.encode()),
    ]

    assert [event.payload.name for event in built] == ["nul\ufffd and \ufffd"] * len(built)

"""The webhook receiver: PagerDuty's status-code rules, signatures over the raw body, dedupe."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from fireline_contracts import AlertActivity, AlertTriggered
from integration.ingest.ingest_harness import IngestApp
from support.pagerduty_fixtures import (
    FIXTURES,
    FULL_INCIDENT_FIXTURES,
    NO_INCIDENT_FIXTURES,
    REFERENCE_FIXTURES,
    delivery,
    new_incident_id,
    raw_variant_body,
    signed,
)
from support.token_issuer import TokenIssuer

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-current"
NEXT_SECRET = "pagerduty-signing-secret-next-1"
TO_THE_WORKER = (
    "incident_acknowledged",
    "incident_acknowledged_no_reopened_at",
    "incident_resolved",
    "incident_resolved_merged",
    "incident_annotated",
)
"""A user's acknowledgement, resolution or note may be the echo of Fireline's own change, which
only the worker recognises; the rest is published on receipt (the integration has no token)."""
EXPECTED_RECORDING = {
    **dict.fromkeys(FULL_INCIDENT_FIXTURES + REFERENCE_FIXTURES, "published"),
    **dict.fromkeys(TO_THE_WORKER, "received"),
    **dict.fromkeys(NO_INCIDENT_FIXTURES, "ignored"),
}


@pytest.fixture
async def integration_id(svc: IngestApp, issuer: TokenIssuer) -> str:
    created = await svc.create_integration(
        issuer.token(org_id=uuid.uuid4()),
        signing_secrets=[SECRET],
        default_severity="SEV3",
        default_incident_type="Outage",
    )
    return str(created["id"])


@pytest.mark.parametrize("fixture", FIXTURES)
async def test_every_documented_delivery_is_accepted_and_recorded(
    svc: IngestApp, integration_id: str, fixture: str
) -> None:
    body = delivery(fixture)
    headers = signed(body, SECRET)

    response = await svc.deliver(integration_id, body, headers)

    assert response.status_code == 202
    assert response.json() == {
        "status": "accepted",
        "delivery_id": headers["X-Webhook-Id"],
        "recorded_as": EXPECTED_RECORDING[fixture],
    }
    [row] = await svc.deliveries()
    assert row["dedupe_key"] == headers["X-Webhook-Id"]
    assert bytes(row["body"]) == body


async def test_unknown_event_types_are_accepted_and_ignored(
    svc: IngestApp, integration_id: str
) -> None:
    document = json.loads(delivery("pagey_ping"))
    document["event"].update(event_type="incident.workflow.completed", data={"odd": [1, 2]})
    body = json.dumps(document).encode()

    response = await svc.deliver(integration_id, body, signed(body, SECRET))

    assert response.status_code == 202
    assert response.json()["recorded_as"] == "ignored"


async def test_only_incident_events_reach_the_alerts_topic_in_their_order(
    svc: IngestApp, integration_id: str
) -> None:
    incident = new_incident_id()
    for fixture in ("pagey_ping", "service_updated", "incident_annotated", "incident_triggered"):
        body = delivery(fixture, incident_id=incident if "incident" in fixture else None)
        assert (await svc.deliver(integration_id, body, signed(body, SECRET))).status_code == 202

    assert await svc.settled()
    alerts = await svc.alerts(until=2, timeout=5)

    assert [type(a) for a in alerts] == [AlertActivity, AlertTriggered]


async def test_a_signature_among_several_v1_values_is_enough(
    svc: IngestApp, integration_id: str
) -> None:
    body = delivery("incident_triggered", incident_id=new_incident_id())
    headers = signed(body, ["some-other-subscription-secret", SECRET, "yet-another-secret-x"])
    assert headers["X-PagerDuty-Signature"].count("v1=") == 3

    assert (await svc.deliver(integration_id, body, headers)).status_code == 202


async def test_during_a_rotation_either_secret_verifies(
    svc: IngestApp, integration_id: str, issuer: TokenIssuer
) -> None:
    async with svc.runtime.pool.acquire() as conn:
        org = await conn.fetchval(
            "SELECT org_id FROM integrations WHERE id = $1", uuid.UUID(integration_id)
        )
    token = issuer.token(org_id=org)
    patched = await svc.client.patch(
        f"/v1/integrations/pagerduty/{integration_id}",
        json={"add_signing_secret": NEXT_SECRET},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert patched.status_code == 200

    for secrets in ([SECRET], [NEXT_SECRET], [SECRET, NEXT_SECRET]):
        body = delivery("pagey_ping")
        response = await svc.deliver(integration_id, body, signed(body, secrets))
        assert response.status_code == 202, secrets


async def test_the_raw_body_is_verified_not_a_reserialisation(
    svc: IngestApp, integration_id: str
) -> None:
    raw = raw_variant_body(incident_id=new_incident_id())
    reserialised = json.dumps(json.loads(raw)).encode()
    assert raw != reserialised

    # What a receiver that re-serialises before verifying would accept: the signature of other
    # bytes than the ones sent.
    wrong = await svc.deliver(integration_id, raw, signed(reserialised, SECRET))
    right = await svc.deliver(integration_id, raw, signed(raw, SECRET))

    assert wrong.status_code == 401
    assert right.status_code == 202
    [row] = await svc.deliveries()
    assert bytes(row["body"]) == raw


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "v1=",
        "v1=" + "0" * 64,
        "v0=" + hmac.new(SECRET.encode(), b"x", hashlib.sha256).hexdigest(),
        "garbage",
    ],
)
async def test_a_bad_signature_is_refused_and_stores_nothing(
    svc: IngestApp, integration_id: str, signature: str | None
) -> None:
    body = delivery("incident_triggered")
    headers = signed(body, SECRET)
    if signature is None:
        del headers["X-PagerDuty-Signature"]
    else:
        headers["X-PagerDuty-Signature"] = signature

    response = await svc.deliver(integration_id, body, headers)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    assert await svc.deliveries() == []


async def test_a_tampered_body_is_refused(svc: IngestApp, integration_id: str) -> None:
    body = delivery("incident_triggered")
    headers = signed(body, SECRET)

    response = await svc.deliver(integration_id, body.replace(b"P1", b"P5"), headers)

    assert response.status_code == 401


async def test_a_body_over_256_kb_is_refused_with_413(svc: IngestApp, integration_id: str) -> None:
    document = json.loads(delivery("incident_triggered"))
    document["event"]["data"]["description"] = "x" * (300 * 1024)
    body = json.dumps(document).encode()

    response = await svc.deliver(integration_id, body, signed(body, SECRET))

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert await svc.deliveries() == []


async def test_a_streamed_body_without_content_length_is_capped_too(
    svc: IngestApp, integration_id: str
) -> None:
    chunk = b"x" * (64 * 1024)

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield chunk

    response = await svc.client.post(
        f"/webhooks/pagerduty/{integration_id}",
        content=stream(),
        headers={"X-PagerDuty-Signature": "v1=" + "0" * 64},
    )

    assert response.status_code == 413


async def test_a_body_of_exactly_256_kb_is_not_refused_for_its_size(
    svc: IngestApp, integration_id: str
) -> None:
    document = json.loads(delivery("pagey_ping"))
    document["event"]["data"] = {"padding": ""}
    filler = 256 * 1024 - len(json.dumps(document).encode())
    document["event"]["data"]["padding"] = "x" * filler
    body = json.dumps(document).encode()
    assert len(body) == 256 * 1024

    response = await svc.deliver(integration_id, body, signed(body, SECRET))

    assert response.status_code == 202


@pytest.mark.parametrize("target", ["unknown", "not-a-uuid"])
async def test_an_unknown_integration_is_404(svc: IngestApp, target: str) -> None:
    integration = str(uuid.uuid4()) if target == "unknown" else target
    body = delivery("pagey_ping")

    response = await svc.deliver(integration, body, signed(body, SECRET))

    assert response.status_code == 404
    assert response.json()["code"] == "integration_not_found"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "not valid JSON"),
        (b'{"messages": []}', 'no "event" object'),
        (b'{"event": {"id": "e1", "resource_type": "incident"}}', "event.event_type is missing"),
    ],
)
async def test_a_signed_body_that_is_not_a_v3_delivery_is_400(
    svc: IngestApp, integration_id: str, body: bytes, detail: str
) -> None:
    response = await svc.deliver(integration_id, body, signed(body, SECRET))

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "malformed_delivery"
    assert detail in problem["detail"]
    assert await svc.deliveries() == []


async def test_a_repeated_webhook_id_publishes_one_alert(
    svc: IngestApp, integration_id: str
) -> None:
    body = delivery("incident_triggered", incident_id=new_incident_id())
    headers = signed(body, SECRET)

    answers = [await svc.deliver(integration_id, body, headers) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 200, 200]
    assert answers[1].json()["status"] == "duplicate"
    assert await svc.settled()
    alerts = await svc.alerts(until=2, timeout=5)
    assert len(alerts) == 1
    assert isinstance(alerts[0], AlertTriggered)
    assert alerts[0].payload.delivery_id == headers["X-Webhook-Id"]
    assert len(await svc.deliveries()) == 1


async def test_without_a_webhook_id_the_event_id_dedupes(
    svc: IngestApp, integration_id: str
) -> None:
    body = delivery("incident_triggered", incident_id=new_incident_id())
    headers = signed(body, SECRET)
    del headers["X-Webhook-Id"]

    first = await svc.deliver(integration_id, body, headers)
    second = await svc.deliver(integration_id, body, headers)

    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["delivery_id"] == json.loads(body)["event"]["id"]


async def test_query_parameters_override_the_integrations_defaults(
    svc: IngestApp, integration_id: str
) -> None:
    overridden, defaulted = new_incident_id(), new_incident_id()
    body = delivery("incident_triggered", incident_id=overridden)
    params = {"incident_type": "Security", "severity": "SEV1"}
    assert (
        await svc.deliver(integration_id, body, signed(body, SECRET), params)
    ).status_code == 202
    body = delivery("incident_triggered", incident_id=defaulted)
    assert (await svc.deliver(integration_id, body, signed(body, SECRET))).status_code == 202

    assert await svc.settled()
    alerts = {a.payload.external_id: a.payload for a in await svc.alerts(until=2)}  # type: ignore[attr-defined]

    assert (alerts[overridden].incident_type, alerts[overridden].severity) == ("Security", "SEV1")
    assert (alerts[defaulted].incident_type, alerts[defaulted].severity) == ("Outage", "SEV3")


async def test_an_unusable_query_parameter_is_400(svc: IngestApp, integration_id: str) -> None:
    body = delivery("incident_triggered")

    response = await svc.deliver(
        integration_id, body, signed(body, SECRET), {"severity": "S" * 101}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_query"


async def test_concurrent_deliveries_are_each_stored_once_and_answered_alike(
    svc: IngestApp, integration_id: str
) -> None:
    # Deliveries that arrive together share one INSERT (group commit); each must still get its own
    # answer, and a repeat inside the same batch must be answered as a duplicate.
    bodies = [delivery("incident_triggered", incident_id=new_incident_id()) for _ in range(40)]
    headers = [signed(body, SECRET) for body in bodies]
    sends = [svc.deliver(integration_id, b, h) for b, h in zip(bodies, headers, strict=True)]
    repeat = svc.deliver(integration_id, bodies[7], headers[7])

    answers = await asyncio.gather(*sends, repeat)

    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [202] * 40, "forty new deliveries and one repeat"
    stored = await svc.deliveries()
    assert len(stored) == 40
    assert {row["dedupe_key"] for row in stored} == {h["X-Webhook-Id"] for h in headers}
    receipts = {a.json()["delivery_id"] for a in answers}
    assert receipts == {h["X-Webhook-Id"] for h in headers}

"""Hostile text in signed deliveries: a 2xx always means an alert, and one bad delivery never
costs the good ones stored with it, nor the later deliveries of its incident."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from fireline_contracts import AlertTriggered
from fireline_pagerduty_ingest.adapters.delivery_writer import DeliveryWriter
from fireline_pagerduty_ingest.domain.delivery import NewDelivery, Stored
from integration.ingest.ingest_harness import IngestApp, bearer
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.token_issuer import TokenIssuer

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-hostile"


@pytest.fixture
async def integration(svc: IngestApp, issuer: TokenIssuer) -> dict[str, Any]:
    org_id = uuid.uuid4()
    created = await svc.create_integration(issuer.token(org_id=org_id), signing_secrets=[SECRET])
    return {**created, "org_id": str(org_id)}


def _triggered(incident_id: str, **event: Any) -> bytes:
    """An ``incident.triggered`` delivery with parts of ``event`` (and ``event.data``) replaced."""
    document = json.loads(delivery("incident_triggered", incident_id=incident_id))
    data = event.pop("data", {})
    document["event"].update(event)
    document["event"]["data"].update(data)
    # ensure_ascii (the default) writes NUL and lone surrogates as \u escapes, as PagerDuty would.
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("title", "stored_title"),
    [
        ("nul\u0000title", "nul\ufffdtitle"),
        ("lone surrogate \ud800 x", "lone surrogate \ufffd x"),
        # Valid text, however odd, is kept as sent: right-to-left marks, a 64 KB field.
        ("\u202eevil\u200f " + "x" * 64 * 1024, "\u202eevil\u200f " + "x" * 64 * 1024),
    ],
)
async def test_hostile_text_in_a_title_still_becomes_the_alert(
    svc: IngestApp, integration: dict[str, Any], title: str, stored_title: str
) -> None:
    incident = new_incident_id()
    body = _triggered(incident, data={"title": title})

    response = await svc.deliver(str(integration["id"]), body, signed(body, SECRET))

    assert response.status_code == 202
    assert await svc.settled()
    [alert] = await svc.alerts(until=1)
    assert isinstance(alert, AlertTriggered)
    assert alert.payload.external_id == incident
    assert alert.payload.title == stored_title
    [row] = await svc.deliveries()
    assert row["status"] == "published"
    assert bytes(row["body"]) == body  # the raw delivery is kept as sent, for audit


async def test_a_hostile_delivery_sent_with_thirty_good_ones_costs_them_nothing(
    svc: IngestApp, integration: dict[str, Any]
) -> None:
    good = [delivery("incident_triggered", incident_id=new_incident_id()) for _ in range(30)]
    hostile_ids = [new_incident_id() for _ in range(3)]
    hostile = [
        # The event id is the dedupe key when X-Webhook-Id is absent.
        _triggered(hostile_ids[0], id=f"event\u0000{uuid.uuid4()}"),
        _triggered(hostile_ids[1], data={"id": f"{hostile_ids[1]}\u0000"}),
        _triggered(hostile_ids[2], data={"id": f"{hostile_ids[2]}\ud800"}),
    ]
    bodies = good + hostile
    headers = [signed(body, SECRET) for body in bodies]
    headers[len(good)].pop("X-Webhook-Id")

    responses = await asyncio.gather(
        *(svc.deliver(str(integration["id"]), b, h) for b, h in zip(bodies, headers, strict=True))
    )

    assert [r.status_code for r in responses] == [202] * len(bodies)
    assert len(await svc.deliveries()) == len(bodies)
    assert await svc.settled(timeout=30)
    alerts = await svc.alerts(until=len(bodies))
    external_ids = {a.payload.external_id for a in alerts if isinstance(a, AlertTriggered)}
    assert len(external_ids) == len(bodies)
    assert {f"{hostile_ids[1]}\ufffd", f"{hostile_ids[2]}\ufffd"} <= external_ids


async def test_a_batch_the_database_refuses_is_written_row_by_row(
    svc: IngestApp, integration: dict[str, Any]
) -> None:
    def new(dedupe_key: str) -> NewDelivery:
        return NewDelivery(
            integration_id=uuid.UUID(integration["id"]),
            org_id=uuid.UUID(integration["org_id"]),
            dedupe_key=dedupe_key,
            event_id=dedupe_key,
            event_type="pagey.ping",
            incident_id=None,
            status="ignored",
            body=b"{}",
            incident_type=None,
            severity=None,
            correlation_id=None,
        )

    writer = DeliveryWriter(lambda: svc.runtime.pool, svc.runtime.outbox, wake_relay=lambda: None)
    good = [new(f"good-{n}") for n in range(30)]
    # Past the receiver's normalisation nothing like this reaches the writer; here it stands for
    # any row PostgreSQL refuses.
    results = await asyncio.gather(
        *(writer.add(d) for d in [*good[:15], new("bad\u0000"), *good[15:]]),
        return_exceptions=True,
    )

    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], asyncpg.DataError)
    assert all(isinstance(r, Stored) for r in results if not isinstance(r, BaseException))
    assert sorted(row["dedupe_key"] for row in await svc.deliveries()) == sorted(
        d.dedupe_key for d in good
    )


async def test_a_delivery_that_cannot_become_an_alert_does_not_hold_up_its_incident(
    svc: IngestApp, integration: dict[str, Any]
) -> None:
    incident = new_incident_id()
    async with svc.runtime.pool.acquire() as conn:
        # Stored as received but unreadable: a stand-in for any delivery whose alert cannot be
        # built, however it got there.
        await conn.execute(
            """
            INSERT INTO deliveries (integration_id, org_id, dedupe_key, event_id, event_type,
                                    incident_id, status, body)
            VALUES ($1, $2, 'poison', 'poison', 'incident.triggered', $3, 'received', $4)
            """,
            uuid.UUID(integration["id"]),
            uuid.UUID(integration["org_id"]),
            incident,
            b"\xff not json",
        )
    body = delivery("incident_acknowledged", incident_id=incident)

    response = await svc.deliver(str(integration["id"]), body, signed(body, SECRET))

    assert response.status_code == 202
    # Without giving up on the poison at once, the acknowledgement waited through its ten
    # retries (13.5 minutes); the default timeout here is a few seconds.
    assert await svc.settled()
    [alert] = await svc.alerts(until=1)
    assert alert.event_type == "AlertAcknowledged"
    statuses = {row["dedupe_key"]: row["status"] for row in await svc.deliveries()}
    assert statuses["poison"] == "failed"


@pytest.mark.parametrize("field", ["name", "default_incident_type"])
async def test_nul_in_an_integration_is_a_400_and_creates_nothing(
    svc: IngestApp, issuer: TokenIssuer, field: str
) -> None:
    token = issuer.token(org_id=uuid.uuid4())
    body = {"name": "Checkout", field: "nul\u0000here"}

    response = await svc.client.post("/v1/integrations/pagerduty", json=body, headers=bearer(token))

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_text"
    listed = await svc.client.get("/v1/integrations/pagerduty", headers=bearer(token))
    assert listed.json()["items"] == []


async def test_nul_in_an_integration_update_is_a_400_and_changes_nothing(
    svc: IngestApp, issuer: TokenIssuer
) -> None:
    token = issuer.token(org_id=uuid.uuid4())
    created = await svc.create_integration(token, signing_secrets=[SECRET])

    response = await svc.client.patch(
        f"/v1/integrations/pagerduty/{created['id']}",
        json={"name": "x\u0000"},
        headers=bearer(token),
    )

    assert response.status_code == 400
    fetched = await svc.client.get(
        f"/v1/integrations/pagerduty/{created['id']}", headers=bearer(token)
    )
    assert fetched.json()["name"] == created["name"]


async def test_nul_in_the_webhook_incident_type_is_a_400_and_stores_nothing(
    svc: IngestApp, integration: dict[str, Any]
) -> None:
    body = delivery("incident_triggered", incident_id=new_incident_id())

    response = await svc.deliver(
        str(integration["id"]), body, signed(body, SECRET), params={"incident_type": "a\u0000b"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_text"
    assert await svc.deliveries() == []


@pytest.mark.parametrize("name", ["esc\x1b[2J", "line\nbreak", "\u202eevil", "c1\x9bx"])
async def test_control_and_bidi_characters_in_an_integration_name_are_refused(
    svc: IngestApp, issuer: TokenIssuer, name: str
) -> None:
    token = issuer.token(org_id=uuid.uuid4())
    created = await svc.create_integration(token, signing_secrets=[SECRET])

    answers = [
        await svc.client.post(
            "/v1/integrations/pagerduty", json={"name": name}, headers=bearer(token)
        ),
        await svc.client.patch(
            f"/v1/integrations/pagerduty/{created['id']}",
            json={"name": name},
            headers=bearer(token),
        ),
    ]

    for refused in answers:
        assert refused.status_code == 422, refused.text
        assert "control or bidi" in refused.json()["detail"]
    listed = (await svc.client.get("/v1/integrations/pagerduty", headers=bearer(token))).json()
    assert [i["name"] for i in listed["items"]] == [created["name"]]

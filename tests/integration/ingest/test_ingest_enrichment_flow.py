"""After the 202: enrichment through PagerDuty's REST API, degraded when it misbehaves, the
alert always published, each incident's alerts in PagerDuty's order, and nothing lost to a crash."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import pytest

from fireline_contracts import AlertAcknowledged, AlertResolved, AlertTriggered, EventEnvelope
from fireline_pagerduty_ingest.config import Settings
from integration.ingest.ingest_harness import IngestApp, make_settings, running
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty
from support.pagerduty_fixtures import (
    ON_CALL_USER_ID,
    TRIGGERING_USER_ID,
    USERS,
    delivery,
    new_incident_id,
    signed,
)
from support.token_issuer import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-enrich"
ADA = USERS[TRIGGERING_USER_ID]["email"]
GRACE = USERS[ON_CALL_USER_ID]["email"]


@pytest.fixture
def settings(database: str, kafka: str, topic_prefix: str, issuer: TokenIssuer) -> Settings:
    return make_settings(
        database_url=database,
        bootstrap=kafka,
        topic_prefix=topic_prefix,
        jwks_url=issuer.jwks_url,
        # Short limits so the degraded paths finish quickly; the fake's slow mode waits longer.
        pagerduty_call_timeout_s=0.3,
        enrichment_budget_s=0.6,
        ingest_lease_s=2.0,
    )


async def _integration(
    svc: IngestApp, issuer: TokenIssuer, pagerduty: FakePagerDuty | None, **extra: Any
) -> str:
    if pagerduty is not None:
        extra.update(pagerduty_api_token=DEFAULT_TOKEN, pagerduty_api_url=pagerduty.url)
    created = await svc.create_integration(
        issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET], **extra
    )
    return str(created["id"])


async def _trigger(svc: IngestApp, integration_id: str, **overrides: Any) -> str:
    incident = new_incident_id()
    body = delivery("incident_triggered", incident_id=incident, **overrides)
    response = await svc.deliver(integration_id, body, signed(body, SECRET))
    assert response.status_code == 202
    return incident


async def test_enrichment_adds_the_creator_and_on_call_emails(
    settings: Settings, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    async with running(settings) as svc:
        integration_id = await _integration(svc, issuer, pagerduty)
        incident = await _trigger(svc, integration_id)

        assert await svc.settled()
        [alert] = await svc.alerts(until=1)

    assert isinstance(alert, AlertTriggered)
    assert alert.payload.external_id == incident
    assert alert.payload.creator_email == ADA
    assert alert.payload.oncall_emails == (GRACE,)
    assert alert.payload.enrichment_status == "complete"
    assert [r.path for r in pagerduty.requests_to("/users/")] == [f"/users/{TRIGGERING_USER_ID}"]


async def test_without_an_api_token_the_alert_goes_out_without_emails(
    settings: Settings, issuer: TokenIssuer
) -> None:
    async with running(settings) as svc:
        integration_id = await _integration(svc, issuer, None)
        await _trigger(svc, integration_id)

        assert await svc.settled()
        [alert] = await svc.alerts(until=1)

    assert isinstance(alert, AlertTriggered)
    assert (alert.payload.creator_email, alert.payload.oncall_emails) == (None, ())
    assert alert.payload.enrichment_status == "skipped"


@pytest.mark.parametrize("mode", ["slow", "error", "ratelimited"])
async def test_a_misbehaving_pagerduty_degrades_enrichment_but_not_the_alert(
    settings: Settings, issuer: TokenIssuer, pagerduty: FakePagerDuty, mode: Any
) -> None:
    pagerduty.set_mode(mode, delay=3.0)
    async with running(settings) as svc:
        integration_id = await _integration(svc, issuer, pagerduty)
        incident = await _trigger(svc, integration_id)

        assert await svc.settled()
        [alert] = await svc.alerts(until=1)

    assert isinstance(alert, AlertTriggered)
    assert alert.payload.external_id == incident
    assert (alert.payload.creator_email, alert.payload.oncall_emails) == (None, ())
    assert alert.payload.enrichment_status == "failed"
    assert pagerduty.requests, "PagerDuty was asked"


async def test_an_incidents_alerts_keep_pagerdutys_order(
    settings: Settings, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    async with running(settings) as svc:
        integration_id = await _integration(svc, issuer, pagerduty)
        incidents = [new_incident_id() for _ in range(3)]
        # Interleaved across incidents, as PagerDuty may deliver them; each incident's own
        # deliveries arrive triggered → acknowledged → resolved.
        for fixture in ("incident_triggered", "incident_acknowledged", "incident_resolved"):
            for incident in incidents:
                body = delivery(fixture, incident_id=incident)
                response = await svc.deliver(integration_id, body, signed(body, SECRET))
                assert response.status_code == 202

        assert await svc.settled()
        alerts = await svc.alerts(until=9)

    by_incident: dict[str, list[type[EventEnvelope]]] = defaultdict(list)
    for alert in alerts:
        assert isinstance(alert, AlertTriggered | AlertAcknowledged | AlertResolved)
        by_incident[alert.payload.external_id].append(type(alert))
    assert set(by_incident) == set(incidents)
    for incident in incidents:
        assert by_incident[incident] == [AlertTriggered, AlertAcknowledged, AlertResolved]


async def test_a_deleted_integrations_accepted_deliveries_are_still_published(
    settings: Settings, issuer: TokenIssuer
) -> None:
    org = uuid.uuid4()
    token = issuer.token(org_id=org)
    async with running(settings) as svc:
        created = await svc.create_integration(token, signing_secrets=[SECRET])
        incident = await _trigger(svc, str(created["id"]))
        deleted = await svc.client.delete(
            f"/v1/integrations/pagerduty/{created['id']}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert deleted.status_code == 204

        assert await svc.settled()
        alerts = await svc.alerts(until=1)

    assert [a.payload.external_id for a in alerts] == [incident]  # type: ignore[attr-defined]
    assert alerts[0].org_id == org


async def test_the_worker_records_how_enrichment_went(
    settings: Settings, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    async with running(settings) as svc:
        integration_id = await _integration(svc, issuer, pagerduty)
        await _trigger(svc, integration_id)

        async def published() -> bool:
            rows = await svc.deliveries()
            return bool(rows) and rows[0]["status"] == "published"

        assert await wait_for(published, timeout=10)
        [row] = await svc.deliveries()

    assert row["enrichment_status"] == "complete"
    assert row["processed_at"] is not None


async def test_an_api_url_no_longer_allowed_is_not_called_and_the_alert_goes_out_without_emails(
    settings: Settings, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    async with running(settings) as svc:
        integration_id = await _integration(svc, issuer, pagerduty)

    # The operator has since narrowed the allow-list to PagerDuty's own hosts.
    narrowed = settings.model_copy(
        update={"pagerduty_allowed_hosts_text": "api.pagerduty.com,api.eu.pagerduty.com"}
    )
    async with running(narrowed) as svc:
        incident = await _trigger(svc, integration_id)
        assert await svc.settled()
        [alert] = await svc.alerts(until=1)

    assert isinstance(alert, AlertTriggered)
    assert alert.payload.external_id == incident
    assert (alert.payload.creator_email, alert.payload.oncall_emails) == (None, ())
    assert alert.payload.enrichment_status == "failed"
    assert pagerduty.requests == [], "the API token was not sent to the stored URL"

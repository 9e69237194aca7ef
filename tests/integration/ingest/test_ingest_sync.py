"""Fireline → PagerDuty sync against real PostgreSQL: the settings API, the request queue's order
and leases, and the echo rule, as the SQL implements them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from fireline_pagerduty_ingest.domain.sync import (
    Action,
    IncidentOrigin,
    PagerDutyLink,
    SyncRequest,
    Verdict,
)
from fireline_pagerduty_ingest.service_layer import sync
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.unit_of_work import UnitOfWorkFactory
from integration.ingest.ingest_harness import IngestApp, bearer
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.token_issuer import TokenIssuer

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-sync"
FROM = "fireline-bot@example.com"
BOT = "PFLBOT1"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def uow_of(svc: IngestApp) -> UnitOfWorkFactory[UnitOfWork]:
    factory: UnitOfWorkFactory[UnitOfWork] = svc.app.state.unit_of_work
    return factory


async def syncing_integration(
    svc: IngestApp, token: str, pagerduty: FakePagerDuty, **fields: Any
) -> dict[str, Any]:
    return await svc.create_integration(
        token,
        signing_secrets=[SECRET],
        pagerduty_api_token=DEFAULT_TOKEN,
        pagerduty_api_url=pagerduty.url,
        sync_to_pagerduty=True,
        from_email=FROM,
        **fields,
    )


async def linked(svc: IngestApp, integration: dict[str, Any], org_id: UUID) -> PagerDutyLink:
    external_id = new_incident_id()
    body = delivery("incident_triggered", incident_id=external_id)
    r = await svc.deliver(integration["id"], body, signed(body, SECRET))
    assert r.status_code == 202, r.text
    incident_id = uuid.uuid4()
    origin = IncidentOrigin(org_id=org_id, incident_id=incident_id, external_id=external_id)
    assert await sync.link_incidents(uow=uow_of(svc)(), origins=[origin]) == 1
    return PagerDutyLink(incident_id, org_id, UUID(integration["id"]), external_id)


async def ask(svc: IngestApp, link: PagerDutyLink, action: Action) -> bool:
    return await sync.request_sync(
        uow=uow_of(svc)(), source_event_id=uuid.uuid4(), incident_id=link.incident_id, action=action
    )


async def claim(svc: IngestApp, now: datetime) -> list[SyncRequest]:
    async with uow_of(svc)() as uow:
        return await uow.sync.claim(
            limit=10, claim_id=uuid.uuid4(), now=now, lease_until=now + timedelta(seconds=30)
        )


async def test_sync_without_a_from_email_is_a_422_and_stores_nothing(
    svc: IngestApp, issuer: TokenIssuer
) -> None:
    token = issuer.token(org_id=uuid.uuid4())
    response = await svc.client.post(
        "/v1/integrations/pagerduty",
        json={"name": "x", "pagerduty_api_token": "t", "sync_to_pagerduty": True},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "from_email" in response.json()["detail"]
    listed = await svc.client.get("/v1/integrations/pagerduty", headers=bearer(token))
    assert listed.json()["items"] == []


async def test_an_incidents_requests_go_one_at_a_time_in_order_and_a_lost_lease_records_nothing(
    svc: IngestApp, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    org_id = uuid.uuid4()
    token = issuer.token(org_id=org_id)
    link = await linked(svc, await syncing_integration(svc, token, pagerduty), org_id)
    assert await ask(svc, link, "acknowledge")
    assert await ask(svc, link, "resolve")

    first = await claim(svc, T0)
    assert [r.action for r in first] == ["acknowledge"]
    assert await claim(svc, T0) == [], "leased, and the resolve waits behind it"

    # The lease ran out and another dispatcher took the request over: the first one's answer is
    # no longer recorded, and the request stays the second one's.
    (taken_over,) = await claim(svc, T0 + timedelta(seconds=31))
    async with uow_of(svc)() as uow:
        done = Verdict("succeeded", None, 0)
        assert not await uow.sync.record(first[0], done, at=T0, pagerduty_user_id=None)
        assert await uow.sync.record(taken_over, done, at=T0, pagerduty_user_id=BOT)
    (second,) = await claim(svc, T0 + timedelta(seconds=32))
    assert second.action == "resolve"


async def test_an_echo_is_the_from_users_event_after_the_call_once_per_request(
    svc: IngestApp, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    org_id = uuid.uuid4()
    token = issuer.token(org_id=org_id)
    link = await linked(svc, await syncing_integration(svc, token, pagerduty), org_id)
    assert await ask(svc, link, "resolve")

    async def match(agent: str, received_at: datetime, action: Action = "resolve") -> UUID | None:
        async with uow_of(svc)() as uow:
            return await uow.sync.match_echo(
                integration_id=link.integration_id,
                external_id=link.external_id,
                action=action,
                agent_id=agent,
                received_at=received_at,
                event_id=uuid.uuid4().hex,
            )

    assert await match(BOT, T0) is None, "no call made yet"
    (request,) = await claim(svc, T0)
    async with uow_of(svc)() as uow:
        assert await uow.sync.record(
            request, Verdict("succeeded", None, 0), at=T0, pagerduty_user_id=BOT
        )

    assert await match(BOT, T0 + timedelta(seconds=2), action="acknowledge") is None
    assert await match("PSOMEONE", T0 + timedelta(seconds=2)) is None, "another user's change"
    assert await match(BOT, T0 + timedelta(minutes=11)) is None, "too late to be the echo"
    assert await match(BOT, T0 + timedelta(seconds=2)) == request.id
    assert await match(BOT, T0 + timedelta(seconds=3)) is None, "one echo per change"

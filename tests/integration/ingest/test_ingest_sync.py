"""Fireline → PagerDuty sync against real PostgreSQL (and Apache Kafka for the incidents
consumer): the settings API, what a batch of incidents events leaves behind, the request queue's
order and leases, and the echo rule, as the SQL implements them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaProducer

from fireline_contracts import INCIDENTS, EventEnvelope, IncidentStarted, topic_name
from fireline_pagerduty_ingest.domain.sync import (
    Action,
    IncidentOrigin,
    PagerDutyLink,
    SyncAsked,
    SyncRequest,
    Verdict,
)
from fireline_pagerduty_ingest.service_layer import sync
from fireline_pagerduty_ingest.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.unit_of_work import UnitOfWorkFactory
from integration.ingest.ingest_harness import IngestApp, bearer
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty
from support.incident_events import from_pagerduty, incident_started, status_changed, timeline_entry
from support.kafka import client_options
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.token_issuer import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-sync"
FROM = "fireline-bot@example.com"
BOT = "PFLBOT1"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def uow_of(svc: IngestApp) -> UnitOfWorkFactory[UnitOfWork]:
    factory: UnitOfWorkFactory[UnitOfWork] = svc.app.state.context.uow
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


async def test_an_acknowledgement_and_the_resolution_in_one_batch_reach_pagerduty_in_order(
    svc: IngestApp, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    org_id = uuid.uuid4()
    token = issuer.token(org_id=org_id)
    integration = await syncing_integration(svc, token, pagerduty)
    links = [await linked(svc, integration, org_id) for _ in range(8)]
    # One transaction, as a consumer batch applies them: now() is the same for all of them.
    async with svc.runtime.pool.acquire() as conn, conn.transaction():
        stored = await sync.apply_incidents_changes(
            uow=uow_of(svc).on(conn),
            changes=[
                SyncAsked(source_event_id=uuid.uuid4(), incident_id=link.incident_id, action=a)
                for link in links
                for a in ("acknowledge", "resolve")
            ],
        )
    assert len(stored) == 2 * len(links)

    first = await claim(svc, T0)
    assert sorted(r.action for r in first) == ["acknowledge"] * len(links)


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


# --- the incidents consumer -----------------------------------------------------------------

N = 8
CONSUMER = "pagerduty-ingest.incidents"


async def started(svc: IngestApp, integration: dict[str, Any], org_id: UUID) -> IncidentStarted:
    """The incidents service's ``IncidentStarted`` for a PagerDuty incident whose delivery the
    integration accepted."""
    external_id = new_incident_id()
    body = delivery("incident_triggered", incident_id=external_id)
    response = await svc.deliver(integration["id"], body, signed(body, SECRET))
    assert response.status_code == 202, response.text
    return incident_started(org_id, source=from_pagerduty(external_id))


async def publish(svc: IngestApp, events: list[EventEnvelope]) -> None:
    topic = topic_name(INCIDENTS, svc.settings.topic_prefix)
    producer = AIOKafkaProducer(
        bootstrap_servers=svc.settings.kafka_bootstrap_servers,
        enable_idempotence=False,
        **client_options(svc.settings.kafka_bootstrap_servers),
    )
    await producer.start()
    try:
        for event in events:
            await producer.send(topic, event.to_bytes(), key=event.kafka_key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def consumed(svc: IngestApp, count: int) -> bool:
    state = svc.runtime.consumers.states[CONSUMER]

    async def done() -> bool:
        return state.processed + state.duplicates + state.ignored >= count

    return await wait_for(done, timeout=60)


async def rows(svc: IngestApp, query: str, *args: Any) -> list[Any]:
    async with svc.runtime.pool.acquire() as conn:
        return [tuple(row) for row in await conn.fetch(query, *args)]


async def test_a_batch_links_exactly_the_syncing_integrations_incidents_once_even_redelivered(
    svc: IngestApp, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    org_id = uuid.uuid4()
    token = issuer.token(org_id=org_id)
    syncing = await syncing_integration(svc, token, pagerduty)
    silent = await svc.create_integration(token, name="Silent", signing_secrets=[SECRET])
    on = [await started(svc, syncing, org_id) for _ in range(N)]
    off = [await started(svc, silent, org_id) for _ in range(N)]
    # What else the topic carries for those incidents: their timeline's first entries (ignored)
    # and an acknowledgement made in Fireline of one incident of each integration.
    entries = [
        timeline_entry(org_id, e.payload.incident_id, kind="started", source="pagerduty")
        for e in on + off
    ]
    acknowledged = [
        status_changed(org_id, e.payload.incident_id, status="acknowledged")
        for e in (on[0], off[0])
    ]
    batch: list[EventEnvelope] = [*on, *off, *entries, *acknowledged]

    await publish(svc, batch)
    assert await consumed(svc, len(batch))
    await publish(svc, batch)  # the same records again, as after a crash before the commit
    assert await consumed(svc, 2 * len(batch))

    links = await rows(svc, "SELECT incident_id, integration_id, external_id FROM pagerduty_links")
    assert sorted(links) == sorted(
        (e.payload.incident_id, UUID(syncing["id"]), e.payload.source.external_id)  # type: ignore[union-attr]
        for e in on
    )
    requests = await rows(svc, "SELECT source_event_id, action FROM sync_requests")
    assert requests == [(acknowledged[0].event_id, "acknowledge")]
    # Only the two changes made in Fireline took an inbox row: links are keyed by incident and
    # the rest writes nothing, so none of it has anything to repeat.
    claimed = await rows(svc, "SELECT event_id FROM inbox WHERE consumer = $1", CONSUMER)
    assert sorted(claimed) == sorted((e.event_id,) for e in acknowledged)
    state = svc.runtime.consumers.states[CONSUMER]
    assert (state.ignored, state.duplicates) == (2 * len(entries), len(acknowledged))


async def test_an_incident_started_while_sync_was_off_is_not_sent_after_sync_is_turned_on(
    svc: IngestApp, issuer: TokenIssuer, pagerduty: FakePagerDuty
) -> None:
    org_id = uuid.uuid4()
    token = issuer.token(org_id=org_id)
    integration = await svc.create_integration(
        token,
        signing_secrets=[SECRET],
        pagerduty_api_token="pd-token",
        pagerduty_api_url=pagerduty.url,
    )
    before = await started(svc, integration, org_id)
    await publish(svc, [before])
    assert await consumed(svc, 1)
    turned_on = await svc.client.patch(
        f"/v1/integrations/pagerduty/{integration['id']}",
        json={"sync_to_pagerduty": True, "from_email": "fireline-bot@example.com"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert turned_on.status_code == 200, turned_on.text
    after = await started(svc, integration, org_id)
    resolutions = [
        status_changed(org_id, e.payload.incident_id, status="resolved") for e in (before, after)
    ]

    await publish(svc, [after, *resolutions])
    assert await consumed(svc, 4)

    requests = await rows(svc, "SELECT incident_id, action FROM sync_requests")
    assert requests == [(after.payload.incident_id, "resolve")]

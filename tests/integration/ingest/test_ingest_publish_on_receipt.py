"""Alerts published by the receiver's own INSERT, on real PostgreSQL and a real broker.

An integration with no API token and no write-back has nothing for the worker to do, so the
receiver stores each delivery together with its alert's outbox row. These tests pin what that
must not change: one alert per delivery, and each PagerDuty incident's alerts in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from fireline_contracts import ALERTS, AlertTriggered
from fireline_pagerduty_ingest.adapters.deliveries_repository import PgDeliveryRepository
from fireline_pagerduty_ingest.adapters.delivery_writer import DeliveryWriter
from fireline_pagerduty_ingest.domain.alert import alert_event_id, build_alert
from fireline_pagerduty_ingest.domain.classification import Classification
from fireline_pagerduty_ingest.domain.delivery import NewDelivery
from fireline_pagerduty_ingest.domain.enrichment import SKIPPED
from fireline_pagerduty_ingest.domain.webhook import parse_delivery
from fireline_runtime.db import create_pool
from fireline_runtime.outbox import NOTIFY_CHANNEL, OutboxWriter, RelayWaker, Row
from integration.ingest.ingest_harness import IngestApp
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.token_issuer import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-current"


async def test_a_delivery_is_stored_published_and_its_alert_reaches_the_topic(
    svc: IngestApp, issuer: TokenIssuer
) -> None:
    created = await svc.create_integration(
        issuer.token(org_id=uuid.uuid4()),
        signing_secrets=[SECRET],
        priority_severities={"P1": "SEV1"},
    )
    body = delivery("incident_triggered", incident_id=new_incident_id(), priority="P1")
    headers = signed(body, SECRET)

    response = await svc.deliver(str(created["id"]), body, headers)

    assert response.status_code == 202
    assert response.json()["recorded_as"] == "published"
    [row] = await svc.deliveries()
    assert (row["status"], row["enrichment_status"]) == ("published", "skipped")
    assert row["processed_at"] is not None
    assert row["parsed_event"] is None  # the worker will never read it
    [alert] = await svc.alerts(until=1)
    assert isinstance(alert, AlertTriggered)
    assert alert.event_id == alert_event_id(uuid.UUID(created["id"]), headers["X-Webhook-Id"])
    assert alert.payload.priority_severity == "SEV1"
    assert alert.payload.enrichment_status == "skipped"


class Batches:
    """Deliveries of one integration stored through the repository, as the receiver's batches."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.integration = uuid.uuid4()
        self.org = uuid.uuid4()
        self.repo = PgDeliveryRepository(conn)
        self.outbox = OutboxWriter()

    async def create(self) -> None:
        await self.conn.execute(
            "INSERT INTO integrations (id, org_id, name, pagerduty_api_url)"
            " VALUES ($1, $2, $3, $4)",
            self.integration,
            self.org,
            "storm",
            "https://api.pagerduty.example",
        )

    def new(self, incident: str, *, key: str | None = None) -> tuple[NewDelivery, Row]:
        """A trigger of ``incident`` as the receiver would store it, and its alert's row."""
        key = key or str(uuid.uuid4())
        event = parse_delivery(delivery("incident_triggered", incident_id=incident))
        alert = build_alert(
            event,
            org_id=self.org,
            integration_id=self.integration,
            dedupe_key=key,
            classification=Classification(incident_type=None, severity=None),
            enrichment=SKIPPED,
            correlation_id=None,
        )
        new = NewDelivery(
            integration_id=self.integration,
            org_id=self.org,
            dedupe_key=key,
            event_id=event.id,
            event_type=event.event_type,
            incident_id=incident,
            status="received",
            body=b"{}",
            incident_type=None,
            severity=None,
            correlation_id=None,
            alert=alert,
        )
        return new, self.outbox.row(ALERTS, alert)

    def on(self, conn: asyncpg.Connection) -> Batches:
        """The same integration's batches, written on another connection (another replica)."""
        other = Batches(conn)
        other.integration, other.org = self.integration, self.org
        return other

    async def store(
        self, batch: Sequence[tuple[NewDelivery, Row | None]]
    ) -> list[tuple[str, str] | None]:
        """Each delivery's (dedupe key, status), or None for a duplicate; each delivery of an
        incident under its incident's lock, as the receiver's writer passes them."""
        stored = await self.repo.add_many(
            [d for d, _ in batch],
            [r for _, r in batch],
            [
                None if d.incident_id is None else self.outbox.lock(ALERTS, d.incident_id)
                for d, _ in batch
            ],
        )
        return [
            None if s is None else (d.dedupe_key, s.status)
            for (d, _), s in zip(batch, stored, strict=True)
        ]

    async def outbox_keys(self) -> list[str]:
        """The alerts' delivery ids in the outbox, in id order."""
        rows = await self.conn.fetch("SELECT payload FROM outbox ORDER BY id")
        return [AlertTriggered.model_validate_json(r["payload"]).payload.delivery_id for r in rows]


@pytest.fixture
async def batches(conn: asyncpg.Connection) -> Batches:
    made = Batches(conn)
    await made.create()
    return made


def status(stored: list[tuple[str, str] | None]) -> list[Any]:
    return [None if s is None else s[1] for s in stored]


async def test_a_delivery_behind_a_pending_one_of_its_incident_waits_for_the_worker(
    batches: Batches,
) -> None:
    incident, other = new_incident_id(), new_incident_id()
    pending, _ = batches.new(incident, key="first")
    assert status(await batches.store([(pending, None)])) == ["received"]

    later, later_row = batches.new(incident, key="second")
    elsewhere, elsewhere_row = batches.new(other, key="elsewhere")
    stored = await batches.store([(later, later_row), (elsewhere, elsewhere_row)])

    assert status(stored) == ["received", "published"]
    assert await batches.outbox_keys() == ["elsewhere"]


async def test_within_a_batch_a_delivery_after_one_for_the_worker_goes_to_the_worker(
    batches: Batches,
) -> None:
    incident = new_incident_id()
    to_worker, _ = batches.new(incident, key="first")
    after, after_row = batches.new(incident, key="second")

    stored = await batches.store([(to_worker, None), (after, after_row)])

    assert status(stored) == ["received", "received"]
    assert await batches.outbox_keys() == []


async def test_an_incidents_deliveries_in_one_batch_are_published_in_order(
    batches: Batches,
) -> None:
    incident = new_incident_id()
    batch = [batches.new(incident, key=f"update-{n}") for n in range(5)]

    stored = await batches.store(batch)

    assert status(stored) == ["published"] * 5
    assert await batches.outbox_keys() == [f"update-{n}" for n in range(5)]


async def test_a_batch_waits_for_a_concurrent_one_that_left_its_incident_to_the_worker(
    batches: Batches, database: str
) -> None:
    """Two replicas' batches in flight together: the first leaves a delivery of the incident to
    the worker (say, a user's acknowledgement). The second must see it pending once the first
    commits, though its own statement began before that; else its alert would be published
    ahead of the one it follows."""
    incident = new_incident_id()
    first, _ = batches.new(incident, key="first")
    second, second_row = batches.new(incident, key="second")
    replica = await asyncpg.connect(database)
    try:
        other = batches.on(replica)
        other_pid = replica.get_server_pid()
        async with batches.conn.transaction():
            assert status(await batches.store([(first, None)])) == ["received"]
            racing = asyncio.create_task(other.store([(second, second_row)]))

            async def racing_waits_for_the_lock() -> bool:
                return bool(
                    await batches.conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1"
                        " AND locktype = 'advisory' AND NOT granted)",
                        other_pid,
                    )
                )

            assert await wait_for(racing_waits_for_the_lock, timeout=10)
        stored = await asyncio.wait_for(racing, 10)
    finally:
        await replica.close()

    assert status(stored) == ["received"]
    assert await batches.outbox_keys() == []


async def test_a_repeated_delivery_in_a_batch_holds_back_nothing_after_it(
    batches: Batches,
) -> None:
    incident = new_incident_id()
    first, first_row = batches.new(incident, key="same")
    again, again_row = batches.new(incident, key="same")
    after, after_row = batches.new(incident, key="after")

    stored = await batches.store([(first, first_row), (again, again_row), (after, after_row)])

    assert status(stored) == ["published", None, "published"]
    assert await batches.outbox_keys() == ["same", "after"]


async def test_a_repeated_delivery_publishes_one_alert(batches: Batches) -> None:
    first, first_row = batches.new(new_incident_id(), key="same")
    again, again_row = batches.new(new_incident_id(), key="same")

    within = await batches.store([(first, first_row), (again, again_row)])
    later = await batches.store([(again, again_row)])

    assert status(within) == ["published", None]
    assert later == [None]
    assert await batches.outbox_keys() == ["same"]


async def test_an_alert_postgresql_refuses_leaves_its_delivery_to_the_worker(
    svc: IngestApp, issuer: TokenIssuer
) -> None:
    org = uuid.uuid4()
    created = await svc.create_integration(issuer.token(org_id=org), signing_secrets=[SECRET])
    incident = new_incident_id()
    event = parse_delivery(delivery("incident_triggered", incident_id=incident))
    # Past the receiver's normalisation nothing like this reaches the writer; here it stands for
    # any alert whose row PostgreSQL refuses (a NUL in its Kafka key, a text column).
    built = build_alert(
        event,
        org_id=org,
        integration_id=uuid.UUID(created["id"]),
        dedupe_key="refused",
        classification=Classification(incident_type=None, severity=None),
        enrichment=SKIPPED,
        correlation_id=None,
    )
    alert = built.model_copy(
        update={"payload": built.payload.model_copy(update={"external_id": "bad\u0000"})}
    )
    new = NewDelivery(
        integration_id=uuid.UUID(created["id"]),
        org_id=org,
        dedupe_key="refused",
        event_id=event.id,
        event_type=event.event_type,
        incident_id=incident,
        status="received",
        body=b"{}",
        incident_type=None,
        severity=None,
        correlation_id=None,
        alert=alert,
    )

    wakes: list[bool] = []
    writer = DeliveryWriter(
        lambda: svc.runtime.pool, svc.runtime.outbox, wake_relay=lambda: wakes.append(True)
    )

    stored = await writer.add(new)

    assert stored is not None
    assert stored.status == "received"
    async with svc.runtime.pool.acquire() as conn:
        queued = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_id = $1", alert.event_id
        )
    assert queued == 0
    assert wakes == []


async def test_a_batch_that_publishes_wakes_the_relay_once_and_one_that_does_not_stays_quiet(
    database: str, batches: Batches
) -> None:
    # No relay in this process: the wake is a NOTIFY, as for a replica whose relay stands by.
    pool = await create_pool(database)
    wakes: list[str] = []
    listener = await asyncpg.connect(database)
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: wakes.append(args[3]))
    waker = RelayWaker(lambda: pool, lambda: None)
    writer = DeliveryWriter(lambda: pool, batches.outbox, wake_relay=waker.wake)

    async def settled() -> list[str]:
        """The wakes so far: once the waker has sent what it was asked to, a marker sent after
        them arrives after them (commit order)."""
        await asyncio.wait_for(waker.sent(), 10)
        marker = f"marker-{uuid.uuid4().hex}"
        await batches.conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, marker)

        async def arrived() -> bool:
            return marker in wakes

        assert await wait_for(arrived, timeout=10)
        return [w for w in wakes if not w.startswith("marker-")]

    try:
        incident = new_incident_id()
        published = await writer.add(batches.new(incident)[0])
        assert published is not None
        assert published.status == "published"
        assert await settled() == [""]

        to_worker, _ = batches.new(incident)
        await writer.add(dataclasses.replace(to_worker, alert=None))
        assert await settled() == [""], "nothing published, nothing to wake for"
    finally:
        await listener.close()
        await pool.close()

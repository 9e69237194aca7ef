"""The worker's claim on real PostgreSQL: one delivery per PagerDuty incident, oldest first, and a
cost that does not follow the backlog, whatever the planner's statistics say."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from fireline_pagerduty_ingest.adapters import deliveries_repository
from fireline_pagerduty_ingest.adapters.deliveries_repository import PgDeliveryRepository
from fireline_pagerduty_ingest.domain.delivery import NewDelivery
from integration.ingest.ingest_harness import executed

pytestmark = pytest.mark.asyncio

LEASE_S = 30.0


class Deliveries:
    """Pending deliveries of one integration, stored and claimed through the repository."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.integration = uuid.uuid4()
        self.org = uuid.uuid4()
        self.repo = PgDeliveryRepository(conn)

    async def create(self) -> None:
        await self.conn.execute(
            "INSERT INTO integrations (id, org_id, name, pagerduty_api_url)"
            " VALUES ($1, $2, $3, $4)",
            self.integration,
            self.org,
            "storm",
            "https://api.pagerduty.example",
        )

    async def store(self, incidents: Sequence[str | None]) -> list[int]:
        """One pending delivery per entry, in order, for the PagerDuty incident it names."""
        stored = await self.repo.add_many(
            [
                NewDelivery(
                    integration_id=self.integration,
                    org_id=self.org,
                    dedupe_key=str(uuid.uuid4()),
                    event_id=str(uuid.uuid4()),
                    event_type="incident.triggered",
                    incident_id=incident,
                    status="received",
                    body=json.dumps({"incident": incident}).encode(),
                    incident_type=None,
                    severity=None,
                    correlation_id=None,
                )
                for incident in incidents
            ],
            # Nothing to publish on receipt, and no concurrent batch to serialise with.
            [None] * len(incidents),
            [None] * len(incidents),
        )
        assert all(s is not None and s.status == "received" for s in stored)
        return [s.id for s in stored if s is not None]

    async def claim(self, limit: int) -> list[int]:
        async with self.conn.transaction():
            claimed = await self.repo.claim(limit=limit, claim_id=uuid.uuid4(), lease_s=LEASE_S)
        return [d.id for d in claimed]

    async def publish(self, ids: list[int]) -> None:
        await self.repo.mark_published([(i, "skipped") for i in ids])


@pytest.fixture
async def deliveries(conn: asyncpg.Connection) -> Deliveries:
    found = Deliveries(conn)
    await found.create()
    return found


async def test_each_incident_gives_its_oldest_pending_delivery_and_waits_for_it(
    deliveries: Deliveries,
) -> None:
    a1, b1, a2, none1, b2, none2 = await deliveries.store(["A", "B", "A", None, "B", None])

    first = await deliveries.claim(limit=10)
    # A and B's later deliveries wait for their first; deliveries of no incident wait for none.
    assert first == [a1, b1, none1, none2]
    assert await deliveries.claim(limit=10) == []  # still leased: nothing new to claim

    await deliveries.publish([a1])
    assert await deliveries.claim(limit=10) == [a2]
    await deliveries.publish([b1, a2])
    assert await deliveries.claim(limit=10) == [b2]


async def test_a_claim_looks_past_an_incident_with_a_long_queue(deliveries: Deliveries) -> None:
    # More pending deliveries of one incident than the first look takes in, its oldest in
    # flight: the incident behind them is still claimed in the same pass.
    queue = await deliveries.store(["hot"] * 600)
    assert await deliveries.claim(limit=1) == [queue[0]]
    [behind] = await deliveries.store(["quiet"])

    assert await deliveries.claim(limit=5) == [behind]


async def test_a_longer_look_claims_only_what_the_batch_still_lacks(
    deliveries: Deliveries,
) -> None:
    [hot] = await deliveries.store(["hot"])
    assert await deliveries.claim(limit=1) == [hot]  # in flight from here on
    a, *queue = await deliveries.store(["a"] + ["hot"] * 600)
    b, c, _d = await deliveries.store(["b", "c", "d"])

    # The first look (256 rows) holds one claimable delivery, then the hot incident's queue;
    # the longer look behind it takes two more, and the batch stops at its limit.
    assert await deliveries.claim(limit=3) == [a, b, c]
    assert len(queue) == 600


async def test_two_workers_claiming_at_once_share_the_backlog(
    deliveries: Deliveries, database: str
) -> None:
    stored = await deliveries.store([f"incident-{n}" for n in range(300)])
    other = await asyncpg.connect(database)
    try:
        # The first worker's claim is not committed yet: its rows are locked, not yet leased.
        async with deliveries.conn.transaction():
            mine = [
                d.id
                for d in await deliveries.repo.claim(
                    limit=64, claim_id=uuid.uuid4(), lease_s=LEASE_S
                )
            ]
            async with other.transaction():
                theirs = [
                    d.id
                    for d in await PgDeliveryRepository(other).claim(
                        limit=64, claim_id=uuid.uuid4(), lease_s=LEASE_S
                    )
                ]
    finally:
        await other.close()

    assert mine == stored[:64]
    assert theirs == stored[64:128]


async def test_a_claim_reads_as_much_with_a_backlog_the_statistics_never_saw(
    deliveries: Deliveries, conn: asyncpg.Connection
) -> None:
    # ANALYZE ran while nothing was pending, as autovacuum does between storms; then a storm's
    # backlog arrives. The claim of one batch must read about as many pages as it would with
    # accurate statistics, not every pending row once per candidate (which it did: 2 s a claim).
    # Autovacuum must not refresh the statistics behind the test's back.
    await conn.execute("ALTER TABLE deliveries SET (autovacuum_enabled = off)")
    history = await deliveries.store([f"old-{n}" for n in range(2_000)])
    await deliveries.publish(history)
    await conn.execute("ANALYZE deliveries")
    await deliveries.store([f"storm-{n}" for n in range(10_000)])

    stale = await _pages_read_by_a_claim(conn)
    await conn.execute("ANALYZE deliveries")
    fresh = await _pages_read_by_a_claim(conn)

    assert stale < 3 * fresh + 100, (stale, fresh)


async def _pages_read_by_a_claim(conn: asyncpg.Connection) -> int:
    """Buffers one claim of 64 touches."""
    claim = await executed(
        conn,
        deliveries_repository._CLAIM,
        64,
        uuid.uuid4(),
        LEASE_S,
        deliveries_repository._FIRST_SCAN,
    )
    return claim.buffers

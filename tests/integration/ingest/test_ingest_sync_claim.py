"""The PagerDuty sync dispatcher's claim on real PostgreSQL, with a backlog the planner's
statistics never saw: the worker's delivery claim once read every pending row per candidate in
that state (BENCHMARKS.md, "Third wave, session 6"), and this claim has the same shape."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
import pytest

from fireline_pagerduty_ingest.adapters import sync_repository
from integration.ingest.ingest_harness import executed

pytestmark = pytest.mark.asyncio


async def _requests(
    conn: asyncpg.Connection, integration: uuid.UUID, count: int, *, state: str, per_incident: int
) -> None:
    """``count`` requests, ``per_incident`` to each PagerDuty incident, oldest first."""
    await conn.execute(
        """
        INSERT INTO sync_requests (id, source_event_id, org_id, incident_id, integration_id,
                                   external_id, action, state, next_attempt_at, created_at)
        SELECT gen_random_uuid(), gen_random_uuid(), $1,
               uuid_in(md5($3 || (n / $4)::text)::cstring), $2, 'P' || (n / $4)::text,
               'acknowledge', $3, now() - interval '1 minute',
               now() - interval '1 hour' + n * interval '1 millisecond'
        FROM generate_series(1, $5) AS n
        """,
        uuid.uuid4(),
        integration,
        state,
        per_incident,
        count,
    )


async def test_a_claim_reads_as_much_with_a_backlog_the_statistics_never_saw(
    conn: asyncpg.Connection,
) -> None:
    # ANALYZE ran while nothing was pending (autovacuum between two busy spells), then a mass
    # acknowledgement during a storm queued thousands of requests, two per incident.
    await conn.execute("ALTER TABLE sync_requests SET (autovacuum_enabled = off)")
    integration = uuid.uuid4()
    await conn.execute(
        "INSERT INTO integrations (id, org_id, name, pagerduty_api_url) VALUES ($1, $2, $3, $4)",
        integration,
        uuid.uuid4(),
        "storm",
        "https://api.pagerduty.example",
    )
    await _requests(conn, integration, 2_000, state="succeeded", per_incident=1)
    await conn.execute("ANALYZE sync_requests")
    await _requests(conn, integration, 10_000, state="pending", per_incident=2)

    stale, claimed = await _pages_read_by_a_claim(conn)
    await conn.execute("ANALYZE sync_requests")
    fresh, _ = await _pages_read_by_a_claim(conn)

    assert claimed == 64  # one per incident: its older request, the newer one waits
    assert stale < 3 * fresh + 100, (stale, fresh)


async def _pages_read_by_a_claim(conn: asyncpg.Connection) -> tuple[int, int]:
    """Buffers one claim of 64 touches, and the rows it claimed."""
    # The database's clock, as the rows' due times: a server whose clock differs from this
    # process's would otherwise find nothing due.
    now: datetime = await conn.fetchval("SELECT clock_timestamp()")
    claim = await executed(
        conn, sync_repository._CLAIM, 64, uuid.uuid4(), now, now + timedelta(seconds=30)
    )
    return claim.buffers, claim.rows

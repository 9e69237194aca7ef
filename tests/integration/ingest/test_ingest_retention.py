"""Retention: finished deliveries (raw bodies included) are deleted once old; pending ones never.

The production lower bound (48 h, PagerDuty's retry window) stays in force: the prune use case
takes its cutoff as an argument and is tested directly, and the service's own loop is tested by
ageing rows past the default retention.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from fireline_pagerduty_ingest.config import Settings
from fireline_pagerduty_ingest.service_layer.deliveries import prune_deliveries
from integration.ingest.ingest_harness import IngestApp, make_settings, running
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.token_issuer import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-retention"


@pytest.fixture
def settings(database: str, kafka: str, topic_prefix: str, issuer: TokenIssuer) -> Settings:
    return make_settings(
        database_url=database, bootstrap=kafka, topic_prefix=topic_prefix, jwks_url=issuer.jwks_url
    )


async def _deliver(svc: IngestApp, integration_id: str, body: bytes, webhook_id: str) -> int:
    response = await svc.deliver(integration_id, body, signed(body, SECRET, webhook_id=webhook_id))
    return response.status_code


async def _age(
    svc: IngestApp, keys: Iterable[str], *, received_days: int, processed_days: int
) -> None:
    async with svc.runtime.pool.acquire() as conn:
        await conn.execute(
            """
            UPDATE deliveries
            SET received_at = now() - make_interval(days => $2),
                processed_at = now() - make_interval(days => $3)
            WHERE dedupe_key = ANY($1::text[])
            """,
            list(keys),
            received_days,
            processed_days,
        )


async def _keys(svc: IngestApp) -> set[str]:
    return {row["dedupe_key"] for row in await svc.deliveries()}


async def test_old_finished_deliveries_go_recent_and_pending_ones_stay(
    settings: Settings, issuer: TokenIssuer
) -> None:
    async with running(settings) as svc:
        created = await svc.create_integration(
            issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET]
        )
        integration_id = str(created["id"])
        ping = delivery("pagey_ping")
        sent = {
            "old-published": delivery("incident_triggered", incident_id=new_incident_id()),
            "old-ignored": ping,
            "old-failed": delivery("incident_resolved", incident_id=new_incident_id()),
            "late-finish": delivery("incident_triggered", incident_id=new_incident_id()),
            "recent": delivery("incident_triggered", incident_id=new_incident_id()),
        }
        for key, body in sent.items():
            assert await _deliver(svc, integration_id, body, key) == 202
        assert await svc.settled()
        async with svc.runtime.pool.acquire() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = 'failed' WHERE dedupe_key = $1", "old-failed"
            )
            # Received ten days ago and still pending (a worker holds it): never deleted.
            await conn.execute(
                """
                INSERT INTO deliveries (integration_id, org_id, dedupe_key, event_id, event_type,
                                        incident_id, status, body, received_at, lease_until)
                SELECT integration_id, org_id, 'old-pending', 'old-pending', event_type,
                       $2, 'received', body, now() - interval '10 days', now() + interval '1 hour'
                FROM deliveries WHERE dedupe_key = $1
                """,
                "old-published",
                new_incident_id(),
            )
        await _age(
            svc, ["old-published", "old-ignored", "old-failed"], received_days=10, processed_days=9
        )
        # Received long ago but finished only yesterday (after retries): kept a while longer.
        await _age(svc, ["late-finish"], received_days=10, processed_days=1)

        deleted = await prune_deliveries(
            uow=svc.app.state.context.uow(), finished_before=datetime.now(UTC) - timedelta(days=7)
        )

        assert deleted == 3
        assert await _keys(svc) == {"late-finish", "recent", "old-pending"}

        # A retry of a recent delivery is still a duplicate ...
        again = await svc.deliver(
            integration_id, sent["recent"], signed(sent["recent"], SECRET, webhook_id="recent")
        )
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        # ... while one arriving after the retention is accepted as new. PagerDuty stops
        # retrying after 48 h and the retention is at least that, so only a replay gets here.
        assert await _deliver(svc, integration_id, ping, "old-ignored") == 202
        assert "old-ignored" in await _keys(svc)


async def test_the_service_prunes_past_its_retention_on_its_own(
    settings: Settings, issuer: TokenIssuer
) -> None:
    async with running(settings) as svc:
        created = await svc.create_integration(
            issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET]
        )
        integration_id = str(created["id"])
        for key in ("eight-days-old", "six-days-old"):
            assert await _deliver(svc, integration_id, delivery("pagey_ping"), key) == 202
        await _age(svc, ["eight-days-old"], received_days=8, processed_days=8)
        await _age(svc, ["six-days-old"], received_days=6, processed_days=6)

    # The default retention is seven days; the loop's first pass runs when the service starts.
    assert settings.delivery_retention_s == 7 * 24 * 3600
    async with running(settings) as restarted:

        async def pruned() -> bool:
            return "eight-days-old" not in await _keys(restarted)

        assert await wait_for(pruned, timeout=10)
        assert await _keys(restarted) == {"six-days-old"}

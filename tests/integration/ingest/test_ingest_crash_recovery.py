"""A delivery answered 202 survives the process dying before it was published.

The first service runs as a real process and is killed with SIGKILL while PagerDuty keeps its
enrichment waiting; a fresh instance on the same database publishes the alert. The killed
process's log output is also checked for secrets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from fireline_contracts import AlertTriggered
from fireline_devtools.net import free_port
from integration.ingest.ingest_harness import (
    ALLOWED_HOSTS,
    AUDIENCE,
    ENCRYPTION_KEY,
    ISSUER,
    make_settings,
    running,
)
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty
from support.pagerduty_fixtures import (
    INCIDENT_TITLE,
    TRIGGERING_USER_ID,
    USERS,
    delivery,
    new_incident_id,
    signed,
)
from support.token_issuer import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-crash"


async def test_a_delivery_stored_before_a_crash_is_published_after_the_restart(
    database: str,
    kafka: str,
    topic_prefix: str,
    issuer: TokenIssuer,
    pagerduty: FakePagerDuty,
    tmp_path: Path,
) -> None:
    settings = make_settings(
        database_url=database, bootstrap=kafka, topic_prefix=topic_prefix, jwks_url=issuer.jwks_url
    )
    async with running(settings) as setup:
        created = await setup.create_integration(
            issuer.token(org_id=uuid.uuid4()),
            signing_secrets=[SECRET],
            pagerduty_api_token=DEFAULT_TOKEN,
            pagerduty_api_url=pagerduty.url,
        )

    # PagerDuty answers slower than the whole enrichment budget: the process is killed while
    # its worker still waits.
    pagerduty.set_mode("slow", delay=30.0)
    port = free_port()
    log_path = tmp_path / "ingest.log"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "FIRELINE_TOPIC_PREFIX": topic_prefix,
        "FIRELINE_HTTP_PORT": str(port),
        "FIRELINE_TOKEN_ISSUER": ISSUER,
        "FIRELINE_TOKEN_AUDIENCE": AUDIENCE,
        "FIRELINE_JWKS_URL": issuer.jwks_url,
        "FIRELINE_INGEST_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "FIRELINE_PAGERDUTY_ALLOWED_HOSTS": ALLOWED_HOSTS,
        "FIRELINE_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "FIRELINE_INGEST_LEASE_S": "7",
        "FIRELINE_LOG_LEVEL": "DEBUG",
    }
    incident = new_incident_id()
    body = delivery("incident_triggered", incident_id=incident)
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fireline_pagerduty_ingest",
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:

                async def healthy() -> bool:
                    try:
                        return (await client.get("/healthz")).status_code == 200
                    except httpx.TransportError:
                        return False

                assert await wait_for(healthy, timeout=30)
                response = await client.post(
                    f"/webhooks/pagerduty/{created['id']}",
                    content=body,
                    headers=signed(body, SECRET),
                )
            assert response.status_code == 202
            assert await wait_for(lambda: _claimed(database), timeout=10)
        finally:
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 10)

    assert await _statuses(database) == ["received"], "stored but not published when it died"

    pagerduty.set_mode("normal")
    async with running(settings) as restarted:
        assert await restarted.settled(timeout=30)
        [alert] = await restarted.alerts(until=1)

    assert isinstance(alert, AlertTriggered)
    assert alert.payload.external_id == incident
    assert alert.payload.creator_email == USERS[TRIGGERING_USER_ID]["email"]

    logged = log_path.read_text()
    assert "webhook delivery stored" in logged
    for secret in (SECRET, DEFAULT_TOKEN, INCIDENT_TITLE):
        assert secret not in logged


async def _claimed(database: str) -> bool:
    conn = await asyncpg.connect(database)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM deliveries WHERE attempts > 0"))
    finally:
        await conn.close()


async def _statuses(database: str) -> list[str]:
    conn = await asyncpg.connect(database)
    try:
        return [r["status"] for r in await conn.fetch("SELECT status FROM deliveries ORDER BY id")]
    finally:
        await conn.close()

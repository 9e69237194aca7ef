"""Infrastructure failures and what PagerDuty is told: a broker outage is invisible to it (202,
the alert waits in the outbox), a database outage is a 503 so that PagerDuty retries."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from fireline_contracts import AlertAcknowledged, AlertTriggered
from fireline_devtools.net import free_port
from integration.ingest.ingest_harness import IngestApp, make_settings, running
from support.infra import Broker
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.tcp_proxy import FaultProxy
from support.token_issuer import TokenIssuer
from support.waiting import wait_for

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-faults"


async def test_a_broker_outage_still_answers_202_and_the_alerts_follow_later(
    database: str, faulty_kafka: Broker, topic_prefix: str, issuer: TokenIssuer
) -> None:
    settings = make_settings(
        database_url=database,
        bootstrap=faulty_kafka.bootstrap,
        topic_prefix=topic_prefix,
        jwks_url=issuer.jwks_url,
    )
    async with running(settings) as svc:
        created = await svc.create_integration(
            issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET]
        )
        # Creating the integration queues its IntegrationCreated; once that is sent, every row
        # the outage leaves pending is an alert.
        assert await svc.settled(timeout=30)
        faulty_kafka.cut()
        incidents = [new_incident_id() for _ in range(3)]
        # Each trigger is published by the receiver itself (no token, no write-back); each
        # acknowledgement, a user's, goes through the worker (it could be an echo): both paths
        # meet the outage.
        for incident in incidents:
            for name in ("incident_triggered", "incident_acknowledged"):
                body = delivery(name, incident_id=incident)
                response = await svc.deliver(str(created["id"]), body, signed(body, SECRET))
                assert response.status_code == 202

        async def all_published() -> bool:
            async with svc.runtime.pool.acquire() as conn:
                published = await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE status = 'published'"
                )
            return bool(published == 2 * len(incidents))

        # The receiver and the worker still publish into the outbox; only the relay cannot
        # reach the broker.
        assert await wait_for(all_published, timeout=15)
        assert svc.runtime.relay is not None
        assert await svc.runtime.relay.pending() == 6

        faulty_kafka.restore()
        assert await svc.settled(timeout=30)
        alerts = await svc.alerts(until=6)

    by_incident: dict[str, list[type]] = {}
    for alert in alerts:
        assert isinstance(alert, AlertTriggered | AlertAcknowledged)
        by_incident.setdefault(alert.payload.external_id, []).append(type(alert))
    assert by_incident == {i: [AlertTriggered, AlertAcknowledged] for i in incidents}


@pytest.fixture
def database_behind_proxy(database: str) -> Iterator[tuple[str, FaultProxy]]:
    """The test database reached through a proxy the test can cut: a database outage."""
    parts = urllib.parse.urlsplit(database)
    port = parts.port or 5432
    query = urllib.parse.parse_qs(parts.query)
    # The embedded PostgreSQL listens on a Unix socket only (its folder is the `host` parameter).
    socket_dir = query.pop("host", [None])[0]
    socket = f"{socket_dir}/.s.PGSQL.{port}" if socket_dir else None
    proxy = FaultProxy(target_port=port, listen_port=free_port(), target_socket=socket)
    proxy.start()
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    netloc = f"{user}127.0.0.1:{proxy.listen_port}"
    rest = urllib.parse.urlencode(query, doseq=True)
    yield urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=rest)), proxy
    proxy.stop()


@pytest.fixture
async def proxied(
    database_behind_proxy: tuple[str, FaultProxy],
    kafka: str,
    topic_prefix: str,
    issuer: TokenIssuer,
) -> AsyncIterator[tuple[IngestApp, dict[str, Any], FaultProxy]]:
    """The app on the proxied database, an integration of it, and the proxy to cut."""
    url, proxy = database_behind_proxy
    settings = make_settings(
        database_url=url, bootstrap=kafka, topic_prefix=topic_prefix, jwks_url=issuer.jwks_url
    )
    async with running(settings) as svc:
        created = await svc.create_integration(
            issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET]
        )
        yield svc, created, proxy


async def test_a_database_outage_answers_503_so_pagerduty_retries(
    proxied: tuple[IngestApp, dict[str, Any], FaultProxy],
) -> None:
    svc, created, proxy = proxied
    body = delivery("incident_triggered", incident_id=new_incident_id())
    headers = signed(body, SECRET)

    proxy.cut()
    during = await svc.deliver(str(created["id"]), body, headers)
    proxy.restore()
    # PagerDuty retries a 503 until it is accepted. The first retry can still meet a pooled
    # connection the outage broke (it is answered 503 too, and the pool drops that connection).
    answers: list[int] = []

    async def accepted() -> bool:
        answers.append((await svc.deliver(str(created["id"]), body, headers)).status_code)
        return answers[-1] != 503

    assert await wait_for(accepted, timeout=20, interval=0.5)

    assert await svc.settled()
    alerts = await svc.alerts(until=1)

    assert during.status_code == 503
    assert during.headers["content-type"] == "application/problem+json"
    assert during.json()["code"] == "storage_unavailable"
    assert "retry-after" in during.headers
    assert answers[-1] == 202  # stored once, whatever the retries before it
    assert len(alerts) == 1


async def test_a_wrong_encryption_key_is_an_outage_not_a_bad_signature(
    database: str, kafka: str, topic_prefix: str, issuer: TokenIssuer
) -> None:
    settings = make_settings(
        database_url=database, bootstrap=kafka, topic_prefix=topic_prefix, jwks_url=issuer.jwks_url
    )
    async with running(settings) as svc:
        created = await svc.create_integration(
            issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET]
        )
    other_key = base64.urlsafe_b64encode(b"another-32-byte-encryption-key!!").decode()
    misconfigured = make_settings(
        database_url=database,
        bootstrap=kafka,
        topic_prefix=topic_prefix,
        jwks_url=issuer.jwks_url,
        ingest_encryption_key=other_key,
    )
    body = delivery("pagey_ping")

    async with running(misconfigured) as svc:
        response = await svc.deliver(str(created["id"]), body, signed(body, SECRET))

    # A 401 would make PagerDuty drop deliveries and disable the subscription; a 503 is retried
    # until the operator fixes the key.
    assert response.status_code == 503
    assert response.json()["code"] == "verification_unavailable"


async def test_a_database_restart_during_a_burst_answers_503s_and_loses_nothing(
    proxied: tuple[IngestApp, dict[str, Any], FaultProxy], database: str
) -> None:
    svc, created, proxy = proxied
    incidents = [new_incident_id() for _ in range(60)]
    statuses: list[int] = []

    async def deliver_until_accepted(incident: str) -> None:
        # PagerDuty's behaviour: retry 5xx (the same X-Webhook-Id) until a 2xx. It waits
        # longer between tries; a tenth of Retry-After keeps the test short.
        body = delivery("incident_triggered", incident_id=incident)
        headers = signed(body, SECRET)
        while True:
            response = await svc.deliver(str(created["id"]), body, headers)
            statuses.append(response.status_code)
            if response.status_code < 500:
                return
            assert response.status_code == 503, response.text
            await asyncio.sleep(float(response.headers["retry-after"]) / 10)

    async def restart() -> None:
        # What a restart does to the service's connections: each server process sends FATAL
        # "terminating connection due to administrator command" and closes; until the server
        # is back, new connections are refused.
        await asyncio.sleep(0.05)
        admin = await asyncpg.connect(database)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        proxy.cut()
        await asyncio.sleep(0.5)
        proxy.restore()

    await asyncio.gather(restart(), *(deliver_until_accepted(i) for i in incidents))
    assert await svc.settled(timeout=60)
    alerts = await svc.alerts(until=len(incidents), timeout=30)
    stored = await svc.deliveries()

    assert 503 in statuses  # the restart did hit the burst
    assert 500 not in statuses
    assert set(statuses) <= {200, 202, 503}
    assert len(stored) == len(incidents)  # 0 lost, 0 stored twice
    triggered = [a.payload.external_id for a in alerts if isinstance(a, AlertTriggered)]
    assert sorted(triggered) == sorted(incidents)  # 0 lost, 0 duplicated

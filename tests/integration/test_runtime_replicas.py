"""Two replicas of one service on one database and one consumer group."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from fireline_contracts import KEYS, KeyRevoked, topic_name
from fireline_contracts.keys import KeyRevokedPayload
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import ServiceSettings, TokenSettings
from fireline_runtime.token_guard import enable_bearer_auth
from support import probe
from support.kafka import client_options
from support.waiting import wait_for

pytestmark = pytest.mark.integration


class GuardSettings(ServiceSettings, TokenSettings):
    pass


def guarded(database: str, kafka: str, prefix: str) -> tuple[ServiceRuntime, BearerAuth]:
    settings = GuardSettings(
        database_url=database,
        kafka_bootstrap_servers=kafka,
        topic_prefix=prefix,
        kafka_session_timeout_ms=6000,
        kafka_fetch_max_wait_ms=50,
        outbox_poll_interval_s=0.2,
    )
    runtime = ServiceRuntime(service="guarded", settings=settings)
    return runtime, enable_bearer_auth(runtime, settings)


async def test_a_revocation_reaches_every_replica_not_only_the_one_that_consumed_it(
    database: str, kafka: str, topic_prefix: str
) -> None:
    guards = [guarded(database, kafka, topic_prefix) for _ in range(2)]
    replicas = [runtime for runtime, _ in guards]
    for r in replicas:
        await r.start()
    try:
        assert await wait_for(_all_consuming(replicas), timeout=30)
        key_id = uuid.uuid4()
        event = KeyRevoked(
            org_id=uuid.uuid4(),
            payload=KeyRevokedPayload(key_id=key_id, revoked_at=datetime.now(UTC)),
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka, enable_idempotence=False, **client_options()
        )
        await producer.start()
        try:
            await producer.send_and_wait(
                topic_name(KEYS, replicas[0].settings.topic_prefix),
                event.to_bytes(),
                key=str(key_id).encode(),
            )
        finally:
            await producer.stop()

        async def everywhere() -> bool:
            return all(str(key_id) in bearer.revoked for _, bearer in guards)

        # Only one replica of the group consumes the event; the other learns it from NOTIFY.
        assert await wait_for(everywhere, timeout=15)
    finally:
        for r in replicas:
            await r.stop()


def _all_consuming(replicas: list[ServiceRuntime]):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return all(r.broker_started for r in replicas)

    return check


async def test_one_relay_publishes_and_a_standby_takes_over_when_it_loses_its_lock(
    database: str, kafka: str, topic_prefix: str
) -> None:
    a = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix, consume=False)
    b = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix, consume=False)
    await a.start()
    try:
        assert await wait_for(_active(a), timeout=10)
        await b.start()
        await asyncio.sleep(1.0)
        assert a.relay is not None
        assert b.relay is not None
        assert (a.relay.active, b.relay.active) == (True, False), "one active relay per database"

        # The active relay's lock lives on its listener connection: kill that connection.
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(
                """
                SELECT pg_terminate_backend(pid) FROM pg_locks
                WHERE locktype = 'advisory' AND objid = $1 AND granted
                """,
                0x52454C41,
            )
        finally:
            await conn.close()

        async def switched() -> bool:
            assert a.relay is not None
            assert b.relay is not None
            return b.relay.active and not a.relay.active

        assert await wait_for(switched, timeout=15), "the old relay must stand down"
        n = await probe.increment(a, uuid.uuid4())
        assert n == 1
        assert await wait_for(_no_pending(a), timeout=15), "the new relay publishes"
    finally:
        await b.stop()
        await a.stop()


def _active(rt: ServiceRuntime):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return rt.relay is not None and rt.relay.active

    return check


def _no_pending(rt: ServiceRuntime):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        assert rt.relay is not None
        return bool(await rt.relay.pending() == 0)

    return check

"""A minimal service built on the shared runtime, for testing the runtime itself.

It owns one table (``counters``) and announces each increment as a ``KeyRenamed`` event whose name
is the new counter value, so a consumer can check order per key. Its consumer applies those events
to ``applied`` through the inbox, and treats the name ``poison`` as a handler that always fails.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer

from fireline_contracts import KEYS, EventEnvelope, KeyRenamed
from fireline_contracts.keys import KeyRenamedPayload
from fireline_runtime.consumers import EventHandler, Treatment
from fireline_runtime.db import Connection
from fireline_runtime.migrations import Migration
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import ServiceSettings
from support.kafka import client_options

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000aa")

MIGRATION = Migration(
    "probe",
    "0001_probe",
    """
    CREATE TABLE counters (key uuid PRIMARY KEY, n integer NOT NULL);
    CREATE TABLE applied (
        event_id uuid NOT NULL, key uuid NOT NULL, name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    """,
)


async def increment(runtime: ServiceRuntime, key: uuid.UUID, *, rollback: bool = False) -> int:
    """One use case: bump a counter and announce it, in one transaction."""

    class Rollback(Exception):
        pass

    n = 0
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            n = await conn.fetchval(
                """
                INSERT INTO counters (key, n) VALUES ($1, 1)
                ON CONFLICT (key) DO UPDATE SET n = counters.n + 1 RETURNING n
                """,
                key,
            )
            event = KeyRenamed(org_id=ORG, payload=KeyRenamedPayload(key_id=key, name=str(n)))
            await runtime.outbox.add(conn, KEYS, event)
            if rollback:
                raise Rollback
    except Rollback:
        return -1
    return int(n)


async def apply_event(conn: Connection, event: EventEnvelope) -> None:
    assert isinstance(event, KeyRenamed)
    if event.payload.name == "poison":
        raise RuntimeError("this handler cannot process poison")
    await conn.execute(
        "INSERT INTO applied (event_id, key, name) VALUES ($1, $2, $3)",
        event.event_id,
        event.payload.key_id,
        event.payload.name,
    )


def build(
    *,
    database_url: str,
    bootstrap: str,
    prefix: str,
    consume: bool = True,
    triage: bool = False,
    **settings_overrides: Any,
) -> ServiceRuntime:
    settings = ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        kafka_session_timeout_ms=6000,
        outbox_poll_interval_s=0.2,
        consumer_max_retries=2,
        **settings_overrides,
    )
    runtime = ServiceRuntime(
        service="probe", settings=settings, migrations=[MIGRATION], topics=[KEYS]
    )
    if consume:
        runtime.consume(
            EventHandler(
                name="probe.apply",
                topic=KEYS,
                handle=apply_event,
                triage=treatment_by_name if triage else None,
            )
        )
    return runtime


def treatment_by_name(event: EventEnvelope) -> Treatment:
    """With ``triage``: names starting ``ignore`` are ignored, ``idempotent`` ones are applied
    without an inbox row, ``untriageable`` ones make the triage fail (a bug in it), the rest
    once."""
    assert isinstance(event, KeyRenamed)
    if event.payload.name.startswith("untriageable"):
        raise LookupError(f"no treatment for {event.payload.name!r}")
    for treatment in ("ignore", "idempotent"):
        if event.payload.name.startswith(treatment):
            return treatment
    return "once"


@asynccontextmanager
async def running(runtime: ServiceRuntime) -> AsyncIterator[ServiceRuntime]:
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def consumers_ready(runtime: ServiceRuntime) -> Callable[[], Awaitable[bool]]:
    """True once the runtime's consumers have joined their group."""

    async def check() -> bool:
        return runtime.broker_started

    return check


def applied_count(runtime: ServiceRuntime, n: int) -> Callable[[], Awaitable[bool]]:
    """True once at least ``n`` events are applied."""

    async def check() -> bool:
        async with runtime.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT count(*) FROM applied") >= n)

    return check


async def publish(bootstrap: str, topic: str, *values: tuple[bytes, bytes]) -> None:
    """Send ``(key, value)`` records one by one, as another producer would."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, **client_options()
    )
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

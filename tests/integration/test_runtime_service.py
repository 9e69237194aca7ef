"""The shared runtime's promises beyond the outbox: migrations, readiness, correlation, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Request

from fireline_contracts import KEYS, parse_event, topic_name
from fireline_runtime import correlation
from fireline_runtime.migrations import Migration, MigrationError, apply
from fireline_runtime.observability import JsonFormatter
from fireline_runtime.service import ServiceRuntime
from support import probe
from support.infra import Broker
from support.kafka import read_topic
from support.waiting import wait_for

pytestmark = pytest.mark.integration


async def test_concurrent_migrators_apply_each_file_once_and_refuse_edits(database: str) -> None:
    migrations = [
        Migration("svc", "0001_a", "CREATE TABLE a (id int)"),
        Migration("svc", "0002_b", "CREATE TABLE b (id int)"),
    ]
    conns = [await asyncpg.connect(database) for _ in range(3)]
    try:
        results = await asyncio.gather(*(apply(c, migrations) for c in conns))
        applied = sorted(v for r in results for v in r)
        assert applied == ["svc/0001_a", "svc/0002_b"], "each file applied by exactly one replica"

        edited = [Migration("svc", "0001_a", "CREATE TABLE a (id bigint)"), migrations[1]]
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await apply(conns[0], edited)
    finally:
        for c in conns:
            await c.close()


async def test_readyz_reports_the_broker_going_away_and_coming_back(
    database: str, faulty_kafka: Broker, topic_prefix: str
) -> None:
    runtime = probe.build(
        database_url=database, bootstrap=faulty_kafka.bootstrap, prefix=topic_prefix
    )
    app = runtime.build_app(title="probe")
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://probe") as client,
    ):
        assert await wait_for(lambda: _status(client, 200), timeout=20)
        faulty_kafka.cut()
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["broker"] is False
        assert r.json()["checks"]["database"] is True
        assert (await client.get("/healthz")).status_code == 200, "alive while not ready"
        faulty_kafka.restore()
        assert await wait_for(lambda: _status(client, 200), timeout=20)


@pytest.mark.parametrize(
    ("settings", "served_on"),
    [
        ({}, set()),
        ({"metrics_port": 9100}, {9100}),
        ({"metrics_on_http_port": True}, {8000, 9100}),
    ],
    ids=["nowhere by default", "metrics port only", "HTTP port when configured"],
)
async def test_metrics_are_served_only_where_a_setting_says(
    database: str, kafka: str, topic_prefix: str, settings: dict[str, Any], served_on: set[int]
) -> None:
    runtime = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix, **settings)
    app = runtime.build_app(title="probe")
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        answered = set()
        for port in (8000, 9100):
            # The transport puts the URL's port in the request's "server", as a socket would.
            async with httpx.AsyncClient(transport=transport, base_url=f"http://t:{port}") as c:
                assert (await c.get("/healthz")).status_code == 200, "the port itself answers"
                metrics = await c.get("/metrics")
                if metrics.status_code == 200:
                    assert "fireline_http_requests_total" in metrics.text
                    answered.add(port)
                else:
                    assert metrics.status_code == 404
                    assert metrics.headers["content-type"] == "application/problem+json"
    assert answered == served_on


async def _status(client: httpx.AsyncClient, code: int) -> bool:
    return (await client.get("/readyz")).status_code == code


async def test_correlation_id_flows_from_request_to_event_to_consumer_logs(
    database: str, kafka: str, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix)
    router = APIRouter()
    key = uuid.uuid4()

    @router.post("/increment")
    async def increment(request: Request) -> dict[str, int]:
        return {"n": await probe.increment(request.app.state.runtime, key)}

    app = runtime.build_app(title="probe", routers=[router])
    transport = httpx.ASGITransport(app=app)
    caplog.set_level(logging.INFO, logger="fireline.access")
    caplog.set_level(logging.DEBUG, logger="fireline_runtime.messaging")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://probe") as client,
    ):
        r = await client.post("/increment", headers={"X-Correlation-ID": "req-4711"})
        assert r.status_code == 200
        assert r.headers["x-correlation-id"] == "req-4711"
        records = await read_topic(kafka, topic_name(KEYS, runtime.settings.topic_prefix), until=1)
        assert await wait_for(lambda: _applied(runtime), timeout=20)

    event = parse_event(records[0].value)
    assert event.correlation_id == "req-4711"
    assert dict(records[0].headers)["correlation_id"] == b"req-4711"
    # The access log line of the request carries the id, rendered as JSON by the service format.
    formatter = JsonFormatter("probe")
    access = [
        json.loads(formatter.format(r))
        for r in caplog.records
        if r.name == "fireline.access" and getattr(r, "path", "") == "/increment"
    ]
    assert [a["correlation_id"] for a in access] == ["req-4711"]
    consumer_logs = [r for r in caplog.records if getattr(r, "correlation_id", None) == "req-4711"]
    assert {r.name for r in consumer_logs} >= {"fireline.access", "fireline_runtime.messaging"}
    # An untrusted id that is not safe to log is replaced, not echoed.
    assert correlation.accept("bad id\nwith newline") != "bad id\nwith newline"


async def _applied(runtime: ServiceRuntime) -> bool:
    async with runtime.pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT count(*) FROM applied") >= 1)


async def _broker_started(runtime: ServiceRuntime) -> bool:
    return runtime.broker_started


async def test_stop_flushes_events_committed_just_before_shutdown(
    database: str, kafka: str, topic_prefix: str
) -> None:
    runtime = probe.build(
        database_url=database, bootstrap=kafka, prefix=topic_prefix, consume=False
    )
    await runtime.start()
    # The topics exist once the runtime has reached the broker; a stop before that leaves the
    # rows in the outbox for the next start, which is not what this test is about.
    assert await wait_for(lambda: _broker_started(runtime), timeout=30)
    keys = [uuid.uuid4() for _ in range(20)]
    try:
        await asyncio.gather(*(probe.increment(runtime, k) for k in keys))
    finally:
        await runtime.stop()
    records = await read_topic(
        kafka, topic_name(KEYS, runtime.settings.topic_prefix), until=20, timeout=10
    )
    assert len(records) == 20, "the relay's last pass published what was committed before stop"

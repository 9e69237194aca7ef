"""A service's one consumer reads a busy topic and quiet ones together. While it handles a batch,
the quiet topics' fetch must not hold the busy topic's next records back: in an alert storm the
incidents consumer reads the alerts topic beside the keys topic, which stays silent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from fireline_contracts import INCIDENTS, KEYS, EventEnvelope, KeyRenamed, topic_name
from fireline_contracts.keys import KeyRenamedPayload
from fireline_runtime.consumers import EventHandler
from fireline_runtime.db import Connection
from fireline_runtime.service import ServiceRuntime
from fireline_runtime.settings import ServiceSettings
from support import infra, probe
from support.waiting import wait_for

pytestmark = pytest.mark.integration

QUIET_FETCH_WAIT_MS = 30_000
"""How long a fetch may wait on the broker for records: twice what the test waits, so a record
held back behind the quiet topic's fetch is not seen in time (and under aiokafka's 40 s request
timeout, so that fetch ends by its deadline, not by an error)."""


class Handler:
    """Applies the keys topic's events by name; one named ``hold`` waits for ``release``."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, conn: Connection, event: EventEnvelope) -> None:
        assert isinstance(event, KeyRenamed)
        if event.payload.name == "hold":
            self.holding.set()
            await self.release.wait()
        self.applied.append(event.payload.name)

    def has_applied(self, name: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return name in self.applied

        return check


async def _quiet(conn: Connection, event: EventEnvelope) -> None:
    """Nothing is published to the quiet topic: it is only subscribed to."""


@pytest.fixture
async def consuming(
    database: str, kafka: str, topic_prefix: str
) -> AsyncIterator[tuple[ServiceRuntime, Handler]]:
    if infra.test_broker_kind() != "kafka":
        pytest.skip(
            "Tansu answers every fetch only at its deadline, even when data arrives sooner, "
            "so with this test's 30 s deadline nothing would arrive in time, fix or not"
        )
    settings = ServiceSettings(
        database_url=database,
        kafka_bootstrap_servers=kafka,
        topic_prefix=topic_prefix,
        kafka_session_timeout_ms=6000,
        kafka_fetch_max_wait_ms=QUIET_FETCH_WAIT_MS,
    )
    runtime = ServiceRuntime(service="probe", settings=settings, topics=[KEYS, INCIDENTS])
    handler = Handler()
    runtime.consume(EventHandler(name="probe.keys", topic=KEYS, handle=handler))
    runtime.consume(EventHandler(name="probe.quiet", topic=INCIDENTS, handle=_quiet))
    async with probe.running(runtime):
        assert await wait_for(probe.consumers_ready(runtime), timeout=30)
        yield runtime, handler
        handler.release.set()  # a test that failed while holding must not hold the stop


def _renamed(key: uuid.UUID, name: str) -> tuple[bytes, bytes]:
    event = KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name=name))
    return key.bytes, event.to_bytes()


async def test_a_busy_topic_is_fetched_again_while_a_quiet_topics_fetch_waits(
    consuming: tuple[ServiceRuntime, Handler], kafka: str, topic_prefix: str
) -> None:
    _, handler = consuming
    topic = topic_name(KEYS, topic_prefix)
    key = uuid.uuid4()  # one key: one partition, in order
    await probe.publish(kafka, topic, _renamed(key, "hold"))
    await asyncio.wait_for(handler.holding.wait(), timeout=30)

    # Fetched while the batch is held, and left unconsumed well past aiokafka's 0.1 s prefetch
    # back-off: the point after which it used to fetch the quiet topic on its own. (A wait to
    # set the scene, not to assert that nothing happened.)
    await probe.publish(kafka, topic, _renamed(key, "buffered"))
    await asyncio.sleep(1.0)
    handler.release.set()
    assert await wait_for(handler.has_applied("buffered"), timeout=30)

    await probe.publish(kafka, topic, _renamed(key, "next"))

    # Behind a quiet-topic fetch it would wait QUIET_FETCH_WAIT_MS; fetched with it, at once.
    assert await wait_for(handler.has_applied("next"), timeout=15)
    assert handler.applied == ["hold", "buffered", "next"]

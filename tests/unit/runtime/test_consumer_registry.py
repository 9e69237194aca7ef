"""The consumer registry: what a service consumes is declared once, before its consumer joins."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker

from fireline_contracts import KEYS, SESSIONS, EventEnvelope, topic_name
from fireline_runtime.consumers import ConsumerRegistry, EventHandler
from fireline_runtime.db import Connection
from fireline_runtime.messaging.consuming import BatchConsumer
from fireline_runtime.messaging.dead_letter import DeadLetters
from fireline_runtime.observability import Metrics
from fireline_runtime.revocation import Rotation
from fireline_runtime.revocations_repository import parse_rotation_notice, rotation_notice


async def _ignore(conn: Connection, event: EventEnvelope) -> None:
    return None


def _registry(metrics: Metrics) -> ConsumerRegistry:
    return ConsumerRegistry(service="probe", topic_prefix="t1.", metrics=metrics, topics=[KEYS])


def test_a_second_handler_for_one_topic_is_refused_rather_than_one_of_them_never_running() -> None:
    registry = _registry(Metrics("probe"))
    registry.register(EventHandler(name="probe.one", topic=SESSIONS, handle=_ignore))

    with pytest.raises(ValueError, match=topic_name(SESSIONS, "t1.")):
        registry.register(EventHandler(name="probe.two", topic=SESSIONS, handle=_ignore))

    assert [h.name for h in registry.handlers] == ["probe.one"]
    assert registry.topics == [KEYS, SESSIONS], "produced first, then each consumed topic once"


def test_a_handler_registered_after_the_consumer_subscribed_is_refused_not_silently_idle() -> None:
    metrics = Metrics("probe")
    registry = _registry(metrics)
    registry.register(EventHandler(name="probe.keys", topic=KEYS, handle=_ignore))
    broker = KafkaBroker("127.0.0.1:9")  # never connected: subscribing only declares
    consumer = BatchConsumer(
        registry=registry,
        broker=broker,
        dead_letters=DeadLetters(broker, metrics),
        pool_getter=lambda: pytest.fail("no database here"),
        metrics=metrics,
    )
    consumer.subscribe()

    with pytest.raises(RuntimeError, match="before the broker starts"):
        registry.register(EventHandler(name="probe.sessions", topic=SESSIONS, handle=_ignore))

    assert consumer.group_id == "t1.fireline-probe"
    assert list(registry.by_topic) == [topic_name(KEYS, "t1.")]


def test_a_registered_handler_is_counted_at_zero_dead_letters_before_any_record() -> None:
    metrics = Metrics("probe")
    _registry(metrics).register(EventHandler(name="probe.keys", topic=KEYS, handle=_ignore))

    assert (
        metrics.registry.get_sample_value(
            "fireline_events_dead_lettered_total", {"consumer": "probe.keys"}
        )
        == 0.0
    )


@pytest.mark.parametrize("previous", ["previousfingerprint", None])
def test_a_rotation_reaches_another_replica_as_it_was_stored(previous: str | None) -> None:
    rotation = Rotation(
        current="currentfingerprint",
        previous=previous,
        valid_until=1_700_000_123.456789,
        rotated_at=1_700_000_000.25,
    )

    assert parse_rotation_notice(rotation_notice("key-1", rotation)) == ("key-1", rotation)

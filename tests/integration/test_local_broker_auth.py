"""`make run`'s Apache Kafka (fireline_devtools.brokers.start_apache_kafka): nobody gets in without
credentials, each service is its own principal, and it stays so across a restart on its data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from fireline_contracts import KEYS, topic_name
from fireline_devtools.brokers import EmbeddedBroker, start_apache_kafka
from fireline_runtime.kafka_security import KafkaSecurity
from fireline_runtime.messaging.producing import server_list
from fireline_runtime.messaging.topics import ensure_topics
from support import infra

pytestmark = pytest.mark.integration


@pytest.fixture
def local_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    if infra.test_broker_kind() != "kafka":
        pytest.skip("make run's authenticated broker is Apache Kafka; Tansu has no SASL")
    broker = start_apache_kafka(infra.KAFKA_CACHE.parent, tmp_path / "kafka-data")
    yield broker
    broker.stop()


async def _write(broker: EmbeddedBroker, security: KafkaSecurity) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=server_list(broker.bootstrap),
        request_timeout_ms=10_000,
        **security.client_options(),
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic_name(KEYS), b"{}", key=b"k")
    finally:
        await producer.stop()


async def test_make_runs_broker_admits_only_its_services_principals_also_after_a_restart(
    local_broker: EmbeddedBroker,
) -> None:
    await local_broker.grant()
    await ensure_topics(
        local_broker.bootstrap,
        [KEYS],
        prefix="",
        partitions=1,
        security=local_broker.security("identity"),
    )

    await _only_the_owner_writes(local_broker)
    # The SCRAM users live in the metadata log and their passwords beside the data: a restarted
    # `make run` logs in with the same credentials.
    assert local_broker.cluster is not None
    local_broker.cluster.stop()
    local_broker.cluster.start()
    await _only_the_owner_writes(local_broker)


async def _only_the_owner_writes(broker: EmbeddedBroker) -> None:
    await _write(broker, broker.security("identity"))
    with pytest.raises(KafkaConnectionError):
        await _write(broker, KafkaSecurity())
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(broker, broker.security("auth"))

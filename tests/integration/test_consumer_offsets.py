"""Offsets are committed after their records were applied, in the background and at most every
``FIRELINE_KAFKA_COMMIT_INTERVAL_MS``; whoever takes a partition over, after a graceful stop or a
rebalance, starts after what was applied, so nothing is applied twice or skipped."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from fireline_contracts import KEYS, KeyRenamed, topic_name
from fireline_contracts.keys import KeyRenamedPayload
from fireline_runtime.kafka_acls import group_id
from fireline_runtime.service import ServiceRuntime
from support import probe
from support.kafka import client_options, committed_offsets, group_assignments, partitions
from support.waiting import wait_for

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
"""A commit interval no test outlives: whatever is committed, a stop or a rebalance committed."""


def _event(key: uuid.UUID, name: str) -> tuple[bytes, bytes]:
    event = KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name=name))
    return key.bytes, event.to_bytes()


def _member(database: str, kafka: str, topic_prefix: str) -> ServiceRuntime:
    return probe.build(
        database_url=database,
        bootstrap=kafka,
        prefix=topic_prefix,
        kafka_commit_interval_ms=HOUR_MS,
    )


async def _applied_past_the_first_commit(
    runtime: ServiceRuntime, kafka: str, topic: str, keys: list[uuid.UUID]
) -> None:
    """Two rounds of one event per key applied: the first round's first fetch is committed at
    once, and the second round waits an hour for its commit unless a stop or a rebalance comes
    first."""
    assert await wait_for(probe.consumers_ready(runtime), timeout=30)
    await probe.publish(kafka, topic, *(_event(key, "1") for key in keys))
    assert await wait_for(probe.applied_count(runtime, len(keys)), timeout=30)
    await probe.publish(kafka, topic, *(_event(key, "2") for key in keys))
    assert await wait_for(probe.applied_count(runtime, 2 * len(keys)), timeout=30)


async def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_options(bootstrap))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions(bootstrap, topic)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def test_a_graceful_stop_commits_every_record_it_applied(
    database: str, kafka: str, topic_prefix: str
) -> None:
    runtime = _member(database, kafka, topic_prefix)
    topic = topic_name(KEYS, topic_prefix)
    keys = [uuid.uuid4() for _ in range(12)]  # spread over every partition
    async with probe.running(runtime):
        await _applied_past_the_first_commit(runtime, kafka, topic, keys)

    ends = await _end_offsets(kafka, topic)
    assert sum(ends.values()) == 2 * len(keys)
    committed = await committed_offsets(kafka, group_id("probe", topic_prefix))
    assert {tp: committed.get(tp) for tp in ends} == ends


async def test_a_partition_taken_over_in_a_rebalance_is_not_applied_again(
    database: str, kafka: str, topic_prefix: str
) -> None:
    first, second = (_member(database, kafka, topic_prefix) for _ in range(2))
    topic = topic_name(KEYS, topic_prefix)
    group = group_id("probe", topic_prefix)
    keys = [uuid.uuid4() for _ in range(12)]
    async with probe.running(first):
        await _applied_past_the_first_commit(first, kafka, topic, keys)

        async with probe.running(second):

            async def both_own_partitions() -> bool:
                owned = await group_assignments(kafka, group)
                return len(owned) == 2 and all(owned)

            assert await wait_for(both_own_partitions, timeout=60)
            await probe.publish(kafka, topic, *(_event(key, "3") for key in keys))
            assert await wait_for(probe.applied_count(first, 3 * len(keys)), timeout=60)
            states = [runtime.consumers.states["probe.apply"] for runtime in (first, second)]

            async def all_counted() -> bool:
                return sum(s.processed + s.duplicates for s in states) >= 3 * len(keys)

            assert await wait_for(all_counted, timeout=30)

    # The newcomer took partitions over and applied their new records, and none of the records
    # applied before the rebalance came back to it.
    assert states[1].processed > 0
    assert [s.duplicates for s in states] == [0, 0]

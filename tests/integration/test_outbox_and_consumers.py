"""Foundation proofs 1-4 against real PostgreSQL and the real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner

from fireline_contracts import KEYS, KeyRenamed, dlq_name, parse_event, topic_name
from fireline_contracts.keys import KeyRenamedPayload
from fireline_runtime.service import ServiceRuntime
from support import probe
from support.infra import Broker
from support.kafka import read_topic
from support.waiting import wait_for

pytestmark = pytest.mark.integration

_PARTITIONER = DefaultPartitioner()


@pytest.mark.parametrize("retention_s", [7 * 24 * 3600.0, 0.0], ids=["kept", "deleted"])
async def test_outbox_publishes_each_committed_row_once_in_key_order(
    database: str, kafka: str, topic_prefix: str, retention_s: float
) -> None:
    keys = [uuid.uuid4() for _ in range(8)]
    per_key = 15
    runtime = probe.build(
        database_url=database,
        bootstrap=kafka,
        prefix=topic_prefix,
        consume=False,
        outbox_retention_s=retention_s,
    )
    async with probe.running(runtime):
        # Every key is written by many transactions at once; the row lock on the counter and the
        # outbox's per-key lock must still give the broker each key's events in commit order.
        await asyncio.gather(*(probe.increment(runtime, k) for k in keys for _ in range(per_key)))
        rolled_back = await probe.increment(runtime, keys[0], rollback=True)
        assert rolled_back == -1
        assert runtime.relay is not None
        assert await wait_for(lambda: _no_pending(runtime), timeout=20)
        conn = await asyncpg.connect(database)
        try:
            left = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
            unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
        # Kept, every acknowledged row is there with its time; with no retention, none is.
        assert (left, unsent) == ((len(keys) * per_key, 0) if retention_s else (0, 0))

        records = await read_topic(
            kafka,
            topic_name(KEYS, runtime.settings.topic_prefix),
            until=len(keys) * per_key + 1,
            timeout=8,
        )

    events = [parse_event(r.value) for r in records]
    assert len(events) == len(keys) * per_key, "each committed row exactly once, nothing else"
    assert len({e.event_id for e in events}) == len(events)
    by_key: dict[str, list[int]] = defaultdict(list)
    for record, event in zip(records, events, strict=True):
        assert isinstance(event, KeyRenamed)
        assert record.key == str(event.payload.key_id).encode()
        by_key[str(event.payload.key_id)].append(int(event.payload.name))
    for key in keys:
        assert by_key[str(key)] == list(range(1, per_key + 1))
    # Sent as whole batches, each record still lands in the partition the producer's own
    # partitioner gives its key: a key's events share a partition whoever sends them.
    partitions = list(range(runtime.settings.topic_partitions))
    assert all(r.partition == _PARTITIONER(r.key, partitions, partitions) for r in records)
    assert len({r.partition for r in records}) > 1, "the keys spread over several partitions"


async def _no_pending(runtime: ServiceRuntime) -> bool:
    assert runtime.relay is not None
    return bool(await runtime.relay.pending() == 0)


async def test_broker_outage_loses_and_duplicates_nothing(
    database: str, faulty_kafka: Broker, topic_prefix: str
) -> None:
    runtime = probe.build(
        database_url=database, bootstrap=faulty_kafka.bootstrap, prefix=topic_prefix
    )
    keys = [uuid.uuid4() for _ in range(3)]
    async with probe.running(runtime):
        assert await wait_for(probe.consumers_ready(runtime), timeout=20)
        await asyncio.gather(*(probe.increment(runtime, k) for k in keys))
        assert await wait_for(probe.applied_count(runtime, 3), timeout=20)

        faulty_kafka.cut()
        # Writes keep succeeding while the broker is away: they wait in the outbox.
        during = await asyncio.gather(
            *(probe.increment(runtime, k) for k in keys for _ in range(5))
        )
        assert all(n > 0 for n in during)
        await asyncio.sleep(1.5)
        assert runtime.relay is not None
        assert await runtime.relay.pending() > 0, "nothing could have been published yet"

        faulty_kafka.restore()
        assert await wait_for(probe.applied_count(runtime, 18), timeout=45)
        await asyncio.sleep(2)  # give any duplicate a chance to show up
        async with runtime.pool.acquire() as conn:
            rows = await conn.fetch("SELECT key, name FROM applied ORDER BY applied_at")
            pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    assert pending == 0
    assert len(rows) == 18, "every event applied exactly once"
    for key in keys:
        names = [int(r["name"]) for r in rows if r["key"] == key]
        assert names == list(range(1, 7)), "applied in order, none twice"


async def test_same_event_delivered_twice_changes_state_once(
    database: str, kafka: str, topic_prefix: str
) -> None:
    runtime = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix)
    key = uuid.uuid4()
    event = KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name="1"))
    follow_up = KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name="2"))
    async with probe.running(runtime):
        topic = topic_name(KEYS, runtime.settings.topic_prefix)
        assert await wait_for(probe.consumers_ready(runtime), timeout=20)
        raw = event.to_bytes()
        await probe.publish(
            kafka, topic, (key.bytes, raw), (key.bytes, raw), (key.bytes, follow_up.to_bytes())
        )
        assert await wait_for(probe.applied_count(runtime, 2), timeout=20)
        state = runtime.consumers.states["probe.apply"]

        # The follow-up, on the same partition after the copy, is the positive signal; the
        # counters are settled just after the commit that made its row visible.
        async def all_three_seen() -> bool:
            return state.processed + state.duplicates >= 3

        assert await wait_for(all_three_seen, timeout=20)
        async with runtime.pool.acquire() as conn:
            names = await conn.fetch("SELECT name FROM applied WHERE key = $1", key)
    assert sorted(r["name"] for r in names) == ["1", "2"]
    assert state.duplicates == 1


@pytest.mark.parametrize("with_poison", [False, True], ids=["together", "one by one"])
async def test_a_triaged_handler_claims_only_what_it_applies_once(
    database: str, kafka: str, topic_prefix: str, with_poison: bool
) -> None:
    runtime = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix, triage=True)
    key = uuid.uuid4()
    named = {
        name: KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name=name))
        for name in ("ignore-me", "idempotent-link", "once-request", "poison", "last")
    }
    sent = ["ignore-me", "idempotent-link", "once-request", "once-request", "last"]
    if with_poison:  # a record that fails sends the batch down the one-by-one path
        sent.insert(3, "poison")
    async with probe.running(runtime):
        topic = topic_name(KEYS, runtime.settings.topic_prefix)
        assert await wait_for(probe.consumers_ready(runtime), timeout=20)
        await probe.publish(kafka, topic, *((key.bytes, named[n].to_bytes()) for n in sent))
        state = runtime.consumers.states["probe.apply"]

        async def all_seen() -> bool:
            seen = state.processed + state.duplicates + state.ignored + state.dead_lettered
            return seen >= len(sent)

        assert await wait_for(all_seen, timeout=60)
        async with runtime.pool.acquire() as conn:
            applied = [r["name"] for r in await conn.fetch("SELECT name FROM applied")]
            claimed = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
    assert sorted(applied) == ["idempotent-link", "last", "once-request"]
    assert claimed == {named["once-request"].event_id, named["last"].event_id}
    assert (state.ignored, state.duplicates) == (1, 1)


async def test_an_event_its_triage_fails_on_goes_to_the_dlq_and_the_partition_moves_on(
    database: str, kafka: str, topic_prefix: str
) -> None:
    runtime = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix, triage=True)
    key = uuid.uuid4()
    bad, good = (
        KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name=name))
        for name in ("untriageable", "after-it")
    )
    async with probe.running(runtime):
        topic = topic_name(KEYS, runtime.settings.topic_prefix)
        assert await wait_for(probe.consumers_ready(runtime), timeout=20)
        await probe.publish(kafka, topic, (key.bytes, bad.to_bytes()), (key.bytes, good.to_bytes()))
        # The record after it, on the same partition, is applied: the partition was not wedged.
        assert await wait_for(probe.applied_count(runtime, 1), timeout=30)
        dead = await read_topic(kafka, dlq_name(topic), until=1, timeout=10)
        async with runtime.pool.acquire() as conn:
            applied = [r["name"] for r in await conn.fetch("SELECT name FROM applied")]
    assert applied == ["after-it"]
    assert [record.value for record in dead] == [bad.to_bytes()]
    assert dict(dead[0].headers)["x-dlq-error-type"] == b"LookupError"


async def test_poison_messages_go_to_the_dlq_and_the_next_message_is_processed(
    database: str, kafka: str, topic_prefix: str
) -> None:
    runtime = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix)
    key = uuid.uuid4()
    poison = KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name="poison"))
    good = KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name="good"))
    async with probe.running(runtime):
        topic = topic_name(KEYS, runtime.settings.topic_prefix)
        assert await wait_for(probe.consumers_ready(runtime), timeout=20)
        await probe.publish(
            kafka,
            topic,
            (key.bytes, b"{not json"),
            (key.bytes, poison.to_bytes()),
            (key.bytes, good.to_bytes()),
        )
        assert await wait_for(probe.applied_count(runtime, 1), timeout=30)
        dead = await read_topic(kafka, dlq_name(topic), until=2, timeout=10)
        async with runtime.pool.acquire() as conn:
            applied = await conn.fetch("SELECT name FROM applied")
    assert [r["name"] for r in applied] == ["good"]
    assert [r.value for r in dead] == [b"{not json", poison.to_bytes()]
    unparsable, failing = (dict(r.headers) for r in dead)
    assert unparsable["x-dlq-original-topic"] == topic.encode()
    assert b"ValidationError" in unparsable["x-dlq-error-type"] or unparsable["x-dlq-error"]
    assert failing["x-dlq-attempts"] == b"3", "first try plus the two configured retries"
    assert b"cannot process poison" in failing["x-dlq-error"]


async def test_a_fetch_spanning_partitions_keeps_each_keys_order_around_a_poison_record(
    database: str, kafka: str, topic_prefix: str
) -> None:
    """A fetch's records of several partitions are applied in one transaction; when one of them
    is poison, each partition is tried again on its own, so the others are still applied
    together and every key's events stay in order."""
    runtime = probe.build(database_url=database, bootstrap=kafka, prefix=topic_prefix)
    partitions = list(range(runtime.settings.topic_partitions))
    keys: dict[int, uuid.UUID] = {}
    while len(keys) < len(partitions):  # one key on each partition
        key = uuid.uuid4()
        keys.setdefault(_PARTITIONER(key.bytes, partitions, partitions), key)
    poisoned = keys[partitions[0]]
    names = [str(n) for n in range(1, 6)]

    def renamed(key: uuid.UUID, name: str) -> tuple[bytes, bytes]:
        event = KeyRenamed(org_id=probe.ORG, payload=KeyRenamedPayload(key_id=key, name=name))
        return key.bytes, event.to_bytes()

    sent = []
    for name in names:  # interleaved: every fetch holds records of every partition
        for key in keys.values():
            sent.append(renamed(key, name))
            if key == poisoned and name == "2":
                sent.append(renamed(key, "poison"))
    async with probe.running(runtime):
        topic = topic_name(KEYS, runtime.settings.topic_prefix)
        assert await wait_for(probe.consumers_ready(runtime), timeout=20)
        await probe.publish(kafka, topic, *sent)
        state = runtime.consumers.states["probe.apply"]

        async def all_seen() -> bool:
            return state.processed + state.dead_lettered >= len(sent)

        assert await wait_for(all_seen, timeout=60)
        dead = await read_topic(kafka, dlq_name(topic), until=1, timeout=10)
        async with runtime.pool.acquire() as conn:
            rows = await conn.fetch("SELECT key, name FROM applied ORDER BY applied_at")
    applied: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row in rows:
        applied[row["key"]].append(row["name"])
    assert applied == {key: names for key in keys.values()}
    assert (state.processed, state.dead_lettered) == (len(sent) - 1, 1)
    assert [record.key for record in dead] == [poisoned.bytes]

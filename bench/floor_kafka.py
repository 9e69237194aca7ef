"""Scenario 16, part 2: Kafka's own cost of the records one delivery needs, and the clients'.

The same records as the stack's: per delivery one ``AlertTriggered`` and the incidents events
(one, the start) the incidents service wrote for the provisioning probe (their real payloads and
headers, read from the services' outboxes), each delivery with keys of its own. They go to two
scratch topics with the partitions of the real ones:

- produced by the runtime's producer (:func:`fireline_runtime.messaging.producing.make_producer`:
  idempotent, acks=all, its batch size), a pass of a batch of deliveries (``--floor-batch``) at a
  time, sent the way the outbox relay sends a pass (whole record batches per partition);
- consumed by one consumer group on the alerts topic and three on the incidents topic (ingest,
  notifications and incidents' live tail read every incidents event), configured as the
  runtime's ``BatchConsumer`` configures aiokafka: ``getmany`` of at most ``MAX_BATCH`` records,
  the offsets committed once per batch.

Producing runs first, then consuming, so the process time of each is this process's own CPU over
that phase (the clients' work: encoding, compression, I/O, the event loop); the broker's CPU is
its JVM's, over each phase. Parsing the events is the services' work, not the clients': it is
left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import cpu
from bench.floor_pg import Templates, batches
from fireline_contracts import ALERTS, INCIDENTS, topic_name
from fireline_runtime.kafka_security import KafkaSecurity
from fireline_runtime.messaging.consuming import MAX_BATCH
from fireline_runtime.messaging.producing import make_producer, server_list

# The relay's own send path, so the floor pays exactly what a relay pass pays per record.
from fireline_runtime.outbox import _send_batches

INCIDENT_GROUPS = ("ingest", "notifications", "incidents-live")
"""The groups that read every incidents event in the stack."""

FETCH_MAX_WAIT_MS = 500
"""The BatchConsumer's default ``fetch_max_wait_ms``."""

CONSUME_TIMEOUT_S = 180.0
TOPIC_READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    security: KafkaSecurity
    prefix: str


def records_per_delivery(t: Templates) -> dict[str, list[dict[str, Any]]]:
    """Topic role -> the template rows one delivery produces there."""
    return {"alerts": [t.alert_outbox], "incidents": list(t.incident_outbox)}


def record_rows(
    rows: list[dict[str, Any]], topic: str, keys: list[str], first_id: int
) -> list[dict[str, Any]]:
    """The relay's rows for ``keys`` (one delivery each): every template row once per key, in
    order, on ``topic``, numbered from ``first_id``."""
    out: list[dict[str, Any]] = []
    for key in keys:
        for row in rows:
            headers = row["headers"]
            out.append(
                {
                    "id": first_id + len(out),
                    "topic": topic,
                    "kafka_key": key,
                    "payload": bytes(row["payload"]),
                    "headers": json.loads(headers) if isinstance(headers, str) else headers,
                }
            )
    return out


@contextlib.asynccontextmanager
async def scratch_topics(broker: Broker, suffix: str) -> AsyncIterator[dict[str, str]]:
    """Role -> a new topic with the real topic's partitions; deleted afterwards."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=server_list(broker.bootstrap), **broker.security.client_options()
    )
    await admin.start()
    names = {
        "alerts": f"{broker.prefix}bench.floor.alerts.{suffix}",
        "incidents": f"{broker.prefix}bench.floor.incidents.{suffix}",
    }
    try:
        real = {
            "alerts": topic_name(ALERTS, broker.prefix),
            "incidents": topic_name(INCIDENTS, broker.prefix),
        }
        described = {d["topic"]: d for d in await admin.describe_topics(list(real.values()))}
        new = []
        for role, name in names.items():
            partitions = described[real[role]]["partitions"]
            replicas = len(partitions[0]["replicas"])
            new.append(NewTopic(name, num_partitions=len(partitions), replication_factor=replicas))
        await admin.create_topics(new)
        await _wait_leaders(admin, list(names.values()))
        yield names
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(names.values()))
        await admin.close()


async def _wait_leaders(admin: AIOKafkaAdminClient, topics: list[str]) -> None:
    """Until every partition of the new topics has a leader: the first produce requests would
    otherwise be refused (NotLeaderForPartition) and retried inside the measured window."""
    deadline = time.monotonic() + TOPIC_READY_TIMEOUT_S
    while True:
        described = await admin.describe_topics(topics)
        partitions = [p for d in described for p in d["partitions"]]
        if partitions and all(p["leader"] >= 0 for p in partitions):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the floor's topics had no leaders after {TOPIC_READY_TIMEOUT_S} s")
        await asyncio.sleep(0.1)


async def produce(broker: Broker, topics: dict[str, str], t: Templates, n: int, batch: int) -> int:
    """Every delivery's records, a relay pass at a time; the records acknowledged."""
    producer = await make_producer(
        broker.bootstrap, "bench-floor", idempotence=True, security=broker.security
    )
    templates = records_per_delivery(t)
    acknowledged = 0
    try:
        for numbers in batches(n, batch):
            keys = [f"floor-{uuid.uuid4()}" for _ in numbers]
            for role, rows in templates.items():
                pass_rows = record_rows(rows, topics[role], keys, acknowledged)
                sent: list[int] = []
                errors: list[BaseException] = []
                await _send_batches(producer, pass_rows, sent, errors)  # type: ignore[arg-type]
                if errors:
                    raise errors[0]
                acknowledged += len(sent)
    finally:
        await producer.stop()
    return acknowledged


async def consume(broker: Broker, topic: str, group: str, expected: int) -> int:
    """One group member reads ``expected`` records, committing after each batch."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=server_list(broker.bootstrap),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_500,
        max_poll_interval_ms=300_000,
        **broker.security.client_options(),
    )
    await consumer.start()
    seen = 0
    try:
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while seen < expected and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=FETCH_MAX_WAIT_MS, max_records=MAX_BATCH)
            records = sum(len(batch) for batch in got.values())
            if records:
                seen += records
                await consumer.commit()
    finally:
        await consumer.stop()
    return seen


async def measure(
    broker: Broker,
    t: Templates,
    n: int,
    broker_processes: dict[str, cpu.Watched],
    batch: int,
) -> dict[str, Any]:
    """Produce, then consume; each phase's CPU per delivery, the clients' and the broker's."""
    suffix = uuid.uuid4().hex[:8]
    per_delivery = {role: len(rows) for role, rows in records_per_delivery(t).items()}
    async with scratch_topics(broker, suffix) as topics:
        broker_before = cpu.read(broker_processes)
        client_before, wall_before = time.process_time(), time.monotonic()
        produced = await produce(broker, topics, t, n, batch)
        client_produce_s = time.process_time() - client_before
        broker_mid = cpu.read(broker_processes)
        client_mid, wall_mid = time.process_time(), time.monotonic()
        readers = [
            (topics["alerts"], f"bench-floor-{suffix}-incidents", n * per_delivery["alerts"])
        ]
        readers += [
            (topics["incidents"], f"bench-floor-{suffix}-{group}", n * per_delivery["incidents"])
            for group in INCIDENT_GROUPS
        ]
        # A task group: one reader failing stops the others, rather than leaving them polling
        # topics about to be deleted.
        async with asyncio.TaskGroup() as group_readers:
            reading = [
                group_readers.create_task(consume(broker, topic, group, expected))
                for topic, group, expected in readers
            ]
        consumed = [task.result() for task in reading]
        client_consume_s = time.process_time() - client_mid
        broker_after = cpu.read(broker_processes)
        wall_after = time.monotonic()
    expected_consumed = sum(expected for _, _, expected in readers)
    return {
        "deliveries_per_pass": batch,
        "records_per_delivery": per_delivery,
        "record_bytes": {
            role: [len(bytes(r["payload"])) for r in rows]
            for role, rows in records_per_delivery(t).items()
        },
        "consumer_groups": {"alerts": 1, "incidents": len(INCIDENT_GROUPS)},
        "produced": produced,
        "consumed": sum(consumed),
        "consumed_expected": expected_consumed,
        # The broker's figures include what it spends meanwhile on the idle stack's own fetches
        # and heartbeats; these let that be estimated (floor.py).
        "produce_wall_s": round(wall_mid - wall_before, 3),
        "consume_wall_s": round(wall_after - wall_mid, 3),
        "client_produce_cpu_ms_per_delivery": round(client_produce_s * 1000 / n, 3),
        "client_consume_cpu_ms_per_delivery": round(client_consume_s * 1000 / n, 3),
        "broker_produce_cpu_ms_per_delivery": _sum(
            cpu.per_delivery_ms(broker_before, broker_mid, n)
        ),
        "broker_consume_cpu_ms_per_delivery": _sum(
            cpu.per_delivery_ms(broker_mid, broker_after, n)
        ),
    }


def _sum(parts: dict[str, float | None]) -> float | None:
    if not parts or None in parts.values():
        return None
    return round(sum(v for v in parts.values() if v is not None), 3)

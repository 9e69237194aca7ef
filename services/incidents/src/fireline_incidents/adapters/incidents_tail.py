"""This replica's own reader of ``fireline.incidents.v1``, feeding the live updates.

Not a consumer group: a group would share the partitions among the replicas, and each replica
must see every change for the browsers connected to it. So the reader assigns itself every
partition, starts at the end (browsers load the current state over the API first) and commits
nothing; a restarted replica starts at the end again.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from uuid import UUID

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from fireline_contracts import EVENT_TYPES, INCIDENTS, parse_event, topic_name
from fireline_incidents.domain.live import LiveFeed
from fireline_runtime.kafka_security import KafkaSecurity
from fireline_runtime.messaging.producing import server_list

log = logging.getLogger(__name__)


async def tail_incidents(
    *, bootstrap_servers: str, topic_prefix: str, feed: LiveFeed, security: KafkaSecurity
) -> None:
    """Run for the service's lifetime; waits for the broker and the topic as long as it takes."""
    topic = topic_name(INCIDENTS, topic_prefix)
    delay = 0.2
    while True:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=server_list(bootstrap_servers),
            group_id=None,
            enable_auto_commit=False,
            client_id="fireline-incidents-live",
            **security.client_options(),
        )
        try:
            partitions = await _partitions(bootstrap_servers, topic, security)
            await consumer.start()
            await _read(consumer, partitions, topic, feed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("live updates reader failed; retrying", extra={"error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        finally:
            await consumer.stop()


async def _partitions(bootstrap_servers: str, topic: str, security: KafkaSecurity) -> list[int]:
    """The topic's partitions, once it exists (the service creates it as it connects)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=server_list(bootstrap_servers), **security.client_options()
    )
    await admin.start()
    try:
        while True:
            described = await admin.describe_topics([topic])
            found = [d for d in described if d.get("error_code") == 0 and d.get("partitions")]
            if found:
                return sorted(int(p["partition"]) for p in found[0]["partitions"])
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def _read(
    consumer: AIOKafkaConsumer, partitions: list[int], topic: str, feed: LiveFeed
) -> None:
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    if not feed.started.is_set():
        await consumer.seek_to_end(*assigned)
        feed.start({tp.partition: await consumer.position(tp) for tp in assigned})
    else:
        # After a reconnection, carry on where this replica left off: nothing is skipped.
        last = feed.last_offsets
        for tp in assigned:
            consumer.seek(tp, last.get(tp.partition, -1) + 1)
    log.info("live updates reading", extra={"topic": topic, "partitions": len(assigned)})
    while True:
        batches = await consumer.getmany(timeout_ms=1000, max_records=500)
        for tp, records in batches.items():
            for record in records:
                if record.value is None:
                    continue
                try:
                    org_id, event_type, data = live_fields(record.value)
                except ValueError as exc:
                    # The incidents service wrote it; a record it cannot read is no browser's.
                    log.warning("unreadable incidents event skipped", extra={"error": str(exc)})
                    feed.skip(tp.partition, record.offset)
                    continue
                feed.publish(tp.partition, record.offset, org_id, event_type, data)


def live_fields(value: bytes) -> tuple[UUID, str, str]:
    """The org, type and JSON browsers get of one record (ValueError if it is not an event).

    Every replica reads every record whether or not a browser is watching, so this runs about once
    per PagerDuty delivery on each replica (once for a new incident's start). The records are the
    incidents service's own events, already validated when written: a record of the current
    schema version goes out as written, after a plain JSON parse for its routing fields (about a
    ninth of the cost of validating it and serialising it again). Only an older version is parsed
    in full, so that browsers always get the current shape.
    """
    try:
        envelope = orjson.loads(value)
        event_type = envelope["event_type"]
        org_id = _org_id(envelope["org_id"])
        version = envelope.get("schema_version")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON, or its fields
        raise ValueError(f"not an event envelope: {exc!r}") from exc
    event_class = EVENT_TYPES.get(event_type) if event_type in INCIDENTS.event_types else None
    if event_class is None:
        raise ValueError(f"{event_type!r} is not an event of {INCIDENTS.name}")
    if version == event_class.declared_schema_version() and not isinstance(version, bool):
        return org_id, event_type, value.decode()
    event = parse_event(value, spec=INCIDENTS)
    return event.org_id, event.event_type, event.model_dump_json()


@lru_cache(maxsize=4096)
def _org_id(text: str) -> UUID:
    """An org's id from its text; a storm's events come from few orgs, and parsing a UUID costs
    a quarter of what the rest of this record's reading does."""
    return UUID(text)

"""Looking at Kafka from tests the way an outside client would: topics, configs and groups."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from fireline_runtime.kafka_security import KafkaClientSettings
from fireline_runtime.messaging.producing import server_list
from support import infra


def client_options(bootstrap: str | None = None) -> dict[str, Any]:
    """Kafka credentials as aiokafka takes them: the super user of the broker at ``bootstrap``
    if this run started it, else this process's settings (the session broker's super user, put
    there by tests/conftest.py), else nothing, for a broker without SASL."""
    started_here = infra.STARTED.get(bootstrap or "")
    if started_here is not None:
        return started_here.embedded.security().client_options()
    return KafkaClientSettings().kafka_security.client_options()


async def read_topic(
    bootstrap: str, topic: str, *, until: int, timeout: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` from the beginning until ``until`` records arrived or the time is up."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=server_list(bootstrap),
        **client_options(bootstrap),
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < until and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def read_to_end(
    bootstrap: str, topic: str, *, timeout: float = 60.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record ``topic`` holds now: from the beginning up to each partition's end offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=server_list(bootstrap),
        **client_options(bootstrap),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        assigned = [TopicPartition(topic, p) for p in await partitions(bootstrap, topic)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        deadline = asyncio.get_running_loop().time() + timeout
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic} not read to its end in {timeout:.0f}s")
            batch = await consumer.getmany(*assigned, timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def topic_configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's effective configuration, read back from the brokers."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=server_list(bootstrap), **client_options(bootstrap)
    )
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        found: dict[str, dict[str, str]] = {}
        for response in await admin.describe_configs(resources):
            for resource in response.to_object()["resources"]:
                entries = resource["config_entries"]
                found[resource["resource_name"]] = {
                    e["config_names"]: e["config_value"] for e in entries
                }
        return found
    finally:
        await admin.close()


async def partitions(bootstrap: str, topic: str) -> dict[int, dict[str, Any]]:
    """Partition number -> its ``leader`` and ``replicas`` (broker ids)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=server_list(bootstrap), **client_options(bootstrap)
    )
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {
        p["partition"]: {"leader": p["leader"], "replicas": list(p["replicas"])}
        for p in described[0]["partitions"]
    }


async def group_assignments(bootstrap: str, group: str) -> list[list[TopicPartition]]:
    """The partitions each live member of a consumer group owns, one list per member."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=server_list(bootstrap), **client_options(bootstrap)
    )
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    owned: list[list[TopicPartition]] = []
    for response in responses:
        for described in response.to_object()["groups"]:
            for member in described["members"]:
                raw = member["member_assignment"]
                assignment = ConsumerProtocolMemberAssignment.decode(raw) if raw else None
                owned.append(
                    [
                        TopicPartition(topic, p)
                        for topic, numbers in (assignment.assignment if assignment else [])
                        for p in numbers
                    ]
                )
    return owned


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=server_list(bootstrap), **client_options(bootstrap)
    )
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items()}

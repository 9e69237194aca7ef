"""The broker, not the services, keeps strangers off the bus: authentication and ACLs end to end.

The attack this answers: with network access to the broker, a hand-made ``KeyCreated`` written to
``fireline.identity.keys.v1`` made auth issue working tokens for a key identity never created.
Here the stack's broker is Apache Kafka with SASL/SCRAM and the ACLs derived from the topic
registry, and the attacker tries with no credentials and with every other service's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from fireline_contracts import ALL_TOPICS, KEYS, KeyCreated, KeyCreatedPayload, TopicSpec, api_keys
from fireline_contracts.scopes import ALL_SCOPES
from fireline_devtools.processes import SERVICES as PROCESSES
from fireline_runtime.kafka_security import KafkaSecurity
from support.credentials import admin_session, exchange, new_key
from support.kafka import read_to_end
from support.stack import Stack

pytestmark = pytest.mark.e2e

SERVICES = tuple(spec.name for spec in PROCESSES)


def _as(stack: Stack, service: str) -> KafkaSecurity:
    """The credentials ``service``'s processes were given: what a thief of them would hold."""
    env = stack.env(service)
    return KafkaSecurity(
        username=env["FIRELINE_KAFKA_SASL_USERNAME"], password=env["FIRELINE_KAFKA_SASL_PASSWORD"]
    )


def _authenticating(stack: Stack) -> None:
    if stack.broker.embedded.users is None:
        pytest.skip(
            "the broker has no SASL users of this run's: Tansu (unauthenticated, development "
            "only), or one given by KAFKA_BOOTSTRAP_SERVERS or testcontainers"
        )


async def _write(stack: Stack, topic: str, value: bytes, security: KafkaSecurity | None) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.broker.bootstrap.split(","),
        enable_idempotence=False,
        request_timeout_ms=10_000,
        **(security or KafkaSecurity()).client_options(),
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=b"forged")
    finally:
        await producer.stop()


async def _read(stack: Stack, topic: str, security: KafkaSecurity | None) -> list[bytes]:
    """The first records of partition 0 of ``topic``, read without a group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.broker.bootstrap.split(","),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=10_000,
        **(security or KafkaSecurity()).client_options(),
    )
    try:
        await consumer.start()
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batch = await consumer.getmany(partition, timeout_ms=10_000)
        return [record.value or b"" for record in batch.get(partition, [])]
    finally:
        await consumer.stop()


async def _described(stack: Stack, topic: str, security: KafkaSecurity) -> int:
    """The error code the broker answers ``security``'s request to describe ``topic`` with."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=stack.broker.bootstrap.split(","), **security.client_options()
    )
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    code: int = described[0]["error_code"]
    return code


def _forged_key() -> tuple[KeyCreated, str]:
    secret = api_keys.generate()
    event = KeyCreated(
        org_id=uuid.uuid4(),
        payload=KeyCreatedPayload(
            key_id=uuid.uuid4(),
            name="forged",
            digest=api_keys.digest(secret),
            scopes=ALL_SCOPES,
            expires_at=None,
            created_by=None,
            created_at=datetime.now(UTC),
        ),
    )
    return event, secret


async def test_a_forged_key_event_is_refused_by_the_broker_without_identitys_credentials(
    stack: Stack,
) -> None:
    _authenticating(stack)
    keys_topic = stack.topic_prefix + KEYS.name
    forged, forged_secret = _forged_key()
    value = forged.model_dump_json().encode()

    with pytest.raises(KafkaConnectionError):
        await _write(stack, keys_topic, value, security=None)
    for other in ("auth", "incidents", "pagerduty-ingest", "notifications"):
        with pytest.raises(TopicAuthorizationFailedError):
            await _write(stack, keys_topic, value, security=_as(stack, other))

    # A key identity really creates goes the same way to auth and is exchanged: auth has read
    # the keys topic since the attempts, and the topic, read to its end, holds identity's event
    # and no record of the forged one.
    identity = admin_session(stack)
    real = new_key(identity, "after the forgery")
    try:
        assert exchange(stack, real)
        on_topic = await read_to_end(stack.broker.bootstrap, keys_topic)
        values = [record.value or b"" for record in on_topic]
        assert any(real["id"].encode() in v for v in values)
        assert not any(str(forged.event_id).encode() in v for v in values)
        async with httpx.AsyncClient(timeout=10) as client:
            forged_exchange = await client.post(
                f"{stack.url('auth')}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(str(forged.payload.key_id), forged_secret),
            )
        assert forged_exchange.status_code == 401, forged_exchange.text
        assert forged_exchange.json()["error"] == "invalid_client"
    finally:
        identity.delete(f"/v1/api-keys/{real['id']}")
        identity.close()


async def test_an_unauthenticated_client_can_neither_read_nor_write_firelines_topics(
    stack: Stack,
) -> None:
    _authenticating(stack)
    identity = admin_session(stack)
    key = new_key(identity, "something on the keys topic")
    try:
        exchange(stack, key)  # its KeyCreated is on the topic
        keys_topic = stack.topic_prefix + KEYS.name
        # The same read as the super user finds records, so an empty answer would be a refusal's.
        assert await read_to_end(stack.broker.bootstrap, keys_topic)
        for spec in ALL_TOPICS:
            topic = stack.topic_prefix + spec.name
            with pytest.raises(KafkaConnectionError):
                await _read(stack, topic, security=None)
            with pytest.raises(KafkaConnectionError):
                await _write(stack, topic, b"{}", security=None)
    finally:
        identity.delete(f"/v1/api-keys/{key['id']}")
        identity.close()


@pytest.mark.parametrize("spec", ALL_TOPICS, ids=lambda spec: spec.name)
async def test_each_topic_is_written_only_by_its_owner_and_read_only_by_its_readers(
    stack: Stack, spec: TopicSpec
) -> None:
    """Every other service's credentials are refused a write, and those of every service that
    is not a reader a read, while a reader's read of the same topic goes through. (The owner's
    writes are the stack's own traffic: its relay writes there in every other test.)"""
    _authenticating(stack)
    topic = stack.topic_prefix + spec.name
    for service in SERVICES:
        security = _as(stack, service)
        if service != spec.owner:
            with pytest.raises(TopicAuthorizationFailedError):
                await _write(stack, topic, b"{}", security=security)
        if service in spec.readers:
            await _read(stack, topic, security=security)
        elif service == spec.owner:
            with pytest.raises(TopicAuthorizationFailedError):
                await _read(stack, topic, security=security)
        else:
            # Refused before any fetch: the broker will not even describe the topic to it, so a
            # consumer never learns a partition leader to fetch from.
            assert await _described(stack, topic, security) == TopicAuthorizationFailedError.errno

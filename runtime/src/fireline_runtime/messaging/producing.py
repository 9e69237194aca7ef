"""Producing: the outbox relay's Kafka producer, and the broker address list every client needs.

Public surface:

* :func:`server_list` — ``host:port,host:port`` as aiokafka takes it;
* :func:`make_producer` — a started producer with the settings every Fireline producer uses;
* :class:`RelayProducer` — the one producer of a process, shared by the relay and the readiness
  probe, rebuilt after the relay reports it failed.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer

from fireline_runtime.kafka_security import KafkaSecurity


def server_list(bootstrap_servers: str) -> list[str]:
    """``host:port,host:port`` as the list aiokafka needs: it takes a single string as one
    address, commas and all, so a cluster's bootstrap list would never connect."""
    return [server.strip() for server in bootstrap_servers.split(",") if server.strip()]


async def make_producer(
    bootstrap_servers: str,
    client_id: str,
    *,
    idempotence: bool = True,
    security: KafkaSecurity | None = None,
) -> AIOKafkaProducer:
    """The relay's producer: acks from all in-sync replicas; idempotent unless the broker is
    Tansu, so a send retried after a lost answer is written once, in order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=server_list(bootstrap_servers),
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotence,
        request_timeout_ms=5_000,
        retry_backoff_ms=200,
        linger_ms=0,
        # The relay sends a pass's rows as one batch per partition (outbox._send_batches); at
        # aiokafka's 16 KB a storm's pass took a dozen acknowledged round trips one after the
        # other. Three partitions' batches still fit Kafka's 1 MB request.
        max_batch_size=256 * 1024,
        **(security or KafkaSecurity()).client_options(),
    )
    try:
        await producer.start()
    except Exception:
        await producer.stop()
        raise
    return producer


class RelayProducer:
    """The process's producer, built on first use and rebuilt after a failure.

    The relay sends with it; /readyz and ``partition_count`` ask it for metadata.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        client_id: str,
        *,
        idempotence: bool,
        security: KafkaSecurity,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._idempotence = idempotence
        self._security = security
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AIOKafkaProducer:
        # The relay and /readyz both ask; without the lock each could build (and leak) one.
        async with self._lock:
            if self._producer is None:
                self._producer = await make_producer(
                    self._bootstrap_servers,
                    self._client_id,
                    idempotence=self._idempotence,
                    security=self._security,
                )
            return self._producer

    async def drop(self, failed: object) -> None:
        """Forget the producer if it is still ``failed``; the next caller builds anew."""
        async with self._lock:
            producer = self._producer
            if producer is None or id(producer) != id(failed):  # `is` would narrow to object
                return
            self._producer = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5)

    async def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), 5)

    async def reachable(self, timeout: float = 2.0) -> bool:
        """Whether the broker answers a metadata request within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                producer = await self.get()
                await producer.client.fetch_all_metadata()
                return True
        except Exception:
            return False

    async def partition_count(self, topic: str, timeout: float = 2.0) -> int | None:
        """How many partitions ``topic`` has, from the producer's metadata; None while the
        broker cannot say."""
        try:
            async with asyncio.timeout(timeout):
                producer = await self.get()
                partitions = await producer.partitions_for(topic)
        except Exception:
            return None
        return len(partitions) or None

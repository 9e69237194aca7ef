"""Topics: each one the service produces or consumes, and its DLQ, created before use.

Public surface: :func:`ensure_topics`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from fireline_contracts import TopicSpec, dlq_name, topic_name
from fireline_runtime.kafka_security import KafkaSecurity
from fireline_runtime.messaging.producing import server_list


async def ensure_topics(
    bootstrap_servers: str,
    specs: Sequence[TopicSpec],
    *,
    prefix: str,
    partitions: int,
    replication: int = 1,
    min_insync_replicas: int = 1,
    security: KafkaSecurity | None = None,
) -> None:
    """Create topics (and their DLQs) explicitly; existing ones are left as they are.

    ``min.insync.replicas`` is set on every topic rather than left to the broker's default:
    with ``acks=all`` it is what makes an acknowledged event survive a broker's loss, and a
    deployment must not depend on how each broker happens to be configured.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=server_list(bootstrap_servers),
        **(security or KafkaSecurity()).client_options(),
    )
    await admin.start()
    try:
        isr = {"min.insync.replicas": str(min(min_insync_replicas, replication))}
        wanted: list[NewTopic] = []
        for spec in specs:
            name = topic_name(spec, prefix)
            configs = {**isr, **({"cleanup.policy": "compact"} if spec.compacted else {})}
            wanted.append(NewTopic(name, partitions, replication, topic_configs=configs))
            wanted.append(NewTopic(dlq_name(name), 1, replication, topic_configs=isr))
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            await admin.create_topics(missing)
        await _until_led(admin, {t.name: t.num_partitions for t in wanted})
    finally:
        await admin.close()


async def _until_led(
    admin: AIOKafkaAdminClient, wanted: dict[str, int], *, timeout_s: float = 30.0
) -> None:
    """Return once every topic in ``wanted`` has its partitions, each with a leader.

    A consumer that joins its group while a just-created topic is still electing leaders sees
    the topic without partitions, is assigned none of it and only looks again at its next
    metadata refresh: on a busy three-broker cluster, every alert waited minutes for that.
    Raises TimeoutError (the caller retries the whole connection) if leaders never come.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics(list(wanted))
        led = {
            topic["topic"]
            for topic in described
            if topic["error_code"] == 0
            and len(topic["partitions"]) >= wanted.get(topic["topic"], 1)
            and all(p["leader"] >= 0 for p in topic["partitions"])
        }
        if led >= wanted.keys():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without leaders: {sorted(wanted.keys() - led)}")
        await asyncio.sleep(0.2)

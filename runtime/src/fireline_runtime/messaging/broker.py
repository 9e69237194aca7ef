"""The broker connection of one service: a FastStream ``KafkaBroker``.

It hosts the service's one consumer (``messaging.consuming``) and the dead-letter producer
(``messaging.dead_letter``), and describes both, with the topics the service produces through
its outbox, in the AsyncAPI document at ``/asyncapi.json``.

Public surface: :func:`build_broker`, :func:`document_publisher`, :func:`asyncapi_document`.
"""

from __future__ import annotations

import logging
from typing import Any, Union

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.specification import AsyncAPI

from fireline_contracts import TopicSpec
from fireline_runtime import tracing
from fireline_runtime.kafka_security import KafkaSecurity
from fireline_runtime.messaging.producing import server_list


def build_broker(
    *, service: str, bootstrap_servers: str, security: KafkaSecurity, idempotence: bool = True
) -> KafkaBroker:
    return KafkaBroker(
        server_list(bootstrap_servers),
        client_id=f"fireline-{service}",
        security=security.faststream(),
        # The DLQ producer: acks from every in-sync replica, and idempotent where the broker
        # supports it (Apache Kafka; not Tansu), so a retried send never writes twice.
        enable_idempotence=idempotence,
        acks="all",
        # A backstop to ensure_topics' wait for leaders: a consumer that still saw one of its
        # topics without partitions is assigned them at the next refresh, 30 s rather than
        # aiokafka's 5 min later. One metadata request per client every 30 s.
        metadata_max_age_ms=30_000,
        apply_types=False,
        logger=logging.getLogger(f"fireline.{service}.broker"),
        log_level=logging.DEBUG,
        description=f"Fireline {service} service",
        # Spans for consumed batches and for the DLQ producer, with W3C headers on what it
        # sends; only while tracing is on (tracing.py), so an untraced service pays nothing.
        middlewares=(KafkaTelemetryMiddleware(),) if tracing.enabled() else (),
    )


def document_publisher(broker: KafkaBroker, topic: str, spec: TopicSpec) -> None:
    """Declare a topic this service produces (through the outbox) for the AsyncAPI document."""
    broker.publisher(
        topic,
        schema=Union[spec.events],  # noqa: UP007
        title=f"{topic}:publish",
        description=spec.description,
    )


def asyncapi_document(broker: KafkaBroker, *, title: str, version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document FastStream generates from the broker's subscribers and
    publishers."""
    spec = AsyncAPI(broker, title=title, version=version).to_specification()
    document: dict[str, Any] = spec.to_jsonable()
    return document

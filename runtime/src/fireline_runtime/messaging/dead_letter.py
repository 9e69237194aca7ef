"""The dead-letter topic: where a record goes that its handler can never apply.

Public surface: :class:`DeadLetters`, whose :meth:`~DeadLetters.send` writes a record to
``<topic>.dlq`` unchanged (value and key), with why in ``x-dlq-*`` headers, and counts it in
``fireline_events_dead_lettered_total``. The consumer (``messaging.consuming``) decides when: a
record that does not parse or lacks a required signature at once, a handler that keeps failing
after its retries.
"""

from __future__ import annotations

import logging
import traceback

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

from fireline_contracts import dlq_name
from fireline_runtime.observability import Metrics

# The consumer path's lines share one logger name, which operators and tests filter on.
log = logging.getLogger("fireline_runtime.messaging")


def dlq_headers(
    consumer: str, record: ConsumerRecord[bytes, bytes], exc: BaseException, *, attempts: int
) -> dict[str, str]:
    """Why ``record`` was dead-lettered, and where it came from, for whoever replays it."""
    return {
        "x-dlq-error": repr(exc)[:2000],
        "x-dlq-error-type": type(exc).__name__,
        "x-dlq-traceback": "".join(traceback.format_exception(exc))[-4000:],
        "x-dlq-consumer": consumer,
        "x-dlq-attempts": str(attempts),
        "x-dlq-original-topic": record.topic,
        "x-dlq-original-partition": str(record.partition),
        "x-dlq-original-offset": str(record.offset),
    }


class DeadLetters:
    """Sends records to their topic's DLQ through the broker's producer (acks from every
    in-sync replica, idempotent where the broker supports it: ``messaging.broker``)."""

    def __init__(self, broker: KafkaBroker, metrics: Metrics) -> None:
        self._broker = broker
        self._metrics = metrics

    async def send(
        self,
        consumer: str,
        record: ConsumerRecord[bytes, bytes],
        exc: BaseException,
        *,
        attempts: int,
    ) -> None:
        """Publish ``record`` to its DLQ; raises if the broker does not acknowledge it, so the
        caller commits no offset and the record comes back."""
        topic = record.topic
        headers = dlq_headers(consumer, record, exc, attempts=attempts)
        # The log line names the error type only: a validation error's text quotes the input,
        # which may hold a key digest. The full error travels in the DLQ headers.
        log.error(
            "message sent to the dead-letter topic",
            extra={"consumer": consumer, "topic": topic, "error_type": type(exc).__name__},
        )
        await self._broker.publish(
            record.value or b"", dlq_name(topic), key=record.key, headers=headers
        )
        self._metrics.dead_lettered.labels(consumer).inc()

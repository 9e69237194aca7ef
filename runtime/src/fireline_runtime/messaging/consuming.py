"""Batch consuming: the one consumer of a service, applying its registered handlers.

Every consumer follows one recipe (docs/architecture.md, "Reliability rules"):

* every subscriber has the service's group id and commits its offsets only after the handlers'
  database transactions committed, in the background and at most every commit interval
  (``messaging.offsets``); an exception rewinds the fetch's partitions, which re-delivers it;
* records arrive in batches: a fetch's records of one topic (each partition's in order) are
  first applied together in one transaction, and one by one (a transaction each, in order) only
  if that fails; the fetch's topics run concurrently. A crash re-delivers what was applied since
  the last offset commit, and the inbox turns it into no-ops;
* the handler runs in one transaction with an inbox claim, so a redelivery changes nothing;
  a handler that reads a whole topic for a few kinds of event may ``triage`` the rest away
  (no transaction, no inbox row) and take events its own writes make idempotent without a claim;
* a message that cannot be parsed goes straight to ``<topic>.dlq``; a handler that keeps failing
  goes there after ``max_retries`` retries (``messaging.dead_letter``), and the partition moves
  on;
* database outages are not the message's fault: they are waited out, never dead-lettered.

Public surface: :class:`BatchConsumer` (``subscribe``, ``lag``, ``stop_consuming``,
``stopping``) and :data:`MAX_BATCH`. What it consumes comes from the service's
``ConsumerRegistry``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Union

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from pydantic import ValidationError

from fireline_contracts import EventEnvelope, parse_event
from fireline_runtime import correlation, inbox, outbox, tracing
from fireline_runtime.consumers import (
    ConsumerRegistry,
    ConsumerState,
    EventHandler,
    Treatment,
)
from fireline_runtime.db import TRANSIENT_DB_ERRORS
from fireline_runtime.kafka_acls import group_id
from fireline_runtime.messaging.dead_letter import DeadLetters
from fireline_runtime.messaging.offsets import COMMIT_INTERVAL_S, OffsetCommitter
from fireline_runtime.observability import Metrics
from fireline_runtime.outbox import deferred_wake

# The consumer path's lines share one logger name, which operators and tests filter on.
log = logging.getLogger("fireline_runtime.messaging")

MAX_BATCH = 200
"""Records handed over per fetch; bounds how much a crash re-delivers (the inbox drops it)."""

STOP_COMMIT_TIMEOUT_S = 5.0
"""The longest a stopping consumer waits to commit what it applied."""

PREFETCH_HOLD_S = 3600.0
"""How long aiokafka may keep a partition's fetched records unconsumed before it fetches the
other partitions on their own (its ``prefetch_backoff``; see :func:`_fetch_whole_assignment`)."""


class BatchConsumer:
    """One group member subscribed to every topic the service consumes, on ``broker``."""

    def __init__(
        self,
        *,
        registry: ConsumerRegistry,
        broker: KafkaBroker,
        dead_letters: DeadLetters,
        pool_getter: Callable[[], asyncpg.Pool],
        metrics: Metrics,
        session_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 500,
        commit_interval_s: float = COMMIT_INTERVAL_S,
        max_retries: int = 3,
        retry_backoff_s: float = 0.2,
    ) -> None:
        self.service = registry.service
        self.group_id = group_id(registry.service, registry.prefix)  # the ACLs grant it alone
        self._registry = registry
        # The registry's own dicts: registration ends before the first record arrives.
        self._by_topic = registry.by_topic
        self._verifiers = registry.verifiers
        self.states = registry.states
        self._broker = broker
        self._dead_letters = dead_letters
        self._pool_getter = pool_getter
        self._metrics = metrics
        self._session_timeout_ms = session_timeout_ms
        # At least 1 ms: getmany(timeout_ms=0) returns without awaiting, and _fetch would spin.
        self._fetch_max_wait_ms = max(fetch_max_wait_ms, 1)
        self._max_retries = max_retries
        self._retry_backoff_s = retry_backoff_s
        self._subscribed = False
        self._subscriber: Any = None
        self._offsets = OffsetCommitter(interval_s=commit_interval_s)
        self.stopping = False
        """Set at shutdown (:meth:`stop_consuming`): a database error then gives the record
        back instead of waiting."""

    async def stop_consuming(self) -> None:
        """Shutdown begins: commit what was applied, and commit at once after the handler in
        flight, before the broker's consumer stops. Bounded: with the broker away, aiokafka
        would retry a commit for as long as it stays away."""
        self.stopping = True
        await self._commit_before_stop()

    async def _commit_before_stop(self) -> None:
        # Bounded: what is not committed is re-delivered, and the inbox drops it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._offsets.close(), STOP_COMMIT_TIMEOUT_S)

    async def _rewind(self, message: StreamMessage[Any]) -> None:
        """``nack``: each partition of the fetch back to its first record. A partition revoked
        meanwhile cannot be rewound (aiokafka refuses), and need not be: its next owner starts
        from the last committed offset. The handler's own error is the one that propagates."""
        try:
            await message.nack()
        except Exception:
            log.warning("fetch not rewound", exc_info=True)

    def subscribe(self) -> None:
        """One FastStream subscriber (one group member) for every topic the service consumes.

        A member per topic in one group would make every member's join rebalance all the others,
        and start-up would wait on a chain of rebalances; one member subscribed to all of the
        service's topics joins once. Messages are dispatched to their topic's handler.
        """
        if self._subscribed:
            return
        self._subscribed = True
        self._registry.close()
        handlers = self._registry.handlers
        if not handlers:
            return

        async def on_message(message: StreamMessage[Any]) -> None:
            records: tuple[ConsumerRecord[bytes, bytes], ...] = message.raw_message
            # One transaction per topic, not per partition: the fixed costs of a batch (BEGIN,
            # COMMIT and its WAL flush, one statement per table) were paid once per partition,
            # and a storm's partitions of one org serialise on its incident counter anyway. A
            # partition's records keep their order within the topic's list.
            topics: dict[str, list[ConsumerRecord[bytes, bytes]]] = {}
            for record in records:
                topics.setdefault(record.topic, []).append(record)
            # One record at a time would pay a broker round trip (the offset commit) per event;
            # under a steady 200 alerts/s that queue grew without bound (BENCHMARKS.md). A task
            # group: if one topic's batch fails, the others stop too and the whole fetch comes
            # back (nack), to be deduplicated. The fetch's outbox writes wake the relay once,
            # after all of them committed.
            try:
                async with deferred_wake(self._pool_getter()), asyncio.TaskGroup() as group:
                    for in_order in topics.values():
                        group.create_task(self._consume_in_order(in_order))
            except Exception:
                # Every partition of the fetch goes back to its first record, to be fetched
                # again: nothing of it is committed past.
                await self._rewind(message)
                raise
            self._offsets.applied(records)
            if self.stopping:
                await self._commit_before_stop()  # the consumer stops once this returns

        # The annotation only feeds the AsyncAPI document: handlers parse bytes themselves so a
        # poison message reaches the DLQ instead of failing inside the framework forever.
        events = tuple(e for h in handlers for e in h.topic.events)
        on_message.__annotations__["message"] = Union[events]  # noqa: UP007
        on_message.__name__ = f"{self.service.replace('-', '_')}_consumer"
        self._subscriber = self._broker.subscriber(
            *self._by_topic,
            group_id=self.group_id,
            batch=True,
            max_records=MAX_BATCH,
            batch_timeout_ms=self._fetch_max_wait_ms,
            # Offsets are committed by ``self._offsets``, off the consuming path.
            ack_policy=AckPolicy.MANUAL,
            listener=self._offsets.listener(),
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 4, 250),
            max_poll_interval_ms=300_000,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            decoder=_raw_message,
            title=f"{self.group_id}:consume",
            description="; ".join(
                f"{h.name}: {h.description}" if h.description else h.name for h in handlers
            ),
        )
        self._subscriber(on_message)
        # FastStream's batch subscriber sleeps batch_timeout_ms again after a fetch came back
        # empty, on top of getmany's own wait for data: after an idle half-second, the next
        # record sat up to 500 ms more at every consuming hop, and a quiet system's first alert
        # is the one that matters. Fetch again at once instead.
        self._subscriber.get_msg = self._fetch

    async def _fetch(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[bytes, bytes], ...]:
        if consumer is not self._offsets.consumer:  # a reconnection makes a new one
            _fetch_whole_assignment(consumer)
            self._offsets.consumer = consumer
        batches = await consumer.getmany(timeout_ms=self._fetch_max_wait_ms, max_records=MAX_BATCH)
        return tuple(record for batch in batches.values() for record in batch)

    async def lag(self) -> list[tuple[str, int, int]]:
        """(topic, partition, records not fetched yet) for each partition assigned here.

        From what the consumer already knows (the high watermark of its last fetch and its
        position), so a scrape costs no broker round trip.
        """
        consumer = getattr(self._subscriber, "consumer", None)
        if consumer is None:
            return []
        lags = []
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue  # nothing fetched from it yet
            position = await consumer.position(tp)
            lags.append((tp.topic, tp.partition, max(highwater - position, 0)))
        return lags

    def _parse(self, handler: EventHandler, record: ConsumerRecord[bytes, bytes]) -> EventEnvelope:
        """The record's event; a ``ValueError`` if it does not parse or lacks a required
        signature."""
        raw = record.value or b""
        verifier = self._verifiers.get(handler.topic.name)
        if verifier is not None:
            verifier.verify(handler.topic, raw, record.headers)
        return parse_event(raw, spec=handler.topic)

    async def _consume_in_order(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        # A lone record too: together, its inbox claim and outbox rows are one statement each.
        if await self._consume_together(records):
            return
        partitions: dict[int, list[ConsumerRecord[bytes, bytes]]] = {}
        for record in records:
            partitions.setdefault(record.partition, []).append(record)
        if len(partitions) > 1:
            # One partition's poison record or failing handler must not send the others down
            # the slow path, nor hold them through its retries: each tries again on its own.
            async with asyncio.TaskGroup() as group:
                for in_order in partitions.values():
                    group.create_task(self._consume_in_order(in_order))
            return
        for record in records:
            handler = self._by_topic[record.topic]
            await self._consume(handler, record, self.states[handler.name])

    async def _consume_together(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Apply a topic's records (each partition's in order) in one transaction; False, with
        nothing applied, if any of them fails, and the caller then takes them one by one
        (retries, dead letters).

        Each record's own transaction cost a commit (a WAL flush), and the incidents service
        serialises one org's starts on a lock held until that commit: at 200 alerts/s the
        consumer fell behind and latency grew (BENCHMARKS.md). One commit per batch keeps it
        ahead. The inbox still records every event, so a redelivered batch changes nothing.
        """
        started = time.perf_counter()
        parsed: list[tuple[EventHandler, EventEnvelope]] = []
        for record in records:
            handler = self._by_topic[record.topic]
            try:
                parsed.append((handler, self._parse(handler, record)))
            except (ValidationError, ValueError):
                return False  # a poison record: the one-by-one path dead-letters it
        handler = parsed[0][0]  # the records are of one topic, so of one handler
        events = [event for _, event in parsed]
        try:
            treatments = [_treatment(handler, event) for event in events]
        except Exception:
            return False  # the one-by-one path dead-letters the record its triage refuses
        if all(treatment == "ignore" for treatment in treatments):
            # Nothing to write, so nothing to make atomic: no connection, no BEGIN and COMMIT.
            self._settle(handler, events, treatments, [False] * len(events), started)
            return True
        try:
            async with (
                self._pool_getter().acquire() as conn,
                conn.transaction(),
                outbox.batched(conn),
            ):
                once = [e.event_id for e, t in zip(events, treatments, strict=True) if t == "once"]
                claimed = (
                    await inbox.claim_many(
                        conn, consumer=handler.name, event_ids=once, topic=records[0].topic
                    )
                    if once
                    else set()
                )
                fresh = _to_apply(events, treatments, claimed)
                todo = [event for event, new in zip(events, fresh, strict=True) if new]
                if handler.handle_batch is not None and not tracing.enabled():
                    if todo:
                        await handler.handle_batch(conn, todo)
                else:
                    # Traced, every event is handled in a span of its own, continuing the trace
                    # of the request that caused it.
                    for event, record in zip(todo, _fresh(records, fresh), strict=True):
                        correlation.set_(event.correlation_id)
                        with _span(record):
                            await handler.handle(conn, event)
        except Exception as exc:
            log.info(
                "batch not applied together; applying its events one by one",
                extra={"records": len(records), "error_type": type(exc).__name__},
                exc_info=True,
            )
            return False
        self._settle(handler, events, treatments, fresh, started)
        return True

    def _settle(
        self,
        handler: EventHandler,
        events: Sequence[EventEnvelope],
        treatments: Sequence[Treatment],
        fresh: Sequence[bool],
        started: float,
    ) -> None:
        share = (time.perf_counter() - started) / len(events)
        for event, treatment, new in zip(events, treatments, fresh, strict=True):
            outcome: _Outcome = (
                "ignored" if treatment == "ignore" else "applied" if new else "duplicate"
            )
            self._committed(handler, event, outcome, seconds=share)

    def _committed(
        self, handler: EventHandler, event: EventEnvelope, outcome: _Outcome, *, seconds: float
    ) -> None:
        """Bookkeeping once an event's transaction committed (applied, or a duplicate), or once
        it was triaged away."""
        if log.isEnabledFor(logging.DEBUG):
            correlation.set_(event.correlation_id)
            log.debug(
                f"event {outcome}",
                extra={
                    "consumer": handler.name,
                    "event_type": event.event_type,
                    "event_id": str(event.event_id),
                },
            )
        state = self.states[handler.name]
        metrics = self._metrics
        if outcome == "applied":
            state.processed += 1
            if handler.after_commit is not None:
                handler.after_commit(event)
            metrics.labelled(metrics.event_end_to_end, handler.name, event.event_type).observe(
                (datetime.now(UTC) - event.occurred_at).total_seconds()
            )
        elif outcome == "duplicate":
            state.duplicates += 1
        else:
            state.ignored += 1
        metrics.labelled(metrics.consumed, handler.name, _METRIC_OUTCOMES[outcome]).inc()
        metrics.labelled(metrics.consume_seconds, handler.name).observe(seconds)

    async def _consume(
        self, handler: EventHandler, record: ConsumerRecord[bytes, bytes], state: ConsumerState
    ) -> None:
        # Retries and a dead letter included: all of one record's fate is in its span.
        with _span(record):
            await self._consume_one(handler, record, state)

    async def _consume_one(
        self, handler: EventHandler, record: ConsumerRecord[bytes, bytes], state: ConsumerState
    ) -> None:
        topic = record.topic
        try:
            event = self._parse(handler, record)
        except (ValidationError, ValueError) as exc:
            await self._dead_letters.send(handler.name, record, exc, attempts=0)
            state.dead_lettered += 1
            return
        correlation.set_(event.correlation_id)
        try:
            treatment = _treatment(handler, event)
        except Exception as exc:  # a triage bug must not wedge the partition: set it aside
            await self._dead_letters.send(handler.name, record, exc, attempts=0)
            state.dead_lettered += 1
            return
        if treatment == "ignore":
            self._committed(handler, event, "ignored", seconds=0.0)
            return
        attempt = 0
        db_wait = self._retry_backoff_s
        while True:
            started = time.perf_counter()
            try:
                async with self._pool_getter().acquire() as conn, conn.transaction():
                    fresh = treatment == "idempotent" or await inbox.claim(
                        conn, consumer=handler.name, event_id=event.event_id, topic=topic
                    )
                    if fresh:
                        await handler.handle(conn, event)
                outcome: _Outcome = "applied" if fresh else "duplicate"
                self._committed(handler, event, outcome, seconds=time.perf_counter() - started)
                return
            except TRANSIENT_DB_ERRORS as exc:
                if self.stopping:
                    raise  # not committed: the next owner of the partition re-delivers it
                log.warning(
                    "database unavailable while consuming; waiting",
                    extra={"consumer": handler.name, "error": repr(exc)},
                )
                await asyncio.sleep(db_wait)
                db_wait = min(db_wait * 2, 5.0)
            except Exception as exc:
                attempt += 1
                self._metrics.consumed.labels(handler.name, "error").inc()
                if attempt > self._max_retries:
                    await self._dead_letters.send(handler.name, record, exc, attempts=attempt)
                    state.dead_lettered += 1
                    return
                log.warning(
                    "handler failed; retrying",
                    extra={
                        "consumer": handler.name,
                        "attempt": attempt,
                        "error_type": type(exc).__name__,
                    },
                )
                await asyncio.sleep(self._retry_backoff_s * 2 ** (attempt - 1))


_Outcome = Literal["applied", "duplicate", "ignored"]
_METRIC_OUTCOMES: dict[_Outcome, str] = {
    "applied": "ok",
    "duplicate": "duplicate",
    "ignored": "ignored",
}


def _treatment(handler: EventHandler, event: EventEnvelope) -> Treatment:
    return "once" if handler.triage is None else handler.triage(event)


def _to_apply(
    events: Sequence[EventEnvelope], treatments: Sequence[Treatment], claimed: set[Any]
) -> list[bool]:
    """Which of ``events`` to apply, each id once (its first copy): those just claimed, and
    those the handler applies idempotently; never those it ignores."""
    fresh = []
    seen: set[Any] = set()
    for event, treatment in zip(events, treatments, strict=True):
        if treatment == "once":
            fresh.append(event.event_id in claimed)
            claimed.discard(event.event_id)
        else:
            fresh.append(treatment == "idempotent" and event.event_id not in seen)
            seen.add(event.event_id)
    return fresh


def _fresh(
    records: Sequence[ConsumerRecord[bytes, bytes]], fresh: Sequence[bool]
) -> list[ConsumerRecord[bytes, bytes]]:
    return [record for record, new in zip(records, fresh, strict=True) if new]


def _span(record: ConsumerRecord[bytes, bytes]) -> Any:
    """The span one record is handled in (tracing.consuming); a shared no-op while off."""
    if not tracing.enabled():
        return tracing.NO_SPAN  # checked first: the attributes below cost per record
    return tracing.consuming(
        record.topic,
        record.headers,
        **{
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        },
    )


async def _raw_message(message: StreamMessage[Any]) -> StreamMessage[Any]:
    # Hand the whole batch (records with body, key, partition, offset) to the handler undecoded.
    return message


def _fetch_whole_assignment(consumer: AIOKafkaConsumer) -> None:
    """Make aiokafka fetch every assigned partition together, once the last fetch is taken.

    aiokafka sends one fetch at a time to a broker, and leaves out the partitions whose fetched
    records are not consumed yet. After 0.1 s (its ``prefetch_backoff``) it fetches the other
    partitions alone. While a batch was being handled, that fetch asked only for the quiet
    topics — the keys topic during an alert storm — and waited up to ``fetch_max_wait_ms`` on
    the broker for records that never came. Meanwhile the busy partitions, their records taken,
    could not be fetched: alerts waited up to 500 ms at the incidents hop (BENCHMARKS.md).

    This consumer takes whatever is buffered, of every partition, in each fetch call (up to
    ``MAX_BATCH``; the rest in the next calls), so fetching some partitions early gains it
    little. With the hold raised, the next fetch to a broker goes out once that broker's
    buffered records are taken, for all its partitions of the assignment, and Apache Kafka
    answers it as soon as any of them has data. aiokafka takes the setting only in ``Fetcher``'s
    constructor, so it is set on the consumer's fetcher; a version without it is only logged.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_prefetch_backoff"):
        log.warning(
            "aiokafka's fetcher has no prefetch_backoff: a busy partition may wait for a quiet "
            "one's fetch",
            extra={"aiokafka_fetcher": type(fetcher).__name__},
        )
        return
    fetcher._prefetch_backoff = PREFETCH_HOLD_S

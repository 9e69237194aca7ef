"""Kafka wiring: topic creation, the relay's producer, and idempotent consumers with a DLQ.

Consumers follow one recipe (docs/architecture.md, "Reliability rules"):

* every subscriber has the service's group id and commits its offsets only after the handlers'
  database transactions committed (FastStream ``NACK_ON_ERROR``: an exception re-delivers);
* records arrive in batches: a partition's records are first applied together in one
  transaction, and one by one (a transaction each, in order) only if that fails; the batch's
  partitions run concurrently and the offsets are committed once per batch. A crash mid-batch
  re-delivers the whole batch, and the inbox turns what was already applied into no-ops;
* the handler runs in one transaction with an inbox claim, so a redelivery changes nothing;
  a handler that reads a whole topic for a few kinds of event may ``triage`` the rest away
  (no transaction, no inbox row) and take events its own writes make idempotent without a claim;
* a message that cannot be parsed goes straight to ``<topic>.dlq``; a handler that keeps failing
  goes there after ``max_retries`` retries, with the error in headers, and the partition moves on;
* database outages are not the message's fault: they are waited out, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Union

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.message import StreamMessage
from faststream.specification import AsyncAPI
from pydantic import ValidationError

from fireline_contracts import EventEnvelope, TopicSpec, dlq_name, parse_event, topic_name
from fireline_runtime import correlation, inbox, outbox, tracing
from fireline_runtime.db import TRANSIENT_DB_ERRORS, Connection
from fireline_runtime.event_signing import EventVerifier
from fireline_runtime.kafka_acls import group_id
from fireline_runtime.kafka_security import KafkaSecurity
from fireline_runtime.observability import Metrics
from fireline_runtime.outbox import deferred_wake

log = logging.getLogger(__name__)

Handle = Callable[[Connection, EventEnvelope], Awaitable[None]]
HandleBatch = Callable[[Connection, Sequence[EventEnvelope]], Awaitable[None]]
AfterCommit = Callable[[EventEnvelope], None]
Treatment = Literal["once", "idempotent", "ignore"]
Triage = Callable[[EventEnvelope], Treatment]

MAX_BATCH = 200
"""Records handed over per fetch; bounds how much a crash re-delivers (the inbox drops it)."""


@dataclass(frozen=True)
class EventHandler:
    """A consumer of one topic: ``handle`` runs inside the inbox transaction."""

    name: str
    topic: TopicSpec
    handle: Handle
    after_commit: AfterCommit | None = None
    description: str = ""
    handle_batch: HandleBatch | None = None
    """Applies a partition's fresh events together, set-based, in the batch's transaction; it
    must leave the same state as ``handle`` called on each in order. Without it, ``handle``
    runs once per event inside that one transaction."""
    triage: Triage | None = None
    """How each event is taken; every one ``once`` without it.

    ``once``: claimed in the inbox with the handler's writes, so a redelivery is skipped.
    ``idempotent``: handed over without an inbox row; the handler's own writes must make a
    second application change nothing (``ON CONFLICT DO NOTHING`` on a natural key), and it
    must publish nothing. ``ignore``: acknowledged with no transaction, no inbox row and no
    call, and no ``after_commit``. An inbox row is a write, a WAL record and a row kept for
    ever (the inbox is never pruned), all to make a second application a no-op; an event the
    handler ignores, or applies idempotently anyway, gains nothing from it."""


@dataclass
class ConsumerState:
    """What /readyz and tests want to know about a running consumer."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    ignored: int = 0


class Messaging:
    """Owns the FastStream broker of one service and the consumers registered on it."""

    def __init__(
        self,
        *,
        service: str,
        bootstrap_servers: str,
        topic_prefix: str,
        pool_getter: Callable[[], asyncpg.Pool],
        metrics: Metrics,
        session_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 500,
        idempotence: bool = True,
        max_retries: int = 3,
        retry_backoff_s: float = 0.2,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.service = service
        self.security = security or KafkaSecurity()
        self.group_id = group_id(service, topic_prefix)  # the ACLs grant this group alone
        self.bootstrap_servers = server_list(bootstrap_servers)
        self.prefix = topic_prefix
        self._pool_getter = pool_getter
        self._metrics = metrics
        self._session_timeout_ms = session_timeout_ms
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._max_retries = max_retries
        self._retry_backoff_s = retry_backoff_s
        self.broker = KafkaBroker(
            self.bootstrap_servers,
            client_id=f"fireline-{service}",
            security=self.security.faststream(),
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
        self.handlers: list[EventHandler] = []
        self.states: dict[str, ConsumerState] = {}
        self._by_topic: dict[str, EventHandler] = {}
        self._verifiers: dict[str, EventVerifier] = {}
        self._registered = False
        self._stopping = False
        self._subscriber: Any = None

    # -- topics ---------------------------------------------------------------------------------

    def topic(self, spec: TopicSpec) -> str:
        return topic_name(spec, self.prefix)

    async def ensure_topics(
        self,
        specs: Sequence[TopicSpec],
        *,
        partitions: int,
        replication: int = 1,
        min_insync_replicas: int = 1,
    ) -> None:
        """Create topics (and their DLQs) explicitly; existing ones are left as they are.

        ``min.insync.replicas`` is set on every topic rather than left to the broker's default:
        with ``acks=all`` it is what makes an acknowledged event survive a broker's loss, and a
        deployment must not depend on how each broker happens to be configured.
        """
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, **self.security.client_options()
        )
        await admin.start()
        try:
            isr = {"min.insync.replicas": str(min(min_insync_replicas, replication))}
            wanted: list[NewTopic] = []
            for spec in specs:
                configs = {**isr, **({"cleanup.policy": "compact"} if spec.compacted else {})}
                wanted.append(
                    NewTopic(self.topic(spec), partitions, replication, topic_configs=configs)
                )
                wanted.append(
                    NewTopic(dlq_name(self.topic(spec)), 1, replication, topic_configs=isr)
                )
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t.name not in existing]
            if missing:
                await admin.create_topics(missing)
            await _until_led(admin, {t.name: t.num_partitions for t in wanted})
        finally:
            await admin.close()

    def document_publisher(self, spec: TopicSpec) -> None:
        """Declare a topic this service produces (through the outbox) for the AsyncAPI document."""
        self.broker.publisher(
            self.topic(spec),
            schema=Union[spec.events],  # noqa: UP007
            title=f"{self.topic(spec)}:publish",
            description=spec.description,
        )

    def asyncapi(self, *, title: str, version: str) -> dict[str, Any]:
        """This service's AsyncAPI 3.0 document, generated by FastStream from its subscribers."""
        self._register()
        spec = AsyncAPI(self.broker, title=title, version=version).to_specification()
        document: dict[str, Any] = spec.to_jsonable()
        return document

    # -- consumers ------------------------------------------------------------------------------

    def subscribe(self, handler: EventHandler) -> None:
        """Register a handler; all of a service's handlers share one consumer (see _register)."""
        if self._registered:
            raise RuntimeError("handlers must be registered before the broker starts")
        topic = self.topic(handler.topic)
        if topic in self._by_topic:
            raise ValueError(f"{topic} already has a handler in {self.service}")
        self._by_topic[topic] = handler
        self.states.setdefault(handler.name, ConsumerState())
        self.handlers.append(handler)
        # Exported at 0 from the start: an alert on a counter's increase needs the 0 before it.
        self._metrics.dead_lettered.labels(handler.name)

    def require_signature(self, spec: TopicSpec, verifier: EventVerifier) -> None:
        """Accept a record of ``spec`` only if its owner signed it (``event_signing``); any other
        is dead-lettered unapplied, as a record that does not parse is."""
        self._verifiers[spec.name] = verifier

    def _parse(self, handler: EventHandler, record: ConsumerRecord[bytes, bytes]) -> EventEnvelope:
        """The record's event; a ``ValueError`` if it does not parse or lacks a required
        signature."""
        raw = record.value or b""
        verifier = self._verifiers.get(handler.topic.name)
        if verifier is not None:
            verifier.verify(handler.topic, raw, record.headers)
        return parse_event(raw, spec=handler.topic)

    def _register(self) -> None:
        """One FastStream subscriber (one group member) for every topic the service consumes.

        A member per topic in one group would make every member's join rebalance all the others,
        and start-up would wait on a chain of rebalances; one member subscribed to all of the
        service's topics joins once. Messages are dispatched to their topic's handler.
        """
        if self._registered or not self.handlers:
            self._registered = True
            return
        self._registered = True

        async def on_message(message: StreamMessage[Any]) -> None:
            records: tuple[ConsumerRecord[bytes, bytes], ...] = message.raw_message
            partitions: dict[tuple[str, int], list[ConsumerRecord[bytes, bytes]]] = {}
            for record in records:
                partitions.setdefault((record.topic, record.partition), []).append(record)
            # One record at a time would pay a broker round trip (the offset commit) per event
            # and leave every partition but one idle; under a steady 200 alerts/s that queue
            # grew without bound (BENCHMARKS.md). A task group: if one partition fails, the
            # others stop too and the whole batch comes back (nack), to be deduplicated. The
            # batch's outbox writes wake the relay once, after all of them committed.
            async with deferred_wake(self._pool_getter()), asyncio.TaskGroup() as group:
                for in_order in partitions.values():
                    group.create_task(self._consume_in_order(in_order))

        # The annotation only feeds the AsyncAPI document: handlers parse bytes themselves so a
        # poison message reaches the DLQ instead of failing inside the framework forever.
        events = tuple(e for h in self.handlers for e in h.topic.events)
        on_message.__annotations__["message"] = Union[events]  # noqa: UP007
        on_message.__name__ = f"{self.service.replace('-', '_')}_consumer"
        self._subscriber = self.broker.subscriber(
            *self._by_topic,
            group_id=self.group_id,
            batch=True,
            max_records=MAX_BATCH,
            batch_timeout_ms=self._fetch_max_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 4, 250),
            max_poll_interval_ms=300_000,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            decoder=_raw_message,
            title=f"{self.group_id}:consume",
            description="; ".join(
                f"{h.name}: {h.description}" if h.description else h.name for h in self.handlers
            ),
        )
        self._subscriber(on_message)

    async def _consume_in_order(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        # A lone record too: together, its inbox claim and outbox rows are one statement each.
        if await self._consume_together(records):
            return
        for record in records:
            handler = self._by_topic[record.topic]
            await self._consume(handler, record, self.states[handler.name])

    async def _consume_together(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """Apply a partition's records in one transaction; False, with nothing applied, if any
        of them fails, and the caller then takes them one by one (retries, dead letters).

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
        handler = parsed[0][0]  # a partition belongs to one topic, so to one handler
        events = [event for _, event in parsed]
        treatments = [_treatment(handler, event) for event in events]
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
        if outcome == "applied":
            state.processed += 1
            if handler.after_commit is not None:
                handler.after_commit(event)
            self._metrics.event_end_to_end.labels(handler.name, event.event_type).observe(
                (datetime.now(UTC) - event.occurred_at).total_seconds()
            )
        elif outcome == "duplicate":
            state.duplicates += 1
        else:
            state.ignored += 1
        self._metrics.consumed.labels(handler.name, _METRIC_OUTCOMES[outcome]).inc()
        self._metrics.consume_seconds.labels(handler.name).observe(seconds)

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
            await self._dead_letter(handler, record, exc, attempts=0)
            state.dead_lettered += 1
            return
        correlation.set_(event.correlation_id)
        treatment = _treatment(handler, event)
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
                if self._stopping:
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
                    await self._dead_letter(handler, record, exc, attempts=attempt)
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

    async def _dead_letter(
        self,
        handler: EventHandler,
        record: ConsumerRecord[bytes, bytes],
        exc: BaseException,
        *,
        attempts: int,
    ) -> None:
        topic = record.topic
        headers = {
            "x-dlq-error": repr(exc)[:2000],
            "x-dlq-error-type": type(exc).__name__,
            "x-dlq-traceback": "".join(traceback.format_exception(exc))[-4000:],
            "x-dlq-consumer": handler.name,
            "x-dlq-attempts": str(attempts),
            "x-dlq-original-topic": topic,
            "x-dlq-original-partition": str(record.partition),
            "x-dlq-original-offset": str(record.offset),
        }
        key = record.key
        # The log line names the error type only: a validation error's text quotes the input,
        # which may hold a key digest. The full error travels in the DLQ headers.
        log.error(
            "message sent to the dead-letter topic",
            extra={"consumer": handler.name, "topic": topic, "error_type": type(exc).__name__},
        )
        # Publishing must succeed before the offset moves on; if the broker is gone the exception
        # propagates, nothing is committed and the message comes back.
        await self.broker.publish(record.value or b"", dlq_name(topic), key=key, headers=headers)
        self._metrics.dead_lettered.labels(handler.name).inc()

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

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._register()
        await self.broker.start()

    async def stop(self) -> None:
        self._stopping = True
        await self.broker.stop()


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

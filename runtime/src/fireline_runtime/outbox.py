"""Transactional outbox: the writer used inside a use case's transaction, and the relay.

Ordering: rows of one Kafka key must reach the broker in commit order. The writer takes a
transaction-scoped advisory lock on (topic, key) before inserting, so two transactions writing the
same key serialise and their ``id`` order is their commit order. The relay then sends each key's
rows one after another (keys in parallel) and stops a key's chain at its first failure, so a later
row of that key is never published before an earlier one.

Delivery: a row is marked ``published_at`` (or deleted, with no retention) only after the broker
acknowledged it (acks=all), so a crash between send and mark re-sends it: at-least-once, and
consumers dedupe by ``event_id``.

Waking the relay: each write NOTIFYs, delivered at commit. PostgreSQL serialises the commits of
every transaction that notified, cluster-wide (a lock on the notification queue, held through the
WAL flush), so code that writes many transactions in a burst wraps them in :func:`deferred_wake`
and sends one NOTIFY after they committed. A statement that writes the rows of many requests at
once (ingest's receiver) sends none and wakes the relay after its commit through a
:class:`RelayWaker`. A wake that is lost (a crash in between) costs only latency: the relay also
polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import asyncpg
from aiokafka.partitioner import DefaultPartitioner

from fireline_contracts import EventEnvelope, TopicSpec, topic_name
from fireline_runtime import correlation, tracing
from fireline_runtime.db import TRANSIENT_DB_ERRORS, Connection
from fireline_runtime.event_signing import HEADER, EventSigner

_PARTITIONER = DefaultPartitioner()
"""aiokafka's default partitioner, the one ``send`` uses: a key's partition is the same either
way."""

log = logging.getLogger(__name__)


def key_for_partition(partition: int, partitions: int, stem: str) -> str:
    """A Kafka key that the producer's partitioner sends to ``partition`` of ``partitions``: how
    a row reaches a chosen partition through the outbox, which only knows keys."""
    if not 0 <= partition < partitions:
        raise ValueError(f"partition {partition} is not one of {partitions}")
    every = list(range(partitions))
    n = 0
    while True:
        key = f"{stem}-{partition}-{n}"
        if _PARTITIONER(key.encode(), every, every) == partition:
            return key
        n += 1


NOTIFY_CHANNEL = "fireline_outbox"
_RELAY_LOCK_KEY = 0x52454C41  # "RELA": one active relay per database
# A pass this large under the linger means rows are arriving at 16 per linger or faster (800/s at
# ingest's 20 ms): a burst, where CPU, not latency, limits what gets through. The next pass then
# lingers three times as long (see ``OutboxRelay._loop``).
_BURST_PASS_ROWS = 16
_BURST_LINGER_FACTOR = 3


# Set inside deferred_wake: the writes of its block record that a wake is due instead of sending it.
_deferred: ContextVar[list[bool] | None] = ContextVar("fireline_outbox_deferred", default=None)
Row = list[object]
"""One outbox row's values, as :meth:`OutboxWriter.row` captured them."""

# Set inside batched(): the writes of its block are queued here and inserted together at its end.
_queued: ContextVar[list[Row] | None] = ContextVar("fireline_outbox_queued", default=None)

# One round trip for all the steps: writers often hold other locks meanwhile (the incidents
# service holds its org's numbering lock), so each round trip here costs them. The row can only be
# inserted once the CTEs have run, so the per-key lock is taken first. A NOTIFY is delivered at
# commit, never for a rolled-back transaction: the relay wakes only for rows that exist.
_INSERT_AND_WAKE = """
    WITH key_lock AS (SELECT pg_advisory_xact_lock(hashtext($7))),
         wake AS (SELECT pg_notify($8, ''))
    INSERT INTO outbox (event_id, topic, kafka_key, event_type, payload, headers)
    SELECT $1, $2, $3, $4, $5, $6 FROM key_lock, wake
"""
_INSERT_QUIETLY = """
    WITH key_lock AS (SELECT pg_advisory_xact_lock(hashtext($7)))
    INSERT INTO outbox (event_id, topic, kafka_key, event_type, payload, headers)
    SELECT $1, $2, $3, $4, $5, $6 FROM key_lock
"""
# A consumer batch's rows in one statement. The keys' locks are taken first, in a fixed order
# (two batches sharing keys cannot deadlock), then the rows go in in the order they were queued:
# ids follow that order, so each key's rows keep the order the use cases wrote them in.
_INSERT_MANY_QUIETLY = """
    WITH key_locks AS (
        SELECT count(pg_advisory_xact_lock(hashtext(lock_key))) AS taken
        FROM (SELECT DISTINCT lock_key FROM unnest($7::text[]) AS lock_key ORDER BY 1) AS keys
    )
    INSERT INTO outbox (event_id, topic, kafka_key, event_type, payload, headers)
    SELECT event_id, topic, kafka_key, event_type, payload, headers::jsonb
    FROM key_locks,
         -- The headers as JSON text: asyncpg would take a list inside a jsonb[] for a sub-array.
         unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[])
             WITH ORDINALITY AS row (event_id, topic, kafka_key, event_type, payload, headers, n)
    ORDER BY n
"""


@asynccontextmanager
async def deferred_wake(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """Outbox writes in this block (and in tasks it starts) wake the relay once, at its end.

    Call it around work whose transactions have all committed by the time the block ends.
    """
    pending: list[bool] = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
        if pending:
            with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                async with pool.acquire() as conn:
                    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)


@asynccontextmanager
async def batched(conn: Connection) -> AsyncIterator[None]:
    """Outbox writes in this block (in this task) are inserted on ``conn`` in one statement when
    the block ends without an error, still inside the caller's transaction.

    A consumer batch of a hundred events wrote a hundred-odd rows, one round trip and one
    advisory lock each; together they cost one statement (BENCHMARKS.md, alert storms). If the
    block fails nothing is inserted, and the caller's transaction rolls back anyway.
    """
    queued: list[Row] = []
    token = _queued.set(queued)
    try:
        yield
    finally:
        _queued.reset(token)
    if queued:
        await _insert_many(conn, queued)


def row_columns(rows: Sequence[Row | None]) -> list[list[Any]]:
    """``rows`` as the seven arrays a set-based INSERT takes: event ids, topics, Kafka keys,
    event types, payloads, headers (JSON text) and the keys' lock names; a None row is NULL in
    each. A statement that writes its own rows together with their events (ingest's receiver)
    inserts these under the rules above: each key's advisory lock before its rows and ids in the
    rows' order; it wakes the relay after its commit (``RelayWaker``)."""
    columns: list[list[Any]] = [[] for _ in range(7)]
    for row in rows:
        for column, value in zip(columns, row or (None,) * 7, strict=True):
            column.append(value)
    columns[5] = [None if h is None else json.dumps(h) for h in columns[5]]
    return columns


async def _insert_many(conn: Connection, rows: list[Row]) -> None:
    await conn.execute(_INSERT_MANY_QUIETLY, *row_columns(rows))
    if _deferred.get() is None:
        await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)


class RelayWaker:
    """Wakes the database's active relay after rows were committed without a NOTIFY of their own
    (a statement that writes rows for many requests at once: ingest's receiver).

    A NOTIFY is not free: PostgreSQL serialises the commits of notifying transactions, and each
    notification costs every listening connection of the database a transaction to read it
    (the relay's, the caches'). When this process's relay is the active one it is woken in
    process, for nothing; otherwise one NOTIFY is in flight at a time, and the wakes asked for
    meanwhile are folded into one more after it, so none is lost and a burst sends few.

    ``relay.active`` may be stale for a moment when this relay's lock connection has just died:
    the wake then goes to a relay that stands down, and the replica that takes over finds the
    rows at its first pass or poll (latency only, never a lost row).
    """

    def __init__(
        self, pool: Callable[[], asyncpg.Pool], relay: Callable[[], OutboxRelay | None]
    ) -> None:
        self._pool = pool
        self._relay = relay
        self._sending: asyncio.Task[None] | None = None
        self._again = False

    def wake(self) -> None:
        relay = self._relay()
        if relay is not None and relay.active:
            relay.wake()
        elif self._sending is None:
            self._sending = asyncio.create_task(self._notify(), name="outbox-relay-wake")
        else:
            self._again = True

    async def sent(self) -> None:
        """Return once no NOTIFY is in flight: every wake asked for so far has gone out (or was
        lost with the database). A shutdown awaits it before it closes the pool."""
        while (sending := self._sending) is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(sending)

    async def _notify(self) -> None:
        try:
            while True:
                self._again = False
                # Lost only with the database (the relay's poll then finds the rows).
                with contextlib.suppress(*TRANSIENT_DB_ERRORS):
                    async with self._pool().acquire() as conn:
                        await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
                if not self._again:
                    return
        finally:
            self._sending = None


class OutboxWriter:
    """Adds events to the outbox on the caller's open transaction."""

    def __init__(self, topic_prefix: str = "") -> None:
        self._prefix = topic_prefix
        self._signers: dict[str, EventSigner] = {}

    def sign(self, spec: TopicSpec, signer: EventSigner) -> None:
        """Sign every row of ``spec`` from now on (the topics that grant access)."""
        self._signers[spec.name] = signer

    def row(self, spec: TopicSpec, event: EventEnvelope) -> Row:
        """The event's row, with the correlation id and trace context of the code emitting it
        (a unit of work inserts its rows later, when it commits)."""
        if event.correlation_id is None and (cid := correlation.get()) is not None:
            event = event.model_copy(update={"correlation_id": cid})
        topic = topic_name(spec, self._prefix)
        key = event.kafka_key
        value = event.to_bytes()
        headers = {
            "event_type": event.event_type,
            "correlation_id": event.correlation_id or "",
            "schema_version": str(event.schema_version),
            # The writing span's trace context: the relay sends the row later, outside any
            # request or event, and continues this trace from here (tracing.producing).
            **tracing.carrier(),
        }
        signer = self._signers.get(spec.name)
        if signer is not None:
            headers[HEADER] = signer.header(spec, value)
        return [event.event_id, topic, key, event.event_type, value, headers, self.lock(spec, key)]

    def lock(self, spec: TopicSpec, key: str) -> str:
        """The name of the advisory lock a row of ``spec`` with Kafka key ``key`` is inserted
        under: a statement that must serialise with those inserts (ingest's receiver, for a
        delivery it leaves to the worker) takes the same one."""
        return f"{topic_name(spec, self._prefix)}\n{key}"

    async def add(self, conn: Connection, spec: TopicSpec, event: EventEnvelope) -> None:
        await self.insert(conn, [self.row(spec, event)])

    async def insert(self, conn: Connection, rows: list[Row]) -> None:
        """Insert rows on ``conn``'s open transaction: one statement, however many."""
        if not rows:
            return
        deferred = _deferred.get()
        if deferred is not None:
            deferred.append(True)
        queued = _queued.get()
        if queued is not None:
            queued.extend(rows)  # inserted, and the relay woken, when batched() ends
        elif len(rows) > 1:
            await _insert_many(conn, rows)
        elif deferred is None:
            await conn.execute(_INSERT_AND_WAKE, *rows[0], NOTIFY_CHANNEL)
        else:
            await conn.execute(_INSERT_QUIETLY, *rows[0])


class Sender(Protocol):
    """What the relay needs from a Kafka producer (aiokafka's ``AIOKafkaProducer``)."""

    async def send_and_wait(
        self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> Any:
        """Send one record and wait for its acknowledgement (while tracing: a span each)."""

    def create_batch(self) -> Any:
        """An empty record batch (``BatchBuilder``) for :meth:`send_batch`."""

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Awaitable[Any]:
        """Queue a whole batch for one partition; the awaitable resolves on its ack."""

    async def partitions_for(self, topic: str) -> set[int]:
        """The topic's partition ids."""


OnPublished = Callable[[int], None]


class OutboxRelay:
    """Publishes unsent outbox rows; one active relay per database (advisory lock)."""

    def __init__(
        self,
        *,
        dsn: str,
        pool: asyncpg.Pool,
        sender_factory: Callable[[], Awaitable[Sender]],
        sender_reset: Callable[[Sender], Awaitable[None]] | None = None,
        poll_interval_s: float = 1.0,
        batch_size: int = 500,
        on_published: OnPublished | None = None,
        retention_s: float = 7 * 24 * 3600,
        linger_s: float = 0.0,
    ) -> None:
        """``linger_s``: after a pass that sent more than one row, the next pass starts no sooner
        than this after it began, three times this after a burst-sized pass (see ``_loop``)."""
        self._dsn = dsn
        self._pool = pool
        self._sender_factory = sender_factory
        self._sender_reset = sender_reset
        self._sender: Sender | None = None
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._on_published = on_published
        self._retention_s = retention_s
        self._linger_s = linger_s
        # Kept for a while, a row is updated once it is acknowledged; with no retention it is
        # deleted instead. The update is the dearer write: ``published_at`` is in the unsent
        # index's predicate, so the update is never HOT and writes a new row version and a new
        # primary-key entry, where a delete only marks the row (BENCHMARKS.md).
        self._mark_sent = (
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
            if retention_s > 0
            else "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
        )
        self._last_prune = -math.inf  # never: not 0.0, a time on the monotonic clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._stop_asked = asyncio.Event()  # ends a linger early; wakes cannot (they are kept)
        self._task: asyncio.Task[None] | None = None
        self.broker_ok = False
        self.last_error: str | None = None
        # True while this relay holds the database's relay lock and publishes; replicas wait.
        self.active = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Stop after one last pass, so events committed before shutdown are not left behind."""
        if self._task is None:
            return
        self._stopping = True
        self._stop_asked.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=flush_timeout_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def pending(self) -> int:
        return (await self.backlog())[0]

    async def backlog(self) -> tuple[int, float]:
        """(rows not yet acknowledged, age in seconds of the oldest of them, 0 when none)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """
                SELECT count(*) AS n,
                       COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS age
                FROM outbox WHERE published_at IS NULL
                """
            )
        assert row is not None
        return int(row["n"]), float(row["age"])

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            listener: asyncpg.Connection | None = None
            try:
                listener = await asyncpg.connect(self._dsn)
                # Only one relay per database publishes; the others wait here as hot standbys.
                while not await listener.fetchval(
                    "SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY
                ):
                    if self._stopping:
                        return
                    await self._sleep(self._poll_interval_s)
                await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
                backoff = 0.2
                self.active = True
                await self._loop(listener)
                return
            except asyncio.CancelledError:
                raise
            except TRANSIENT_DB_ERRORS as exc:
                self.last_error = f"database: {exc!r}"
                log.warning("outbox relay lost the database; retrying", extra={"error": repr(exc)})
            except Exception as exc:  # keep the relay alive whatever happens; rows stay unsent
                self.last_error = repr(exc)
                log.exception("outbox relay failed; retrying")
            finally:
                self.active = False
                if listener is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(listener.close(), 2)
            await self._sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _loop(self, listener: asyncpg.Connection) -> None:
        while True:
            # The relay lock is a session lock on the listener connection. If that connection
            # died (an idle timeout, a terminated backend), the lock is gone and a standby may be
            # publishing: stop here and go back to competing for the lock.
            await listener.fetchval("SELECT 1")
            await self._prune()
            stopping = self._stopping
            started = time.monotonic()
            sent, failed = await self.publish_once()
            if stopping and (failed or sent == 0):
                return
            if failed:
                await self._sleep(min(self._poll_interval_s * 2, 5.0))
            elif sent < self._batch_size:
                if sent > 1 and not self._stopping:
                    # Rows are arriving faster than passes: let more gather (wakes meanwhile
                    # are kept, not lost). Every pass costs a SELECT, a mark, a produce request
                    # per partition and, downstream, a fetch and a transaction per consumer, so
                    # a burst's rows are cheaper in fewer, larger passes. A pass of one row (a
                    # quiet stream) and one of a backlog (a full batch) are followed at once; a
                    # row that comes just after a larger pass waits out the rest of its linger.
                    linger = self._linger_s
                    if sent >= _BURST_PASS_ROWS:
                        linger *= _BURST_LINGER_FACTOR
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._stop_asked.wait(),
                            max(0.0, started + linger - time.monotonic()),
                        )
                await self._sleep(self._poll_interval_s)

    async def _prune(self) -> None:
        """Delete rows the broker acknowledged long ago; the table would otherwise only grow."""
        now = time.monotonic()
        if self._retention_s <= 0 or now - self._last_prune < 600:
            return
        self._last_prune = now
        async with self._pool.acquire() as conn:
            await conn.execute(
                """
                DELETE FROM outbox
                WHERE published_at IS NOT NULL
                  AND published_at < now() - make_interval(secs => $1)
                """,
                self._retention_s,
            )

    async def _ensure_sender(self) -> Sender:
        if self._sender is None:
            self._sender = await self._sender_factory()
        return self._sender

    async def publish_once(self) -> tuple[int, bool]:
        """One pass: publish up to a batch; return (rows marked sent, whether a send failed)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT id, topic, kafka_key, payload, headers FROM outbox
                WHERE published_at IS NULL ORDER BY id LIMIT $1
                """,
                self._batch_size,
            )
        if not rows:
            return 0, False
        try:
            sender = await self._ensure_sender()
        except Exception as exc:
            self._mark_broker_down(exc)
            return 0, True

        sent_ids: list[int] = []
        errors: list[BaseException] = []
        started = time.perf_counter()
        if tracing.enabled():
            await self._send_traced_chains(sender, rows, sent_ids, errors)
        else:
            await _send_batches(sender, rows, sent_ids, errors)
        if sent_ids:
            async with self._pool.acquire() as conn:
                await conn.execute(self._mark_sent, sent_ids)
            if self._on_published:
                self._on_published(len(sent_ids))
        if errors:
            self._mark_broker_down(errors[0])
            await self._drop_sender(sender)
            sent = set(sent_ids)
            async with self._pool.acquire() as conn:
                await conn.execute(
                    """
                    UPDATE outbox SET attempts = attempts + 1, last_error = $2
                    WHERE id = ANY($1::bigint[])
                    """,
                    [r["id"] for r in rows if r["id"] not in sent],
                    repr(errors[0])[:500],
                )
        else:
            self.broker_ok = True
            self.last_error = None
        log.debug(
            "outbox pass",
            extra={"sent": len(sent_ids), "seconds": round(time.perf_counter() - started, 4)},
        )
        return len(sent_ids), bool(errors)

    async def _drop_sender(self, sender: Sender) -> None:
        """After a failed send the next pass starts on a new producer.

        An idempotent producer numbers each partition's batches; a batch that expired while the
        brokers were away still used up its number, and aiokafka (unlike the Java client) never
        resets the numbering: every later send fails with OutOfOrderSequenceNumber and the relay
        would be stuck for good after a long enough outage. A new producer gets a new producer
        id. Rows a failed send may still have written are sent again; consumers' inbox drops the
        copies.
        """
        self._sender = None
        if self._sender_reset is not None:
            with contextlib.suppress(Exception):
                await self._sender_reset(sender)

    async def _send_traced_chains(
        self,
        sender: Sender,
        rows: list[asyncpg.Record],
        sent_ids: list[int],
        errors: list[BaseException],
    ) -> None:
        """While tracing, each row in a span of its own: a partition's rows one after another,
        the partitions in parallel, a partition stopping at its first failure.

        Per partition rather than per key, as untraced: identity's watermark on a partition must
        never overtake an earlier key event on it (``KeysWatermark``)."""
        chains = await _by_partition(sender, rows, errors)

        async def send_chain(chain: list[asyncpg.Record]) -> None:
            for row in chain:
                try:
                    await self._send_traced(sender, row)
                except Exception as exc:
                    errors.append(exc)
                    return  # later rows of this partition must wait for this one
                sent_ids.append(row["id"])

        await asyncio.gather(*(send_chain(c) for c in chains.values()))

    async def _send_traced(self, sender: Sender, row: asyncpg.Record) -> None:
        stored = row["headers"] or {}
        with tracing.producing(
            row["topic"], stored, **{"messaging.kafka.message.key": row["kafka_key"]}
        ) as trace_headers:
            await _send(sender, row, [*_headers(stored, skip=tracing.PROPAGATED), *trace_headers])

    def _mark_broker_down(self, exc: BaseException) -> None:
        if self.broker_ok or self.last_error is None:
            log.warning(
                "outbox relay cannot reach the broker; rows wait", extra={"error": repr(exc)}
            )
        self.broker_ok = False
        self.last_error = repr(exc)


def _headers(
    stored: dict[str, Any] | None, skip: frozenset[str] = frozenset()
) -> list[tuple[str, bytes]]:
    return [(k, str(v).encode()) for k, v in (stored or {}).items() if k not in skip]


async def _by_partition(
    sender: Sender, rows: list[asyncpg.Record], errors: list[BaseException]
) -> dict[tuple[str, int], list[asyncpg.Record]]:
    """The rows by (topic, partition), in ``id`` order; a key's partition is the one the
    producer's own partitioner gives it. Empty, with the error recorded, without metadata."""
    by_partition: dict[tuple[str, int], list[asyncpg.Record]] = defaultdict(list)
    try:
        partitions = {
            topic: sorted(await sender.partitions_for(topic))
            for topic in {row["topic"] for row in rows}
        }
    except Exception as exc:
        errors.append(exc)
        return by_partition
    partition_of: dict[tuple[str, bytes], int] = {}
    for row in rows:
        topic, key = row["topic"], row["kafka_key"].encode()
        if (topic, key) not in partition_of:
            partition_of[(topic, key)] = _PARTITIONER(key, partitions[topic], partitions[topic])
        by_partition[(topic, partition_of[(topic, key)])].append(row)
    return by_partition


async def _send_batches(
    sender: Sender, rows: list[asyncpg.Record], sent_ids: list[int], errors: list[BaseException]
) -> None:
    """Send the rows as whole record batches, one partition's batches after another and the
    partitions in parallel; a partition stops at its first failed batch.

    A row's partition is the one its key maps to (the producer's own partitioner), so each key's
    rows stay in ``id`` order within one partition, and a batch is written all or nothing: a
    later row of a key never overtakes an earlier one. Sending record by record cost about 40
    microseconds of Python per row and a produce request per row of a key (BENCHMARKS.md).
    """
    by_partition = await _by_partition(sender, rows, errors)

    async def send_partition(topic: str, partition: int, queue: list[asyncpg.Record]) -> None:
        while queue:
            batch, taken = sender.create_batch(), 0
            for row in queue:
                appended = batch.append(
                    key=row["kafka_key"].encode(),
                    value=bytes(row["payload"]),
                    timestamp=None,
                    headers=_headers(row["headers"]),
                )
                if appended is None:  # full: the rest go in the next batch
                    break
                taken += 1
            try:
                await (await sender.send_batch(batch, topic, partition=partition))
            except Exception as exc:
                errors.append(exc)
                return  # this partition's later rows must wait for these
            sent_ids.extend(row["id"] for row in queue[:taken])
            del queue[:taken]

    await asyncio.gather(*(send_partition(t, p, q) for (t, p), q in by_partition.items()))


async def _send(sender: Sender, row: asyncpg.Record, headers: list[tuple[str, bytes]]) -> None:
    await sender.send_and_wait(
        row["topic"], value=bytes(row["payload"]), key=row["kafka_key"].encode(), headers=headers
    )

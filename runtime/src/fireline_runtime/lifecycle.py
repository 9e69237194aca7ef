"""The lifecycle of one service process: what starts, in which order, and how it stops.

Start: the pool, then the migrations (the runtime's tables first), the outbox relay, the
service's start hooks (before traffic is served), and in the background the broker connection:
topics made sure of, then the consumer joins its group. The broker may be down at start-up; HTTP
still serves (writes land in the outbox) and /readyz says not ready until the consumer joined.

Stop, the reverse: the consumer leaves after its handler in flight finishes, background tasks are
cancelled, stop hooks run (last registered first), the relay flushes, and only then do the
producer and the pool close.

Public surface: :class:`Lifecycle` — ``on_start``, ``on_stop``, ``spawn``,
``add_readiness_check``; ``pool``, ``relay``, ``broker_started``; ``readiness``,
``partition_count``, ``asyncapi``; the scrape samplers ``sample_outbox`` and ``sample_lag``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from fireline_contracts import TopicSpec, topic_name
from fireline_runtime import tracing
from fireline_runtime.consumers import ConsumerRegistry
from fireline_runtime.db import create_pool, ping
from fireline_runtime.messaging.broker import asyncapi_document, build_broker, document_publisher
from fireline_runtime.messaging.consuming import BatchConsumer
from fireline_runtime.messaging.dead_letter import DeadLetters
from fireline_runtime.messaging.producing import RelayProducer
from fireline_runtime.messaging.topics import ensure_topics
from fireline_runtime.migrations import Migration, apply
from fireline_runtime.observability import Metrics
from fireline_runtime.outbox import OutboxRelay
from fireline_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]


class Lifecycle:
    """Owns everything a process holds open: the pool, the relay, the broker connection and
    the background tasks; built before anything is started, started once, stopped once."""

    def __init__(
        self,
        *,
        service: str,
        settings: ServiceSettings,
        migrations: Sequence[Migration],
        metrics: Metrics,
        consumers: ConsumerRegistry,
        pool_max_size: int = 10,
    ) -> None:
        self.service = service
        self.settings = settings
        self.migrations = list(migrations)
        self.pool_max_size = pool_max_size
        self._metrics = metrics
        self._consumers = consumers
        self._broker = build_broker(
            service=service,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security=settings.kafka_security,
            idempotence=settings.kafka_idempotence,
        )
        # What the service produces (the registry's topics so far) is documented now; what it
        # consumes, when the consumer subscribes.
        for spec in consumers.topics:
            document_publisher(self._broker, topic_name(spec, settings.topic_prefix), spec)
        self._consumer = BatchConsumer(
            registry=consumers,
            broker=self._broker,
            dead_letters=DeadLetters(self._broker, metrics),
            pool_getter=lambda: self.pool,
            metrics=metrics,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            commit_interval_s=settings.kafka_commit_interval_ms / 1000,
            max_retries=settings.consumer_max_retries,
        )
        self._producer = RelayProducer(
            settings.kafka_bootstrap_servers,
            f"fireline-{service}-relay",
            idempotence=settings.kafka_idempotence,
            security=settings.kafka_security,
        )
        self._pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self._broker_task: asyncio.Task[None] | None = None
        self.broker_started = False
        self._on_start: list[Step] = []
        self._on_stop: list[Step] = []
        self._background: list[asyncio.Task[Any]] = []
        self._ready_checks: dict[str, Callable[[], bool]] = {}

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the service has not started; no database pool yet")
        return self._pool

    # -- registration ---------------------------------------------------------------------------

    def on_start(self, step: Step) -> None:
        """Run after the database is ready and migrated, before traffic is served."""
        self._on_start.append(step)

    def on_stop(self, step: Step) -> None:
        self._on_stop.append(step)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run a background loop for the service's lifetime; cancelled at shutdown."""
        self._background.append(asyncio.ensure_future(coro))
        self._background[-1].set_name(name)

    def add_readiness_check(self, name: str, check: Callable[[], bool]) -> None:
        """Another condition /readyz requires (e.g. a current view of revocations)."""
        self._ready_checks[name] = check

    # -- start and stop -------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self._pool = await create_pool(s.database_url, max_size=self.pool_max_size)
        async with self._pool.acquire() as conn:
            await apply(conn, self.migrations)
        self.relay = OutboxRelay(
            dsn=s.database_url,
            pool=self._pool,
            sender_factory=self._producer.get,
            sender_reset=self._producer.drop,
            poll_interval_s=s.outbox_poll_interval_s,
            on_published=self._metrics.outbox_published.inc,
            retention_s=s.outbox_retention_s,
            linger_s=s.outbox_linger_s,
        )
        for step in self._on_start:
            await step()
        self.relay.start()
        self._broker_task = asyncio.create_task(self._connect_broker(), name="broker-connect")

    async def _connect_broker(self) -> None:
        s = self.settings
        topics = self._consumers.topics
        delay = 0.2
        while True:
            try:
                await ensure_topics(
                    s.kafka_bootstrap_servers,
                    topics,
                    prefix=s.topic_prefix,
                    partitions=s.topic_partitions,
                    replication=s.topic_replication,
                    min_insync_replicas=s.topic_min_insync_replicas,
                    security=s.kafka_security,
                )
                self._consumer.subscribe()
                await self._broker.start()
                self.broker_started = True
                log.info(
                    "connected to the broker",
                    extra={"topics": len(topics), "handlers": len(self._consumers.handlers)},
                )
                if self.relay:
                    self.relay.wake()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker not reachable yet; retrying", extra={"error": repr(exc)})
                with contextlib.suppress(Exception):
                    await self._broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace_s
        if self._broker_task is not None:
            self._broker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._broker_task
        # FastStream lets the handler in flight finish before it leaves the group.
        with contextlib.suppress(Exception):
            await self._consumer.stop_consuming()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._broker.stop(), grace)
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for step in reversed(self._on_stop):
            with contextlib.suppress(Exception):
                await step()
        if self.relay is not None:
            await self.relay.stop(flush_timeout_s=min(grace, 5.0))
        await self._producer.close()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
        tracing.shutdown()

    # -- what the HTTP shell asks ---------------------------------------------------------------

    async def readiness(self) -> dict[str, bool]:
        db_ok, broker_ok = await asyncio.gather(
            ping(self.pool) if self._pool else _false(), self._producer.reachable()
        )
        checks = {"database": db_ok, "broker": broker_ok, "consumers": self.broker_started}
        return checks | {name: check() for name, check in self._ready_checks.items()}

    async def partition_count(self, spec: TopicSpec, timeout: float = 2.0) -> int | None:
        """How many partitions ``spec``'s topic has; None while the broker cannot say."""
        topic = topic_name(spec, self.settings.topic_prefix)
        return await self._producer.partition_count(topic, timeout)

    def asyncapi(self, *, title: str, version: str) -> dict[str, Any]:
        """This service's AsyncAPI 3.0 document, from its consumer and produced topics."""
        self._consumer.subscribe()
        return asyncapi_document(self._broker, title=title, version=version)

    async def sample_outbox(self) -> None:
        if self.relay is None or self._pool is None:
            return
        pending, oldest = await self.relay.backlog()
        self._metrics.outbox_pending.set(pending)
        self._metrics.outbox_oldest_age.set(oldest)

    async def sample_lag(self) -> None:
        lags = await self._consumer.lag()
        # Partitions move between replicas; a partition no longer assigned here is not reported.
        self._metrics.consumer_lag.clear()
        for topic, partition, lag in lags:
            self._metrics.consumer_lag.labels(topic, str(partition)).set(lag)


async def _false() -> bool:
    return False

"""The per-service runtime: pool, migrations, outbox relay, consumers and the HTTP shell.

A service's composition root (``bootstrap.py``) builds one :class:`ServiceRuntime`, registers its
routers and consumers, and gets a FastAPI app whose lifespan starts and stops everything in the
right order: database first (requests need it), then the relay and the consumers; on shutdown the
reverse, so in-flight handlers finish and the relay flushes before the pool closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fireline_contracts import TopicSpec
from fireline_runtime import correlation, tracing
from fireline_runtime.db import create_pool, ping
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.messaging import EventHandler, Messaging, make_producer
from fireline_runtime.migrations import Migration, apply, runtime_migrations
from fireline_runtime.observability import Metrics, install_correlation_factory, recorded_outcome
from fireline_runtime.openapi import install_problem_openapi
from fireline_runtime.outbox import OutboxRelay, OutboxWriter
from fireline_runtime.problems import (
    NotFound,
    Problem,
    install_problem_handlers,
    problem_response,
)
from fireline_runtime.raw_routes import AheadOfRouting, RawEndpoint
from fireline_runtime.revocation import RevokedKeys
from fireline_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

Hook = Callable[["ServiceRuntime"], Awaitable[None]]
Sampler = Callable[[], Awaitable[None]]

_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class ServiceRuntime:
    def __init__(
        self,
        *,
        service: str,
        settings: ServiceSettings,
        migrations: Sequence[Migration] = (),
        topics: Sequence[TopicSpec] = (),
        pool_max_size: int = 10,
    ) -> None:
        self.service = service
        self.settings = settings
        self.migrations = [*runtime_migrations(), *migrations]
        self.topics = list(topics)
        self.pool_max_size = pool_max_size
        self.metrics = Metrics(service)
        # Before the broker is built: its telemetry middleware is only added while tracing is on.
        tracing.configure(service)
        install_correlation_factory()
        self.outbox = OutboxWriter(settings.topic_prefix)
        self.messaging = Messaging(
            service=service,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic_prefix=settings.topic_prefix,
            pool_getter=lambda: self.pool,
            metrics=self.metrics,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            idempotence=settings.kafka_idempotence,
            max_retries=settings.consumer_max_retries,
            security=settings.kafka_security,
        )
        for spec in self.topics:
            self.messaging.document_publisher(spec)
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        self.relay: OutboxRelay | None = None
        self._broker_task: asyncio.Task[None] | None = None
        self.broker_started = False
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._background: list[asyncio.Task[Any]] = []
        self._samplers: list[Sampler] = [self._sample_outbox, self._sample_lag]
        self._outcomes: dict[str, Counter] = {}
        # Set by token_guard.enable_bearer_auth; build_app exposes it to the route dependencies.
        self.bearer_auth: BearerAuth | None = None
        self.revoked_keys: RevokedKeys | None = None
        self._ready_checks: dict[str, Callable[[], bool]] = {}

    # -- composition ----------------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the service has not started; no database pool yet")
        return self._pool

    def consume(self, handler: EventHandler) -> None:
        if handler.topic not in self.topics:
            self.topics.append(handler.topic)
        self.messaging.subscribe(handler)

    def on_start(self, hook: Hook) -> None:
        """Run after the database is ready and migrated, before traffic is served."""
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        self._on_stop.append(hook)

    def on_scrape(self, sampler: Sampler) -> None:
        """Refresh gauges that are read from the database or the broker when /metrics is asked
        (a failing sampler leaves its gauges as they were; the scrape still answers)."""
        self._samplers.append(sampler)

    def count_outcomes(
        self, route: str, counter: Counter, initial: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Count the requests to ``route`` (its path template) in ``counter``, labelled with
        ``outcome`` (what the handler named with ``record_outcome``; else ``ok`` below 400,
        ``error`` for a 5xx, ``http_<status>`` otherwise) and ``status``. The ``initial``
        (outcome, status) pairs are exported at 0 from the start, so an alert on their increase
        sees the first one."""
        self._outcomes[route] = counter
        for outcome, status in initial:
            counter.labels(outcome, status)

    async def scrape(self) -> bytes:
        """The Prometheus exposition of this process, its sampled gauges refreshed first."""
        for sampler in self._samplers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await sampler()
        return generate_latest(self.metrics.registry)

    async def _sample_outbox(self) -> None:
        if self.relay is None or self._pool is None:
            return
        pending, oldest = await self.relay.backlog()
        self.metrics.outbox_pending.set(pending)
        self.metrics.outbox_oldest_age.set(oldest)

    async def _sample_lag(self) -> None:
        lags = await self.messaging.lag()
        # Partitions move between replicas; a partition no longer assigned here is not reported.
        self.metrics.consumer_lag.clear()
        for topic, partition, lag in lags:
            self.metrics.consumer_lag.labels(topic, str(partition)).set(lag)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run a background loop for the service's lifetime; cancelled at shutdown."""
        self._background.append(asyncio.ensure_future(coro))
        self._background[-1].set_name(name)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self._pool = await create_pool(s.database_url, max_size=self.pool_max_size)
        async with self._pool.acquire() as conn:
            await apply(conn, self.migrations)
        self.relay = OutboxRelay(
            dsn=s.database_url,
            pool=self._pool,
            sender_factory=self._get_producer,
            sender_reset=self._drop_producer,
            poll_interval_s=s.outbox_poll_interval_s,
            on_published=self.metrics.outbox_published.inc,
            retention_s=s.outbox_retention_s,
        )
        for hook in self._on_start:
            await hook(self)
        self.relay.start()
        # The broker may be down at start-up; HTTP still serves (writes land in the outbox) and
        # /readyz says not ready until the consumers have joined.
        self._broker_task = asyncio.create_task(self._connect_broker(), name="broker-connect")

    async def _get_producer(self) -> AIOKafkaProducer:
        # The relay and /readyz both ask; without the lock each could build (and leak) one.
        async with self._producer_lock:
            if self._producer is None:
                self._producer = await make_producer(
                    self.settings.kafka_bootstrap_servers,
                    f"fireline-{self.service}-relay",
                    idempotence=self.settings.kafka_idempotence,
                    security=self.settings.kafka_security,
                )
            return self._producer

    async def _drop_producer(self, failed: object) -> None:
        """Forget the relay's producer if it is still ``failed``; the next caller builds anew."""
        async with self._producer_lock:
            producer = self._producer
            if producer is None or id(producer) != id(failed):  # `is` would narrow to object
                return
            self._producer = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5)

    async def _connect_broker(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.messaging.ensure_topics(
                    self.topics,
                    partitions=self.settings.topic_partitions,
                    replication=self.settings.topic_replication,
                    min_insync_replicas=self.settings.topic_min_insync_replicas,
                )
                await self.messaging.start()
                self.broker_started = True
                log.info(
                    "connected to the broker",
                    extra={"topics": len(self.topics), "handlers": len(self.messaging.handlers)},
                )
                if self.relay:
                    self.relay.wake()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker not reachable yet; retrying", extra={"error": repr(exc)})
                with contextlib.suppress(Exception):
                    await self.messaging.broker.stop()
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
            await asyncio.wait_for(self.messaging.stop(), grace)
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for hook in reversed(self._on_stop):
            with contextlib.suppress(Exception):
                await hook(self)
        if self.relay is not None:
            await self.relay.stop(flush_timeout_s=min(grace, 5.0))
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), 5)
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
        tracing.shutdown()

    async def broker_reachable(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout):
                producer = await self._get_producer()
                await producer.client.fetch_all_metadata()
                return True
        except Exception:
            return False

    async def partition_count(self, spec: TopicSpec, timeout: float = 2.0) -> int | None:
        """How many partitions ``spec``'s topic has, from the producer's metadata; None while
        the broker cannot say."""
        try:
            async with asyncio.timeout(timeout):
                producer = await self._get_producer()
                partitions = await producer.partitions_for(self.messaging.topic(spec))
        except Exception:
            return None
        return len(partitions) or None

    async def readiness(self) -> dict[str, bool]:
        db_ok, broker_ok = await asyncio.gather(
            ping(self.pool) if self._pool else _false(), self.broker_reachable()
        )
        checks = {"database": db_ok, "broker": broker_ok, "consumers": self.broker_started}
        return checks | {name: check() for name, check in self._ready_checks.items()}

    def add_readiness_check(self, name: str, check: Callable[[], bool]) -> None:
        """Another condition /readyz requires (e.g. a current view of revocations)."""
        self._ready_checks[name] = check

    # -- HTTP -----------------------------------------------------------------------------------

    def build_app(
        self,
        *,
        title: str,
        routers: Sequence[APIRouter] = (),
        version: str = "0.1.0",
        description: str = "",
        raw_endpoints: Sequence[RawEndpoint] = (),
    ) -> FastAPI:
        """``raw_endpoints`` answer their declared routes ahead of FastAPI's routing
        (``raw_routes``), inside the request middleware."""
        runtime = self

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            try:
                await runtime.start()
            except BaseException:
                # Whatever started (pool, relay) must not outlive a failed start-up.
                await runtime.stop()
                raise
            try:
                yield
            finally:
                await runtime.stop()

        app = FastAPI(
            title=title,
            version=version,
            description=description,
            lifespan=lifespan,
            # FastAPI's own OpenTelemetry support makes the request spans, only while tracing is on
            # (tracing.py): off, it would ask the global providers on every request for nothing.
            # Its metrics and logs stay off: the services export Prometheus metrics and JSON logs
            # (RequestContextMiddleware), and a span per dependency would bury the spans that
            # matter (queries, calls, messages) under the framework's plumbing.
            telemetry={
                "tracing": tracing.enabled(),
                "metrics": False,
                "logs": False,
                "operation_spans": False,
                "exclude": lambda scope: scope.get("path") in _PROBES,
            },
        )
        app.state.runtime = self
        if self.bearer_auth is not None:
            app.state.bearer_auth = self.bearer_auth
        install_problem_handlers(app)
        for router in routers:
            app.include_router(router)

        @app.get("/healthz", tags=["ops"], summary="Liveness")
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": runtime.service}

        @app.get(
            "/readyz",
            tags=["ops"],
            summary="Readiness: database and broker reachable",
            responses={
                503: {
                    "description": "Not ready",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        )
        async def readyz() -> JSONResponse:
            checks = await runtime.readiness()
            ok = all(checks.values())
            return JSONResponse(
                {"status": "ready" if ok else "not_ready", "checks": checks},
                status_code=200 if ok else 503,
            )

        @app.get(
            "/asyncapi.json", tags=["ops"], summary="AsyncAPI document of this service's events"
        )
        async def asyncapi() -> dict[str, Any]:
            return runtime.messaging.asyncapi(title=title, version=version)

        @app.get(
            "/metrics",
            tags=["ops"],
            summary="Prometheus metrics (on FIRELINE_METRICS_PORT; here only if configured)",
            response_class=PlainTextResponse,
            responses={404: {"description": "Not served on this port."}},
        )
        async def metrics(request: Request) -> Response:
            if not metrics_served(runtime.settings, request.scope.get("server")):
                raise NotFound("No metrics on this port.")
            return Response(await runtime.scrape(), media_type=CONTENT_TYPE_LATEST)

        if raw_endpoints:
            # Added first, so it runs inside the request middleware.
            app.add_middleware(AheadOfRouting, endpoints=raw_endpoints)
        app.add_middleware(RequestContextMiddleware, metrics=self.metrics, outcomes=self._outcomes)
        install_problem_openapi(app)
        return app


def metrics_served(settings: ServiceSettings, local: tuple[str, int | None] | None) -> bool:
    """Whether /metrics answers a request that arrived at the local address ``local``."""
    if settings.metrics_on_http_port:
        return True
    port = settings.metrics_port
    return port is not None and local is not None and local[1] == port


def _default_outcome(status: int) -> str:
    return "ok" if status < 400 else "error" if status >= 500 else f"http_{status}"


MAX_HEADER_BYTES = 16 * 1024
"""All request headers together (names and values); twice what a browser with cookies sends."""


async def _false() -> bool:
    return False


class RequestContextMiddleware:
    """Correlation id in and out, request metrics, one access-log line per request.

    Pure ASGI (not BaseHTTPMiddleware) so it adds no task switch per request. The access log has
    the path but never the query string or headers: those may carry credentials.
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics, outcomes: dict[str, Counter] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        # The runtime's own dict, not a copy: routes may be registered until the first request.
        self.outcomes = outcomes if outcomes is not None else {}
        self.log = logging.getLogger("fireline.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        header_bytes = 0
        for name, value in scope.get("headers", ()):
            header_bytes += len(name) + len(value)
            if name == b"x-correlation-id":
                incoming = value.decode("latin-1")
        # With tracing on, a request that brings no id of its own gets its trace's id, so the
        # correlation id in every log line and event is the id to look the trace up by.
        cid = correlation.accept(incoming or tracing.current_trace_id())
        correlation.set_(cid)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-correlation-id", cid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            if header_bytes > MAX_HEADER_BYTES:
                # The HTTP parser sets no limit of its own: without this, megabytes of headers
                # were read, handed to every dependency and answered 200.
                too_large = Problem(
                    f"The request headers exceed {MAX_HEADER_BYTES // 1024} KB.",
                    status=431,
                    code="headers_too_large",
                    title="Request headers too large",
                )
                await problem_response(too_large, scope.get("path"))(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client went away while its body was being read (a load generator stopping, a
            # webhook sender timing out): nobody is left to answer, and it is not a server error
            # worth a traceback. 499 is the access log's name for it, as in nginx.
            status = 499
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.http_requests.labels(method, template, str(status)).inc()
            self.metrics.http_seconds.labels(method, template).observe(elapsed)
            if (counter := self.outcomes.get(template)) is not None:
                outcome = recorded_outcome(scope) or _default_outcome(status)
                counter.labels(outcome, str(status)).inc()
            if template not in _PROBES:
                self.log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope.get("path"),
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    },
                )

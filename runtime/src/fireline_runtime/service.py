"""The per-service runtime: what a service's composition root (``bootstrap.py``) builds.

:class:`ServiceRuntime` is three parts, each in its own module and readable alone:

* ``consumers`` — the :class:`~fireline_runtime.consumers.ConsumerRegistry`: the handlers of
  the topics the service consumes and the signatures they require (``consume``,
  ``require_signature``);
* ``lifecycle`` — the :class:`~fireline_runtime.lifecycle.Lifecycle`: pool, migrations, outbox
  relay, broker connection, background tasks, start and stop hooks (``on_start``, ``on_stop``,
  ``spawn``, ``add_readiness_check``, ``pool``, ``relay``);
* ``http`` — the :class:`~fireline_runtime.app.AppFactory`: the FastAPI app with its probes,
  metrics route, middleware and problem handlers (``build_app``, ``count_outcomes``,
  ``on_scrape``, ``use_bearer_auth``).

The methods below are the registration API a service uses; each hands over to the part that owns
it. The app's lifespan runs :meth:`start` and :meth:`stop`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI
from prometheus_client import Counter

from fireline_contracts import TopicSpec
from fireline_runtime import tracing
from fireline_runtime.app import AppFactory, Sampler
from fireline_runtime.consumers import ConsumerRegistry, EventHandler
from fireline_runtime.event_signing import EventVerifier
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.lifecycle import Lifecycle
from fireline_runtime.migrations import Migration, runtime_migrations
from fireline_runtime.observability import Metrics, install_correlation_factory
from fireline_runtime.outbox import OutboxRelay, OutboxWriter
from fireline_runtime.raw_routes import RawEndpoint
from fireline_runtime.settings import ServiceSettings

Hook = Callable[["ServiceRuntime"], Awaitable[None]]


class ServiceRuntime:
    """One service process's runtime; ``bootstrap.py`` builds it and registers on it."""

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
        self.metrics = Metrics(service)
        # Before the broker is built: its telemetry middleware is only added while tracing is on.
        tracing.configure(service)
        install_correlation_factory()
        self.outbox = OutboxWriter(settings.topic_prefix)
        self.consumers = ConsumerRegistry(
            service=service, topic_prefix=settings.topic_prefix, metrics=self.metrics, topics=topics
        )
        self.lifecycle = Lifecycle(
            service=service,
            settings=settings,
            migrations=[*runtime_migrations(), *migrations],
            metrics=self.metrics,
            consumers=self.consumers,
            pool_max_size=pool_max_size,
        )
        self.http = AppFactory(service=service, settings=settings, metrics=self.metrics)
        self.http.on_scrape(self.lifecycle.sample_outbox)
        self.http.on_scrape(self.lifecycle.sample_lag)

    # -- consumers ------------------------------------------------------------------------------

    def consume(self, handler: EventHandler) -> None:
        """Consume ``handler.topic`` with ``handler`` (``ConsumerRegistry.register``)."""
        self.consumers.register(handler)

    def require_signature(self, spec: TopicSpec, verifier: EventVerifier) -> None:
        """Dead-letter any record of ``spec`` its owner did not sign."""
        self.consumers.require_signature(spec, verifier)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        return self.lifecycle.pool

    @property
    def relay(self) -> OutboxRelay | None:
        return self.lifecycle.relay

    @property
    def broker_started(self) -> bool:
        """Whether the consumer has joined its group (/readyz's ``consumers``)."""
        return self.lifecycle.broker_started

    def on_start(self, hook: Hook) -> None:
        """Run after the database is ready and migrated, before traffic is served."""
        self.lifecycle.on_start(partial(hook, self))

    def on_stop(self, hook: Hook) -> None:
        self.lifecycle.on_stop(partial(hook, self))

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run a background loop for the service's lifetime; cancelled at shutdown."""
        self.lifecycle.spawn(coro, name)

    def add_readiness_check(self, name: str, check: Callable[[], bool]) -> None:
        """Another condition /readyz requires (e.g. a current view of revocations)."""
        self.lifecycle.add_readiness_check(name, check)

    async def partition_count(self, spec: TopicSpec, timeout: float = 2.0) -> int | None:
        return await self.lifecycle.partition_count(spec, timeout)

    async def start(self) -> None:
        await self.lifecycle.start()

    async def stop(self) -> None:
        await self.lifecycle.stop()

    async def readiness(self) -> dict[str, bool]:
        return await self.lifecycle.readiness()

    def asyncapi(self, *, title: str, version: str) -> dict[str, Any]:
        return self.lifecycle.asyncapi(title=title, version=version)

    # -- HTTP -----------------------------------------------------------------------------------

    def count_outcomes(
        self, route: str, counter: Counter, initial: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Count the requests to ``route`` by outcome (``AppFactory.count_outcomes``)."""
        self.http.count_outcomes(route, counter, initial)

    def on_scrape(self, sampler: Sampler) -> None:
        """Refresh gauges when /metrics is asked (``AppFactory.on_scrape``)."""
        self.http.on_scrape(sampler)

    def use_bearer_auth(self, bearer: BearerAuth) -> None:
        """Check access tokens with ``bearer`` on routes that ``require_scope``."""
        self.http.use_bearer_auth(bearer)

    def build_app(
        self,
        *,
        title: str,
        routers: Sequence[APIRouter] = (),
        version: str = "0.1.0",
        description: str = "",
        raw_endpoints: Sequence[RawEndpoint] = (),
    ) -> FastAPI:
        return self.http.build(
            self,
            title=title,
            routers=routers,
            version=version,
            description=description,
            raw_endpoints=raw_endpoints,
        )

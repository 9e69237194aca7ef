"""The app factory: the FastAPI app every service serves, around the routers it brings.

Every app gets the same shell: the probes (``/healthz``, ``/readyz``), ``/asyncapi.json``,
``/metrics`` (on the metrics port only, unless configured otherwise), problem+json for every
error, the request-context middleware (correlation id, metrics, access log) and a lifespan that
runs the service's :class:`Served` start and stop.

Public surface: :class:`AppFactory` — ``count_outcomes``, ``on_scrape``, ``use_bearer_auth``,
``scrape``, ``build``; :class:`Served`, what ``build`` serves; :func:`metrics_served`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.requests import Request

from fireline_runtime import tracing
from fireline_runtime.http_auth import BearerAuth
from fireline_runtime.observability import Metrics
from fireline_runtime.openapi import install_problem_openapi
from fireline_runtime.problems import NotFound, install_problem_handlers
from fireline_runtime.raw_routes import AheadOfRouting, RawEndpoint
from fireline_runtime.request_context import PROBES, RequestContextMiddleware
from fireline_runtime.settings import ServiceSettings

Sampler = Callable[[], Awaitable[None]]


class Served(Protocol):
    """What an app serves: started by its lifespan, asked by its probes."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def readiness(self) -> dict[str, bool]: ...

    def asyncapi(self, *, title: str, version: str) -> dict[str, Any]: ...


class AppFactory:
    """Collects what the app needs (outcome counters, scrape samplers, the bearer check) while
    the service is composed, then builds the app."""

    def __init__(self, *, service: str, settings: ServiceSettings, metrics: Metrics) -> None:
        self.service = service
        self.settings = settings
        self.metrics = metrics
        self._samplers: list[Sampler] = []
        self._outcomes: dict[str, Counter] = {}
        self._bearer_auth: BearerAuth | None = None

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

    def on_scrape(self, sampler: Sampler) -> None:
        """Refresh gauges that are read from the database or the broker when /metrics is asked
        (a failing sampler leaves its gauges as they were; the scrape still answers)."""
        self._samplers.append(sampler)

    def use_bearer_auth(self, bearer: BearerAuth) -> None:
        """Routes that ``require_scope`` check access tokens with ``bearer``
        (``token_guard.enable_bearer_auth`` builds it)."""
        self._bearer_auth = bearer

    async def scrape(self) -> bytes:
        """The Prometheus exposition of this process, its sampled gauges refreshed first."""
        for sampler in self._samplers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await sampler()
        return generate_latest(self.metrics.registry)

    def build(
        self,
        served: Served,
        *,
        title: str,
        routers: Sequence[APIRouter] = (),
        version: str = "0.1.0",
        description: str = "",
        raw_endpoints: Sequence[RawEndpoint] = (),
    ) -> FastAPI:
        """``raw_endpoints`` answer their declared routes ahead of FastAPI's routing
        (``raw_routes``), inside the request middleware."""

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            try:
                await served.start()
            except BaseException:
                # Whatever started (pool, relay) must not outlive a failed start-up.
                await served.stop()
                raise
            try:
                yield
            finally:
                await served.stop()

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
                "exclude": lambda scope: scope.get("path") in PROBES,
            },
        )
        app.state.runtime = served
        if self._bearer_auth is not None:
            app.state.bearer_auth = self._bearer_auth
        install_problem_handlers(app)
        for router in routers:
            app.include_router(router)
        self._add_ops_routes(app, served, title=title, version=version)
        if raw_endpoints:
            # Added first, so it runs inside the request middleware.
            app.add_middleware(AheadOfRouting, endpoints=raw_endpoints)
        app.add_middleware(RequestContextMiddleware, metrics=self.metrics, outcomes=self._outcomes)
        install_problem_openapi(app)
        return app

    def _add_ops_routes(self, app: FastAPI, served: Served, *, title: str, version: str) -> None:
        # On the app itself, not an included router: FastAPI matches an included router's
        # routes through an extra layer, 88 more calls for every request (probes included).
        service, settings, scrape = self.service, self.settings, self.scrape

        @app.get("/healthz", tags=["ops"], summary="Liveness")
        async def healthz() -> dict[str, str]:
            return {"status": "ok", "service": service}

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
            checks = await served.readiness()
            ok = all(checks.values())
            return JSONResponse(
                {"status": "ready" if ok else "not_ready", "checks": checks},
                status_code=200 if ok else 503,
            )

        @app.get(
            "/asyncapi.json", tags=["ops"], summary="AsyncAPI document of this service's events"
        )
        async def asyncapi() -> dict[str, Any]:
            return served.asyncapi(title=title, version=version)

        @app.get(
            "/metrics",
            tags=["ops"],
            summary="Prometheus metrics (on FIRELINE_METRICS_PORT; here only if configured)",
            response_class=PlainTextResponse,
            responses={404: {"description": "Not served on this port."}},
        )
        async def metrics(request: Request) -> Response:
            if not metrics_served(settings, request.scope.get("server")):
                raise NotFound("No metrics on this port.")
            return Response(await scrape(), media_type=CONTENT_TYPE_LATEST)


def metrics_served(settings: ServiceSettings, local: tuple[str, int | None] | None) -> bool:
    """Whether /metrics answers a request that arrived at the local address ``local``."""
    if settings.metrics_on_http_port:
        return True
    port = settings.metrics_port
    return port is not None and local is not None and local[1] == port

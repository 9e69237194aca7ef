"""OpenTelemetry traces: one switch, read from the standard ``OTEL_*`` variables, for every service.

Off unless a deployment asks for it: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER`` set, and ``OTEL_SDK_DISABLED``
not ``true``. While off nothing is instrumented: no provider, no wrapped driver, no middleware, so
the request and event paths run exactly the code they run without this module (``make bench``).

While on, the maintained instrumentations make the spans (FastAPI's own OpenTelemetry support for
requests, ``opentelemetry-instrumentation-asyncpg`` and ``-httpx`` for queries and PagerDuty calls,
FastStream's ``KafkaTelemetryMiddleware`` for consumed batches and the DLQ producer). This module
adds only the hops no instrumentation can see, because they cross a database row rather than a
call: the trace context is written next to the row (an outbox row's headers, a stored webhook
delivery) by the span that wrote it, and the span that later acts on the row continues it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
"""The W3C header that carries a span's trace id and span id (W3C Trace Context)."""

NO_SPAN: nullcontext[None] = nullcontext()
"""What the span helpers return while tracing is off: one shared, reusable no-op."""
_enabled = False
_configured_for: str | None = None
_tracer = trace.get_tracer("fireline_runtime")


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters == "none":
        return False
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(exporters or endpoint)


def enabled() -> bool:
    """True once :func:`configure` installed a provider in this process."""
    return _enabled


def configure(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install the tracer provider and the instrumentations once per process, if wanted.

    Returns whether tracing is on. Several apps built in one process (tests) share the provider:
    the first service name wins, as OpenTelemetry has one global provider per process.
    """
    global _enabled, _configured_for
    if _configured_for is not None:
        return _enabled
    env = os.environ if environ is None else environ
    _configured_for = service
    if not wanted(env):
        return False
    # Imported here: wrapping the drivers is all these modules do, and only tracing wants it.
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES still override this default.
    resource = Resource.create({SERVICE_NAME: f"fireline-{service}"})
    provider = TracerProvider(
        resource=resource, sampler=QueriesWithinTraces(_get_from_env_or_default())
    )
    for exporter in _exporters(env):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _enabled = True
    log.info("tracing on", extra={"exporters": env.get("OTEL_TRACES_EXPORTER") or "otlp"})
    return True


def _exporters(env: Mapping[str, str]) -> list[Any]:
    names = [n.strip() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",")]
    exporters: list[Any] = []
    for name in filter(None, names):
        if name == "otlp":
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol != "http/protobuf":
                # Only the HTTP exporter is installed: gRPC would add a large native dependency
                # to every image for a protocol every collector also serves over HTTP (4318).
                raise ValueError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported; use http/protobuf"
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER={name} is not supported; use otlp or console")
    return exporters


def shutdown() -> None:
    """Export what is still buffered; called when the service stops."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    if _enabled and flush is not None:
        flush(5_000)


class QueriesWithinTraces(Sampler):
    """The configured sampler, except that a query outside any trace is not recorded.

    The relay, the enrichment worker and the LISTEN loops poll the database every second; each
    poll would otherwise be a trace of its own and bury the traces of requests and events. A query
    made inside a request or an event's processing has a parent and is sampled as configured.
    """

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid and _is_query(attributes):
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"QueriesWithinTraces({self._delegate.get_description()})"


def _is_query(attributes: Attributes) -> bool:
    if not attributes:
        return False
    return "db.system" in attributes or "db.system.name" in attributes


# -- carrying a trace across a stored row -----------------------------------------------------


def carrier() -> dict[str, str]:
    """The current span's context as W3C headers, to store with a row; empty when tracing is off
    or there is no span."""
    if not _enabled:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def traceparent() -> str | None:
    """The current span's ``traceparent``, to store in a column; None when off or no span."""
    return carrier().get(TRACEPARENT)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits; None when off or outside a span."""
    if not _enabled:
        return None
    span_context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(span_context.trace_id) if span_context.is_valid else None


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span for log records; None when off or no span."""
    if not _enabled:
        return None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id)


def name_server_span(method: str, route: str) -> None:
    """Name the current request's span by its route template, as FastAPI does for a request its
    router matched: for one answered ahead of the router (``raw_routes``), which it never saw."""
    if not _enabled:
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("http.route", route)
        span.update_name(f"{method} {route}")


def continued(name: str, stored: str | None, **attributes: str) -> Any:
    """A span, current while the block runs, that continues the trace of a stored
    ``traceparent``: the enrichment worker resumes a webhook request's trace this way."""
    if not _enabled:
        return NO_SPAN
    return _continued(name, {TRACEPARENT: stored} if stored else {}, SpanKind.INTERNAL, attributes)


def consuming(topic: str, headers: Sequence[tuple[str, bytes]] | None, **attributes: Any) -> Any:
    """A span, current while one consumed record is handled, that continues its producer's trace.

    FastStream's middleware traces a consumed *batch* as a new trace linked to its producers (the
    messaging conventions for batches), so what a record's handler writes (its outbox events)
    would not belong to the record's trace. This span, a child of the record's ``traceparent``
    header, is what the handler runs in.
    """
    if not _enabled:
        return NO_SPAN
    found = {k: v.decode("latin-1") for k, v in headers or () if k in PROPAGATED}
    return _continued(
        f"{topic} process",
        found,
        SpanKind.CONSUMER,
        {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            **attributes,
        },
    )


@contextmanager
def producing(
    topic: str, stored: Mapping[str, Any], **attributes: Any
) -> Iterator[list[tuple[str, bytes]]]:
    """The relay's span around one record's send, a child of the span that wrote the outbox row.

    Yields the trace headers the record must carry so its consumer continues this span (the
    row's own ``traceparent`` is replaced by this span's). The relay sends with a raw aiokafka
    producer, which no FastStream middleware sees; the aiokafka instrumentation would also wrap
    FastStream's own producer and consumer, doubling their spans and ``traceparent`` headers.
    """
    parent = propagate.extract({k: str(v) for k, v in stored.items() if k in PROPAGATED})
    with _tracer.start_as_current_span(
        f"{topic} publish",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": topic,
            **attributes,
        },
    ):
        headers: dict[str, str] = {}
        propagate.inject(headers)
        yield [(k, v.encode()) for k, v in headers.items()]


PROPAGATED = frozenset({TRACEPARENT, "tracestate", "baggage"})
"""Headers the default propagators (W3C trace context and baggage) read and write."""


@contextmanager
def _continued(
    name: str, stored: Mapping[str, str], kind: SpanKind, attributes: Mapping[str, Any]
) -> Iterator[None]:
    parent = propagate.extract(stored)
    # The span that was current (a consumed batch's) is linked, so neither trace loses the other.
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid and stored else None
    span = _tracer.start_span(name, context=parent, kind=kind, attributes=attributes, links=links)
    token = context.attach(trace.set_span_in_context(span, parent))
    try:
        yield
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        context.detach(token)
        span.end()

"""Tracing (issue 15): off unless the OTEL_* variables ask, and while on, a trace crosses the stored
outbox row and the Kafka record from the span that wrote the event to the span that consumes it.

The services' own processes are traced end to end in tests/e2e/test_e2e_tracing.py; here the
pieces run in-process against the SDK's in-memory exporter.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision
from opentelemetry.trace import SpanKind
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from fireline_contracts import KEYS, KeyRenamed
from fireline_contracts.keys import KeyRenamedPayload
from fireline_runtime import tracing
from fireline_runtime.observability import Metrics, install_correlation_factory
from fireline_runtime.outbox import OutboxRelay, OutboxWriter
from fireline_runtime.request_context import RequestContextMiddleware

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for one test, exporting to memory (the provider is process-wide, set once)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    monkeypatch.setattr(tracing, "_enabled", True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
    ],
)
def test_tracing_is_on_only_when_the_standard_variables_ask_for_it(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing.wanted(environ) is on


def test_while_off_nothing_is_carried_and_the_hot_paths_share_one_no_op() -> None:
    assert not tracing.enabled()
    assert tracing.carrier() == {}
    assert tracing.current_trace_id() is None
    no_op = tracing.consuming(
        "t", [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    )
    assert no_op is tracing.continued("x", None)  # nothing is allocated per record


def test_a_grpc_exporter_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="http/protobuf"):
        tracing._exporters({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_queries_outside_any_trace_are_not_recorded_but_inside_one_they_are(
    spans: InMemorySpanExporter,
) -> None:
    sampler = tracing.QueriesWithinTraces(ALWAYS_ON)
    query = {"db.system": "postgresql"}
    alone = sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT, query)
    assert alone.decision is Decision.DROP
    with trace.get_tracer("t").start_as_current_span("request"):
        inside = sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT, query)
    assert inside.decision is Decision.RECORD_AND_SAMPLE
    # A request or a PagerDuty call is a trace of its own, parent or not.
    call = sampler.should_sample(None, 1, "GET", SpanKind.CLIENT, {"http.method": "GET"})
    assert call.decision is Decision.RECORD_AND_SAMPLE


# -- across the outbox and Kafka ----------------------------------------------------------------


class _Conn:
    """What the outbox's SQL sees: inserted rows kept, the relay's reads answered from them."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def execute(self, sql: str, *args: Any) -> None:
        if "INSERT INTO outbox" in sql:
            _event_id, topic, key, _type, payload, headers = args[:6]
            self.rows.append(
                {
                    "id": len(self.rows) + 1,
                    "topic": topic,
                    "kafka_key": key,
                    "payload": payload,
                    "headers": headers,
                }
            )

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return list(self.rows)


class _Pool:
    def __init__(self, conn: _Conn) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Conn]:
        yield self.conn


class _Batch:
    def __init__(self) -> None:
        self.headers: list[list[tuple[str, bytes]]] = []

    def append(
        self, *, key: bytes, value: bytes, timestamp: None, headers: list[tuple[str, bytes]]
    ) -> object:
        self.headers.append(headers)
        return object()


class _Sender:
    """Records the headers of what the relay sends, record by record or in batches."""

    def __init__(self) -> None:
        self.sent: list[list[tuple[str, bytes]]] = []

    async def send_and_wait(
        self, topic: str, *, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.sent.append(headers)

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(
        self, batch: _Batch, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        self.sent.extend(batch.headers)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}


def _event() -> KeyRenamed:
    return KeyRenamed(
        org_id=uuid.uuid4(), payload=KeyRenamedPayload(key_id=uuid.uuid4(), name="renamed")
    )


async def _relay(conn: _Conn, sender: _Sender) -> None:
    async def factory() -> _Sender:
        return sender

    relay = OutboxRelay(dsn="unused", pool=_Pool(conn), sender_factory=factory)  # type: ignore[arg-type]
    assert await relay.publish_once() == (1, False)


async def test_an_event_written_in_a_request_is_consumed_in_the_same_trace(
    spans: InMemorySpanExporter,
) -> None:
    conn, sender = _Conn(), _Sender()
    with trace.get_tracer("t").start_as_current_span("request", kind=SpanKind.SERVER):
        await OutboxWriter().add(conn, KEYS, _event())  # type: ignore[arg-type]
    # Later, outside the request: the relay sends the stored row...
    await _relay(conn, sender)
    (headers,) = sender.sent
    assert [k for k, _ in headers].count("traceparent") == 1, "one context, the relay's own"
    # ...and the consumer, in another process, handles it in a span of the same trace.
    with tracing.consuming("fireline.identity.keys.v1", headers):
        pass

    by_name: dict[str, ReadableSpan] = {s.name: s for s in spans.get_finished_spans()}
    request = by_name["request"]
    produce = by_name["fireline.identity.keys.v1 publish"]
    consume = by_name["fireline.identity.keys.v1 process"]
    assert produce.kind is SpanKind.PRODUCER
    assert consume.kind is SpanKind.CONSUMER
    assert produce.parent is not None
    assert consume.parent is not None
    assert produce.parent.span_id == request.context.span_id
    assert consume.parent.span_id == produce.context.span_id
    assert request.context.trace_id == produce.context.trace_id == consume.context.trace_id


async def test_rows_written_while_tracing_was_off_are_sent_with_their_headers_only() -> None:
    conn, sender = _Conn(), _Sender()
    await OutboxWriter().add(conn, KEYS, _event())  # type: ignore[arg-type]
    await _relay(conn, sender)
    (headers,) = sender.sent
    assert {k for k, _ in headers} == {"event_type", "correlation_id", "schema_version"}


# -- logs and correlation ids ---------------------------------------------------------------------


async def test_a_request_without_a_correlation_id_is_known_by_its_trace_id_in_logs_too(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    install_correlation_factory()
    app_log = logging.getLogger("fireline.test")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        app_log.info("handled")
        await Response("ok")(scope, receive, send)

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    with (
        caplog.at_level(logging.INFO, logger="fireline.test"),
        trace.get_tracer("t").start_as_current_span("GET /x", kind=SpanKind.SERVER) as span,
    ):
        await RequestContextMiddleware(app, metrics=Metrics("t"))(scope, receive, send)
    trace_id = trace.format_trace_id(span.get_span_context().trace_id)

    start = next(m for m in sent if m["type"] == "http.response.start")
    assert (b"x-correlation-id", trace_id.encode()) in start["headers"]
    (record,) = [r for r in caplog.records if r.name == "fireline.test"]
    assert getattr(record, "correlation_id", None) == trace_id
    assert getattr(record, "trace_id", None) == trace_id

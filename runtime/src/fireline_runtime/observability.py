"""JSON logs that carry the correlation id, and the Prometheus metrics every service exposes.

Metric names follow the Prometheus conventions (``fireline_`` prefix, base units, ``_total`` on
counters); deploy/grafana's dashboard and deploy/prometheus's alert rules are built on them, and
tests/e2e/test_e2e_metrics.py checks that a running stack exports every one they query.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request

from fireline_runtime import correlation, tracing

MetricT = TypeVar("MetricT", Counter, Gauge, Histogram)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured duplicate of msg
}

# Keys whose values must never be written, whatever a caller passes in ``extra``.
_SECRET_KEYS = {"password", "secret", "key", "token", "authorization", "client_secret", "cookie"}


_factory_installed = False


def install_correlation_factory() -> None:
    """Stamp every log record with the correlation id current when it was created.

    Done at record creation, not at formatting, so a handler that formats later (a queue, a test's
    capture) still sees the id of the request or event that logged it.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        cid = correlation.get()
        if cid is not None:
            record.correlation_id = cid
        # While tracing is on, a line also names its span, so logs and traces join both ways.
        if (ids := tracing.current_ids()) is not None:
            record.trace_id, record.span_id = ids
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name in _STANDARD or name.startswith("_"):
                continue
            doc[name] = "[redacted]" if name.lower() in _SECRET_KEYS else _jsonable(value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, FastStream's, aiokafka's) to one JSON stream."""
    install_correlation_factory()
    # Every request writes an access line, so a record's cost is paid thousands of times a second.
    # These attributes are never written by JsonFormatter; not collecting them skips a stack walk
    # (findCaller), two os calls and a threading lookup per record (the logging HOWTO's
    # "Optimization" section). A traceback still comes from the exception, not from findCaller.
    logging._srcfile = None  # documented switch (logging HOWTO), no public setter
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # aiokafka logs every reconnect attempt at ERROR while a broker is down (our relay already
    # reports that once), and at DEBUG it logs every produced record in full, event bodies with
    # key digests included. Keep it at warnings and worse: this floor is also a secrets guard.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every outbound request line at INFO; the services log their own calls.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


class Metrics:
    """One registry per service instance, so tests can build several apps in one process."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.service = service
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}
        self.http_requests = Counter(
            "fireline_http_requests_total",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "fireline_http_request_seconds",
            "HTTP request latency.",
            ["method", "route"],
            registry=self.registry,
        )
        self.outbox_published = Counter(
            "fireline_outbox_published_total",
            "Outbox rows acknowledged by the broker.",
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "fireline_outbox_pending",
            "Outbox rows not yet acknowledged (sampled at scrape time).",
            registry=self.registry,
        )
        self.consumed = Counter(
            "fireline_events_consumed_total",
            "Events handled by consumer and outcome.",
            ["consumer", "outcome"],
            registry=self.registry,
        )
        self.consume_seconds = Histogram(
            "fireline_event_handle_seconds",
            "Time to handle one event, transaction included.",
            ["consumer"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "fireline_events_dead_lettered_total",
            "Events sent to a dead-letter topic.",
            ["consumer"],
            registry=self.registry,
        )
        self.outbox_oldest_age = Gauge(
            "fireline_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox row not yet acknowledged, 0 when none (sampled at scrape "
            "time): how late the events of the slowest waiting change are.",
            registry=self.registry,
        )
        self.event_end_to_end = Histogram(
            "fireline_event_end_to_end_seconds",
            "From an event's occurred_at to the commit of its handler here. AlertTriggered at "
            "incidents: webhook delivery to incident; KeyRevoked: revocation to the key's tokens "
            "being refused.",
            ["consumer", "event_type"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "fireline_kafka_consumer_lag",
            "Records of a partition this process consumes that its consumer has not fetched yet "
            "(sampled at scrape time, for the partitions assigned to this process).",
            ["topic", "partition"],
            registry=self.registry,
        )

    def labelled(self, metric: MetricT, *values: str) -> MetricT:
        """``metric.labels(*values)``, kept: prometheus_client validates the values and takes a
        lock on every ``labels`` call (2.5-3.5 µs), and the consumers and the HTTP middleware ask
        for the same few children on every event and request (BENCHMARKS.md). The label values
        are the same bounded sets the registry keeps children for anyway."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return cast(MetricT, child)


def record_outcome(request: Request, outcome: str) -> None:
    """Name how a request ended, for a route whose outcomes are counted
    (``ServiceRuntime.count_outcomes``); read by the request middleware once the answer is sent."""
    request.state.fireline_outcome = outcome


def recorded_outcome(scope: Any) -> str | None:
    state = scope.get("state")
    return state.get("fireline_outcome") if isinstance(state, dict) else None


def record_scope_outcome(scope: MutableMapping[str, Any], outcome: str) -> None:
    """:func:`record_outcome` for a plain ASGI endpoint (``raw_routes``), which has no Request."""
    scope.setdefault("state", {})["fireline_outcome"] = outcome
